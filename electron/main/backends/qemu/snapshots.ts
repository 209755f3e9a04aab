// Snapshots of a VM, kept inside its qcow2 images (internal snapshots), as libvirt does by default.
// Why internal rather than external overlays: each disk stays one file (copy, move and delete stay
// simple), a revert needs no chain of overlays merged back, and QEMU's snapshot-save/-load/-delete jobs
// take memory and every device (the TPM's state included) with the disks in one step. The UEFI
// variable store is a qcow2 too, so it is in every snapshot. A stopped VM's snapshot is disk-only
// (qemu-img snapshot); its TPM state is copied beside it. The definition as it was is kept with it.
import { createHash } from 'node:crypto'
import { cp, mkdir, rename, rm, stat, statfs } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import { imageLinkSchema, type ImageLink } from '../../../../shared/model/drives'
import { qemuSpecSchema } from '../../../../shared/model/machine'
import { exec } from '../../exec'
import { readSnapshotRecord, snapshotRecordSchema, writeSnapshotRecord, type SnapshotRecord as GenericRecord } from '../snapshot-record'
import { imageOpts } from './image'
import { sizeText } from './grow'

const recordSchema = snapshotRecordSchema({
  /** The definition when it was taken: a revert puts it back. */
  spec: qemuSpecSchema,
  /** The images it lives in (a stopped VM's revert and delete go through each). */
  images: z.array(imageLinkSchema),
  /** The QEMU node holding its memory (memory snapshots only). */
  vmstate: z.string().nullable(),
  /** A copy of the TPM's state folder was kept beside it (stopped VMs with a TPM). */
  tpm: z.boolean(),
})
export type RecordedSnapshot = z.infer<typeof recordSchema>['snapshots'][number]
export type SnapshotRecord = GenericRecord<RecordedSnapshot>

const recordFile = (dir: string) => join(dir, 'snapshots.json')

export const readSnapshots = (dir: string): Promise<SnapshotRecord> => readSnapshotRecord(recordFile(dir), recordSchema)
export const writeSnapshots = (dir: string, record: SnapshotRecord): Promise<void> => writeSnapshotRecord(recordFile(dir), record)

/** A stopped VM's image: its internal snapshot made, applied or deleted by qemu-img, with its recorded format. */
export async function imageSnapshot(qemuImg: string, image: ImageLink, action: 'create' | 'apply' | 'delete', name: string): Promise<void> {
  const flag = { create: '-c', apply: '-a', delete: '-d' }[action]
  // discard=unmap: the clusters a deleted snapshot frees are given back to the host's filesystem.
  await exec([qemuImg, 'snapshot', '--image-opts', flag, name, `${imageOpts(image)},discard=unmap`], { timeoutMs: 600_000 })
}

/** The blocks the files take on the host, in bytes (what a snapshot adds and its deletion frees). */
export async function allocatedBytes(files: string[]): Promise<number> {
  let total = 0
  for (const file of files) total += ((await stat(file).catch(() => null))?.blocks ?? 0) * 512
  return total
}

/** Where a stopped VM's snapshot keeps its copy of the TPM state. */
export function tpmCopy(dir: string, name: string): string {
  return join(dir, 'snapshots', createHash('sha256').update(name).digest('hex').slice(0, 16), 'tpm')
}

export async function keepTpmState(dir: string, tpmDir: string, name: string): Promise<void> {
  const copy = tpmCopy(dir, name)
  await mkdir(join(copy, '..'), { recursive: true, mode: 0o700 })
  await cp(tpmDir, copy, { recursive: true, errorOnExist: true, force: false })
}

/** The TPM's state as the snapshot kept it, in place of the current one (copied beside, then swapped). */
export async function restoreTpmState(dir: string, tpmDir: string, name: string): Promise<void> {
  const next = `${tpmDir}.reverting`
  await rm(next, { recursive: true, force: true })
  await cp(tpmCopy(dir, name), next, { recursive: true })
  await rm(tpmDir, { recursive: true, force: true })
  await rename(next, tpmDir)
}

export async function dropTpmState(dir: string, name: string): Promise<void> {
  await rm(join(tpmCopy(dir, name), '..'), { recursive: true, force: true })
}

/**
 * Why a running machine's snapshot may not have fitted (QEMU says only "Input/output error"): a
 * filesystem of its images with less room than its memory can take. Null: room was not the problem.
 */
export async function roomProblem(files: string[], memoryBytes: number): Promise<string | null> {
  for (const dir of new Set(files.map((file) => dirname(file)))) {
    const found = await statfs(dir).catch(() => null)
    const free = found ? found.bavail * found.bsize : Infinity
    if (free < memoryBytes + 64 * 1024 * 1024)
      return `${dir} has ${sizeText(free)} free, and a snapshot of a running machine needs room for its memory (up to ${sizeText(memoryBytes)}): free some space there`
  }
  return null
}
