// The record of a machine's snapshots, the same for every kind: their names, tree and what each kept
// (each kind adds its own fields), in a JSON file replaced atomically.
import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { BerthError, fieldErrors } from '../../../shared/errors'
import { snapshotSchema, type Snapshot, type SnapshotList } from '../../../shared/model/snapshots'
import { writeFileAtomic } from '../store/atomic-write'

/** The record's schema, each snapshot with the kind's own fields. */
export const snapshotRecordSchema = <Extra extends z.ZodRawShape>(extra: Extra) =>
  z.object({ current: z.string().nullable(), snapshots: z.array(snapshotSchema.extend(extra)) })

export interface SnapshotRecord<S extends Snapshot = Snapshot> {
  /** The snapshot the machine's state descends from now (the last taken or reverted to). */
  current: string | null
  snapshots: S[]
}

/** The machine's snapshots (none yet: an empty record). */
export async function readSnapshotRecord<S extends Snapshot>(file: string, schema: z.ZodType<SnapshotRecord<S>>): Promise<SnapshotRecord<S>> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null
    throw error
  })
  if (text === null) return { current: null, snapshots: [] }
  const parsed = schema.safeParse(JSON.parse(text))
  if (!parsed.success) throw new BerthError('failed', `${file} is damaged: ${parsed.error.issues[0]?.message ?? 'unreadable'}`)
  return parsed.data
}

export function writeSnapshotRecord(file: string, record: SnapshotRecord): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(record, null, 2))
}

export function publicSnapshot({ name, description, createdAt, memory, sizeBytes, parent }: Snapshot): Snapshot {
  return { name, description, createdAt, memory, sizeBytes, parent }
}

export function snapshotList(record: SnapshotRecord, problem: string | null): SnapshotList {
  return { snapshots: record.snapshots.map(publicSnapshot), current: record.current, problem }
}

export function findSnapshot<S extends Snapshot>(record: SnapshotRecord<S>, name: string, machine: string): S {
  const found = record.snapshots.find((s) => s.name === name)
  if (!found) throw new BerthError('not_found', `${machine} has no snapshot named “${name}”`)
  return found
}

/** A name already taken (QEMU compares them exactly; people do not see case). */
export function nameTaken(record: SnapshotRecord, name: string): BerthError | null {
  const same = record.snapshots.find((s) => s.name.toLowerCase() === name.toLowerCase())
  return same ? fieldErrors({ name: `“${same.name}” is taken: choose another name` }, `A snapshot named “${same.name}” exists already`) : null
}

/** The record without the snapshot; the snapshots taken from it hang from its parent now. */
export function withoutSnapshot<S extends Snapshot>(record: SnapshotRecord<S>, gone: S): SnapshotRecord<S> {
  return {
    current: record.current === gone.name ? gone.parent : record.current,
    snapshots: record.snapshots.filter((s) => s !== gone).map((s) => (s.parent === gone.name ? { ...s, parent: gone.parent } : s)),
  }
}
