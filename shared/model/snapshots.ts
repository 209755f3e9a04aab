// Snapshots of a virtual machine: what the Snapshots tab lists and the contract carries.
import { z } from 'zod'

export const snapshotNameSchema = z
  .string({ error: 'Give the snapshot a name' })
  .trim()
  .min(1, 'Give the snapshot a name')
  .max(63, 'At most 63 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'Letters, digits, spaces, dots, dashes and underscores, starting with a letter or digit')
  // QEMU finds a snapshot by its id (a number) before its name: a name of digits could name another.
  .refine((name) => !/^\d+$/.test(name), 'Use at least one letter: a name of digits only reads as a snapshot number')

export const snapshotSchema = z.object({
  name: snapshotNameSchema,
  description: z.string().max(2000, 'At most 2000 characters'),
  createdAt: z.string(),
  /** Taken while the machine ran: its memory and device state too, and a revert resumes it where it was. */
  memory: z.boolean(),
  /** What the images grew by when it was taken (blocks on the host); null: not measured. */
  sizeBytes: z.number().nullable(),
  /** The snapshot the machine came from when this one was taken (the tree). */
  parent: z.string().nullable(),
})
export type Snapshot = z.infer<typeof snapshotSchema>

export const snapshotListSchema = z.object({
  snapshots: z.array(snapshotSchema),
  /** The snapshot the machine's state descends from now (the last taken or reverted to). */
  current: z.string().nullable(),
  /** Why this machine cannot take a snapshot now (a raw disk, a drive attached only while it runs); null: it can. */
  problem: z.string().nullable(),
})
export type SnapshotList = z.infer<typeof snapshotListSchema>
