import type { MachineKind } from '../../../shared/model/machine'

/** How each kind of machine is named in lists (short), headings (long) and on its console's tab. */
export const kindNames: Record<MachineKind, { short: string; long: string; console: string }> = {
  qemu: { short: 'VM', long: 'virtual machine', console: 'Serial console' },
  nspawn: { short: 'CT', long: 'container', console: 'Console' },
  xen: { short: 'Xen', long: 'Xen domain', console: 'Console' },
}
