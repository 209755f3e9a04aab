import { z } from 'zod'
import { nicModels } from './network'

/** What Berth proposes for a new VM of a detected operating system; each can be changed in the wizard. */
export const osDefaultsSchema = z.object({
  memoryMiB: z.number().int(),
  cores: z.number().int(),
  diskSizeMiB: z.number().int(),
  firmware: z.enum(['seabios', 'efi', 'efi-secure']),
  chipset: z.enum(['pc', 'q35']),
  diskInterface: z.enum(['virtio', 'sata']),
  nicModel: z.enum(nicModels),
  tpm: z.boolean(),
  guestAgent: z.boolean(),
})
export type OsDefaults = z.infer<typeof osDefaultsSchema>

export const detectedOsSchema = z.object({
  /** libosinfo's short id (debian12, win11...). */
  shortId: z.string(),
  name: z.string(),
  version: z.string().nullable(),
  family: z.string().nullable(),
  vendor: z.string().nullable(),
  /** An installer (rather than a live system). */
  installer: z.boolean(),
})
export type DetectedOs = z.infer<typeof detectedOsSchema>

/** Installation media as libosinfo reads them: the OS on them (null: not recognised) and what it needs. */
export const mediaInfoSchema = z.object({
  path: z.string(),
  volumeId: z.string().nullable(),
  os: detectedOsSchema.nullable(),
  defaults: osDefaultsSchema,
  /** Why the defaults are what they are, one sentence each, for the person to read. */
  reasons: z.array(z.string()),
  /** Which database recognised it (or would have): osinfo-db's version, and the entries of Berth's own. */
  database: z.string(),
})
export type MediaInfo = z.infer<typeof mediaInfoSchema>

/** What an installed system's disk image holds (libguestfs), before its first boot with cloud-init. */
export const imageContentsSchema = z.object({
  /** Its os-release name, e.g. "Debian GNU/Linux 12 (bookworm)"; null when none was found. */
  system: z.string().nullable(),
  /** Whether cloud-init is installed; null when Berth could not look. */
  cloudInit: z.boolean().nullable(),
  /** What that means for the person, in a sentence. */
  note: z.string(),
})
export type ImageContents = z.infer<typeof imageContentsSchema>
