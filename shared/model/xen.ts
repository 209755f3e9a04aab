// A Xen domain, as xl.cfg(5) describes it; it runs on the Xen host (dom0) it names.
import { z } from 'zod'
import { absolutePath } from './zod-fields'
import { machineNameSchema } from './machine-name'
import { interfaceNameSchema } from './net'
import { hostIdSchema } from './remote-host'

/** Paths on the Xen host: the files live there, not on the machine Berth runs on. */
const hostPath = absolutePath.refine((p) => !/["\n\\]/.test(p), 'A path in xl.cfg cannot contain ", \\ or a line break')

export const xenDiskSchema = z.object({
  /** The image or block device on the Xen host. */
  target: hostPath,
  format: z.enum(['raw', 'qcow2', 'qcow', 'vhd']).default('raw'),
  /** The guest's name for it: xvda, xvdb, … (hda, sda for HVM). */
  vdev: z.string().regex(/^(xvd|hd|sd)[a-z]{1,2}$/, 'A virtual device name like xvda, xvdb, hda or sda'),
  access: z.enum(['rw', 'ro']).default('rw'),
  cdrom: z.boolean().default(false),
})
export type XenDisk = z.infer<typeof xenDiskSchema>

/**
 * The disks a clone gets copies of (those the domain writes; read-only disks and CDs are shared), and
 * where each copy goes on the Xen host: beside the original, named after the clone and the disk.
 */
export function clonedDisks(disks: XenDisk[], cloneName: string): { disk: XenDisk; target: string }[] {
  return disks
    .filter((disk) => disk.access === 'rw' && !disk.cdrom)
    .map((disk) => {
      const folder = disk.target.slice(0, disk.target.lastIndexOf('/') + 1)
      const extension = /\.[^./]+$/.exec(disk.target)?.[0] ?? `.${disk.format}`
      return { disk, target: `${folder}${cloneName}-${disk.vdev}${extension}` }
    })
}

export const xenInterfaceSchema = z.object({
  /** The bridge in dom0 (NixOS's virtualisation.xen.bridge: xenbr0). */
  bridge: interfaceNameSchema.default('xenbr0'),
  /** Unset: xl picks one in Xen's 00:16:3e range. */
  mac: z
    .string()
    .regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, 'A MAC address like 00:16:3e:12:34:56')
    .optional(),
})

/** A dom0 folder shared with the guest over 9pfs (xl.cfg p9=). */
export const xenShareSchema = z.object({
  tag: z.string().regex(/^[A-Za-z0-9_-]{1,31}$/, 'A tag of letters, digits, dashes and underscores (at most 31)'),
  // p9= is a list of key=value pairs split on commas: a comma in the path would add keys.
  path: hostPath.refine((p) => !p.includes(','), 'A shared folder path cannot contain a comma (xl.cfg splits on it)'),
  securityModel: z.enum(['none', 'mapped', 'passthrough']).default('none'),
})

const memoryMiB = z
  .number({ error: 'Enter the memory in MiB' })
  .int('Use a whole number of MiB')
  .min(32, 'Xen domains need at least 32 MiB')
  .max(1024 * 1024, 'At most 1 TiB')
const cmdlineText = z.string().max(4096, 'At most 4096 characters').refine((s) => !/["\n\\]/.test(s), 'Cannot contain ", \\ or a line break')

/** A domain's name: xl reads an all-digit name as a domain id, and Domain-0 is dom0 itself. */
export const xenDomainNameSchema = machineNameSchema
  .refine((n) => !/^\d+$/.test(n), 'A Xen domain name cannot be only digits (xl would take it for a domain id)')
  .refine((n) => n.toLowerCase() !== 'domain-0', 'Domain-0 is the Xen host itself: choose another name')

export const xenSpecSchema = z
  .object({
    kind: z.literal('xen'),
    name: xenDomainNameSchema,
    /** The Xen host (its id in Berth's host list) the domain runs on. */
    host: hostIdSchema,
    /** pv: paravirtualised; pvh: PV in an HVM container; hvm: full emulation with firmware. */
    type: z.enum(['pv', 'pvh', 'hvm']).default('pvh'),
    memoryMiB: memoryMiB,
    /** Balloon ceiling (maxmem); unset: the same as memory. */
    maxMemoryMiB: memoryMiB.optional(),
    vcpus: z.number({ error: 'Enter a number of vCPUs' }).int('Use a whole number').min(1, 'At least 1 vCPU').max(128, 'At most 128 vCPUs'),
    /** Direct kernel boot (PV, PVH; HVM may use it too). Paths on the Xen host. */
    kernel: hostPath.optional(),
    ramdisk: hostPath.optional(),
    cmdline: cmdlineText.default(''),
    disks: z.array(xenDiskSchema).max(16, 'At most 16 disks').default([]),
    interfaces: z.array(xenInterfaceSchema).max(8, 'At most 8 network interfaces').default([]),
    shares: z.array(xenShareSchema).max(16, 'At most 16 shared folders').default([]),
    /** HVM firmware. */
    firmware: z.enum(['seabios', 'ovmf']).default('seabios'),
  })
  .superRefine((spec, ctx) => {
    if (spec.type !== 'hvm' && !spec.kernel)
      ctx.addIssue({ code: 'custom', path: ['kernel'], message: `A ${spec.type.toUpperCase()} domain boots a kernel: give its path on the Xen host` })
    if (spec.ramdisk && !spec.kernel)
      ctx.addIssue({ code: 'custom', path: ['ramdisk'], message: 'A ramdisk needs a kernel' })
    if (spec.maxMemoryMiB !== undefined && spec.maxMemoryMiB < spec.memoryMiB)
      ctx.addIssue({ code: 'custom', path: ['maxMemoryMiB'], message: 'The maximum memory cannot be less than the memory' })
    const vdevs = new Set<string>()
    spec.disks.forEach((disk, i) => {
      if (vdevs.has(disk.vdev)) ctx.addIssue({ code: 'custom', path: ['disks', i, 'vdev'], message: `${disk.vdev} is used twice` })
      vdevs.add(disk.vdev)
    })
    const tags = new Set<string>()
    spec.shares.forEach((share, i) => {
      if (tags.has(share.tag)) ctx.addIssue({ code: 'custom', path: ['shares', i, 'tag'], message: `The tag ${share.tag} is used twice` })
      tags.add(share.tag)
    })
  })
export type XenSpec = z.infer<typeof xenSpecSchema>
export type XenSpecInput = z.input<typeof xenSpecSchema>
