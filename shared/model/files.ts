import { z } from 'zod'

/** A folder the file browser may show (the person's home, Berth's image folder...). */
export const placeSchema = z.object({ label: z.string(), path: z.string() })

/** One folder as the file browser shows it: only folders and regular files, never device nodes. */
export const folderListingSchema = z.object({
  dir: z.string(),
  /** The folder above, while it is still inside a place; null at a place's top. */
  parent: z.string().nullable(),
  entries: z.array(z.object({ name: z.string(), path: z.string(), folder: z.boolean(), size: z.number(), modified: z.string() })),
  places: z.array(placeSchema),
  /** Files the person chose lately, newest first (ones that are gone are left out). */
  recent: z.array(z.string()),
})
export type FolderListing = z.infer<typeof folderListingSchema>

/** What a file chooser looks for: its name in the chooser and the endings it shows (empty: any file). */
export const fileKinds = {
  iso: { label: 'Installation media (ISO)', extensions: ['iso'] },
  disk: { label: 'Disk images', extensions: ['qcow2', 'img', 'raw', 'vmdk', 'vdi', 'vhdx', 'vhd', 'qed'] },
  image: { label: 'Disk images and ISOs', extensions: ['qcow2', 'img', 'raw', 'vmdk', 'vdi', 'vhdx', 'vhd', 'qed', 'iso'] },
  kernel: { label: 'Any file', extensions: [] },
  osinfo: { label: 'osinfo-db archives', extensions: ['xz', 'gz', 'bz2', 'zst', 'tar'] },
} as const satisfies Record<string, { label: string; extensions: string[] }>
export type FileKind = keyof typeof fileKinds
export const isFileKind = (value: unknown): value is FileKind => typeof value === 'string' && Object.hasOwn(fileKinds, value)
