import { z } from 'zod'
import { absolutePath } from './zod-fields'

export const driveBuses = ['virtio', 'scsi', 'sata', 'nvme', 'usb', 'ide'] as const
/** Buses Berth adds a disk to while the guest runs (not IDE, SATA or NVMe: each takes a port or a slot of its own). */
export const hotplugBuses = ['virtio', 'scsi', 'usb'] as const
export const driveBusSchema = z.enum(driveBuses)
export type DriveBus = z.infer<typeof driveBusSchema>

export const driveCacheModes = ['writeback', 'none', 'writethrough', 'directsync', 'unsafe'] as const

/** Image formats QEMU opens as block drivers; a format is always one of these, read by qemu-img. */
export const imageFormats = ['raw', 'qcow2', 'qed', 'vmdk', 'vdi', 'vhdx', 'vpc', 'parallels', 'dmg', 'cloop', 'bochs'] as const
export const imageFormatSchema = z.enum(imageFormats, { error: 'Not an image format QEMU opens' })
/** The formats whose header can name a backing file (the others never have one). */
export const layeredFormats: ReadonlySet<string> = new Set(['qcow2', 'qed', 'vmdk'])

/** One file of a backing chain and the format it was read as; QEMU is given the chain, never left to read it. */
export const imageLinkSchema = z.object({ file: absolutePath, format: imageFormatSchema })
export type ImageLink = z.infer<typeof imageLinkSchema>
/** A disk's backing files, nearest first, as Berth checked them; recorded by Berth, never taken from the caller. */
export const backingSchema = z.array(imageLinkSchema).max(16)

export const driveIdSchema = z.string().regex(/^d[a-z0-9]{4,15}$/, 'Not a drive id')

/**
 * How QEMU serves a disk to the guest (qemu-vm.nix's driveExtraOpts / deviceExtraOpts), the same for
 * the root disk and attached drives.
 */
export const diskTuningShape = {
  /** Blocks the guest trims (fstrim, discard) are freed in the image: a qcow2 shrinks again. */
  discard: z.boolean().default(true),
  /** Writes of zeroes are stored as holes (with discard: unmapped) instead of data. */
  detectZeroes: z.boolean().default(false),
  /** The serial number the guest reads (e.g. /dev/disk/by-id/virtio-SERIAL); null: none. */
  serial: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,20}$/, 'A serial number is 1 to 20 letters, digits, dots, dashes or underscores')
    .nullable()
    .default(null),
  /** I/O limits, reads and writes together (a QEMU throttle group); null: unlimited. */
  iopsLimit: z.number({ error: 'Enter operations per second' }).int('Use a whole number').min(10, 'At least 10 operations per second').max(1_000_000).nullable().default(null),
  mbpsLimit: z.number({ error: 'Enter MiB per second' }).int('Use a whole number').min(1, 'At least 1 MiB/s').max(100_000).nullable().default(null),
}
export const diskTuningSchema = z.object(diskTuningShape)
export type DiskTuning = z.infer<typeof diskTuningSchema>

/** A disk image attached to a machine. The format is what qemu-img read from the file, never guessed. */
export const driveSchema = z.object({
  ...diskTuningShape,
  id: driveIdSchema,
  file: absolutePath,
  format: imageFormatSchema,
  backing: backingSchema.default([]),
  bus: driveBusSchema.default('virtio'),
  readOnly: z.boolean().default(false),
  /** QEMU's cache modes: writeback (the default), none (O_DIRECT), writethrough, directsync, unsafe. */
  cache: z.enum(driveCacheModes).default('writeback'),
  /** What the guest sees when a write fails: enospc (stop the VM only when the host disk is full, QEMU's default), stop, report, ignore. */
  werror: z.enum(['enospc', 'stop', 'report', 'ignore']).default('enospc'),
  /** Boot order among disks (1 first); null: not a boot device. */
  bootIndex: z.number({ error: 'Enter a boot position' }).int('Use a whole number').min(1, 'Boot positions start at 1').max(99, 'At most 99').nullable().default(null),
})
export type Drive = z.infer<typeof driveSchema>
export type DriveInput = z.input<typeof driveSchema>

/** The CD drive every new VM gets, so a disc can always be inserted; file null = empty. */
export const cdromSchema = z.object({ file: absolutePath.nullable() })

export const driveStateSchema = z.enum(['defined', 'attached', 'detaching', 'failed'])
export const driveViewSchema = driveSchema.extend({
  /** Kept in the machine's definition (attached again at the next start), or live only. */
  persistent: z.boolean(),
  state: driveStateSchema,
  error: z.string().nullable(),
})
export type DriveView = z.infer<typeof driveViewSchema>

export const imageInfoSchema = z.object({
  path: z.string(),
  format: imageFormatSchema,
  /** An ISO 9660 image goes into the CD drive; everything else is attached as a disk. */
  kind: z.enum(['disk', 'iso']),
  virtualSize: z.number(),
  fileSize: z.number(),
  /** The file cannot be written by Berth: it will be attached read-only. */
  readOnly: z.boolean(),
  /** Backing files, nearest first, with the format each was read as. */
  backingChain: backingSchema,
  /** Backing files outside the allowed directories: attaching needs the person's confirmation. */
  backingOutsideAllowed: z.array(z.string()),
})
export type ImageInfo = z.infer<typeof imageInfoSchema>

/** One step of growing a disk, as the person watches it. */
export const growStepSchema = z.object({
  title: z.string(),
  state: z.enum(['waiting', 'running', 'done', 'skipped', 'failed']),
  detail: z.string().nullable(),
})
export type GrowStep = z.infer<typeof growStepSchema>
/** Which disk of a VM: its root disk, or an attached drive. */
export const diskTargetSchema = z.union([z.literal('root'), driveIdSchema])
