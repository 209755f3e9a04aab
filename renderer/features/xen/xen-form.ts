// The Xen wizard's values, as typed, and how they become a domain spec (xl.cfg's options).
import type { XenSpec, XenSpecInput } from '../../../shared/model/xen'

/** A domain's settings as the wizard shows them: a new one's defaults, or a stopped domain's settings. */
export function fromXenSpec(spec: XenSpec | null, defaultHost: string) {
  return {
    host: spec?.host ?? defaultHost,
    name: spec?.name ?? '',
    type: spec?.type ?? 'pvh',
    memoryMiB: spec?.memoryMiB ?? 512,
    maxMemoryMiB: spec?.maxMemoryMiB ?? ('' as number | ''),
    vcpus: spec?.vcpus ?? 1,
    kernel: spec?.kernel ?? '',
    ramdisk: spec?.ramdisk ?? '',
    cmdline: spec?.cmdline ?? 'console=hvc0',
    firmware: spec?.firmware ?? 'seabios',
    disks: (spec?.disks ?? []).map((d) => ({ ...d })),
    interfaces: (spec?.interfaces ?? []).map((i) => ({ bridge: i.bridge, mac: i.mac ?? '' })),
    shares: (spec?.shares ?? []).map((s) => ({ ...s })),
  }
}
export type XenForm = ReturnType<typeof fromXenSpec>

const optional = (text: string) => (text.trim() ? text.trim() : undefined)

/** The spec the form describes; empty optional fields are left out, an interface without a bridge joins xenbr0. */
export function toXenSpec(form: XenForm): XenSpecInput {
  return {
    kind: 'xen',
    host: form.host,
    name: form.name.trim(),
    type: form.type,
    memoryMiB: form.memoryMiB,
    maxMemoryMiB: form.maxMemoryMiB === '' ? undefined : form.maxMemoryMiB,
    vcpus: form.vcpus,
    kernel: optional(form.kernel),
    ramdisk: optional(form.ramdisk),
    cmdline: form.cmdline.trim(),
    firmware: form.firmware,
    disks: form.disks,
    interfaces: form.interfaces.map((i) => ({ bridge: i.bridge.trim() || 'xenbr0', mac: optional(i.mac) })),
    shares: form.shares,
  }
}
