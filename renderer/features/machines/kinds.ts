import type { MachineKind } from '../../../shared/model/machine'

/** How each kind of machine is named in lists (short) and headings (long). */
export const kindNames: Record<MachineKind, { short: string; long: string }> = {
  qemu: { short: 'VM', long: 'virtual machine' },
  nspawn: { short: 'CT', long: 'container' },
  xen: { short: 'Xen', long: 'Xen domain' },
}
