// Snapshots and clones of a container: copies of its root file system. They are kept beside the roots
// Berth makes (the containers folder, /var/lib/machines), on the same file system, so that
// `cp --reflink=auto` shares the blocks where the file system can (XFS, btrfs) and copies them where it
// cannot. A running container is frozen while its root is copied, so the copy is of one moment; a
// revert copies the snapshot beside the root and swaps the two by renames, so an interrupted revert
// leaves the root as it was. The definition as it was is kept with each snapshot.
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, rename, rm, statfs, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { z } from 'zod'
import { BerthError } from '../../../../shared/errors'
import { nspawnSpecSchema, type NspawnSpec } from '../../../../shared/model/container'
import type { DefinitionOf } from '../../../../shared/model/machine'
import type { Snapshot, SnapshotList } from '../../../../shared/model/snapshots'
import type { BerthPaths } from '../../paths'
import { exec, ExecError } from '../../exec'
import { findSnapshot, nameTaken, publicSnapshot, readSnapshotRecord, snapshotList, snapshotRecordSchema, withoutSnapshot, writeSnapshotRecord, type SnapshotRecord } from '../snapshot-record'
import { sizeText } from '../qemu/grow'
import { madeMarker } from './roots'

type Definition = DefinitionOf<NspawnSpec>

const recordSchema = snapshotRecordSchema({
  /** The definition when it was taken: a revert puts it back. */
  spec: nspawnSpecSchema,
  /** The folder (in the container's snapshot folder) holding the copy of the root. */
  folder: z.string().regex(/^[a-z0-9]+$/),
})
type RecordedSnapshot = z.infer<typeof recordSchema>['snapshots'][number]

const CP = '/usr/bin/cp'
const DU = '/usr/bin/du'

/** Copies a tree as it is (owners, modes, links, extended attributes), sharing blocks where the file system can. */
export async function copyTree(from: string, to: string): Promise<void> {
  await exec([CP, '--archive', '--reflink=auto', '--no-target-directory', from, to], { timeoutMs: 3_600_000 })
}

/** The blocks a tree takes on the host, in bytes. */
async function treeBytes(dir: string): Promise<number | null> {
  const { stdout } = await exec([DU, '--summarize', '--one-file-system', '--block-size=1', dir], { timeoutMs: 600_000 }).catch(() => ({ stdout: '' }))
  const bytes = Number(stdout.split('\t')[0])
  return Number.isFinite(bytes) && stdout ? bytes : null
}

/** A copy that failed: what cp said, and the free space where it was writing when that is why. */
async function copyFailure(error: unknown, target: string, sourceBytes: number | null): Promise<string> {
  const said = error instanceof ExecError ? (error.result?.stderr.trim().split('\n').pop() ?? error.message) : (error as Error).message
  const found = await statfs(dirname(target)).catch(() => null)
  const free = found ? found.bavail * found.bsize : null
  const room = free !== null && (/No space left/.test(said) || (sourceBytes !== null && free < sourceBytes))
  return room ? `${said}. ${dirname(target)} has ${sizeText(free)} free and the root takes ${sizeText(sourceBytes ?? 0)}: free some space there` : said
}

export class ContainerSnapshots {
  constructor(private readonly paths: BerthPaths) {}

  private dir(id: string): string {
    return join(this.paths.containers, '.berth-snapshots', id)
  }

  private read(id: string): Promise<SnapshotRecord<RecordedSnapshot>> {
    return readSnapshotRecord(join(this.dir(id), 'snapshots.json'), recordSchema)
  }

  private write(id: string, record: SnapshotRecord<RecordedSnapshot>): Promise<void> {
    return writeSnapshotRecord(join(this.dir(id), 'snapshots.json'), record)
  }

  /** Why this container cannot take a snapshot (null: it can). */
  problem(spec: NspawnSpec): string | null {
    if (spec.ephemeral) return `${spec.name} is ephemeral: what it writes is thrown away when it stops, and its root stays as it is`
    if (!existsSync(spec.root)) return `Its root ${spec.root} does not exist`
    return null
  }

  async list(definition: Definition): Promise<SnapshotList> {
    return snapshotList(await this.read(definition.id), this.problem(definition.spec))
  }

  /** freeze: stops the container's processes for the copy (if it runs) and gives back what thaws them. */
  async take(definition: Definition, name: string, description: string, freeze: () => Promise<() => Promise<void>>): Promise<Snapshot> {
    const { id, spec } = definition
    const record = await this.read(id)
    const taken = nameTaken(record, name)
    if (taken) throw taken
    const problem = this.problem(spec)
    if (problem) throw new BerthError('conflict', problem)
    const folder = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`
    const target = join(this.dir(id), folder)
    await mkdir(this.dir(id), { recursive: true, mode: 0o700 })
    const thaw = await freeze()
    // The copy takes the blocks the root takes (du cannot see blocks a reflink shares either): measured
    // on the root while it is copied, at no cost in time.
    const size = treeBytes(spec.root)
    try {
      await copyTree(spec.root, target)
    } catch (error) {
      await rm(target, { recursive: true, force: true })
      const why = await copyFailure(error, target, await size)
      throw new BerthError('failed', `The snapshot could not be taken: ${why}. Nothing of it was kept.`)
    } finally {
      await thaw()
    }
    const snapshot: RecordedSnapshot = {
      name,
      description,
      createdAt: new Date().toISOString(),
      memory: false,
      sizeBytes: await size,
      parent: record.current,
      spec,
      folder,
    }
    await this.write(id, { current: name, snapshots: [...record.snapshots, snapshot] })
    return publicSnapshot(snapshot)
  }

  /** The root as the snapshot kept it (copied beside the root, then swapped in), and its settings through restore. */
  async revert(definition: Definition, name: string, restore: (spec: NspawnSpec) => Promise<unknown>): Promise<void> {
    const { id, spec } = definition
    const record = await this.read(id)
    const snapshot = findSnapshot(record, name, spec.name)
    const tag = randomBytes(4).toString('hex')
    const next = join(dirname(spec.root), `.${basename(spec.root)}.reverting-${tag}`)
    const old = join(dirname(spec.root), `.${basename(spec.root)}.replaced-${tag}`)
    try {
      await copyTree(join(this.dir(id), snapshot.folder), next)
    } catch (error) {
      await rm(next, { recursive: true, force: true })
      throw new BerthError('failed', `${spec.name} could not go back to “${name}”: ${await copyFailure(error, next, snapshot.sizeBytes)}. Its root is unchanged.`)
    }
    await rename(spec.root, old)
    await rename(next, spec.root)
    await rm(old, { recursive: true, force: true })
    await restore({ ...snapshot.spec, name: spec.name, root: spec.root })
    await this.write(id, { ...record, current: snapshot.name })
  }

  async delete(definition: Definition, name: string): Promise<SnapshotList> {
    const { id, spec } = definition
    const record = await this.read(id)
    const snapshot = findSnapshot(record, name, spec.name)
    await rm(join(this.dir(id), snapshot.folder), { recursive: true, force: true })
    const left = withoutSnapshot(record, snapshot)
    await this.write(id, left)
    return snapshotList(left, this.problem(spec))
  }

  /**
   * A new root for the clone `name` in the containers folder, copied from the container's root or one of
   * its snapshots, with a new identity: an empty machine-id (a new one is made at its first boot) and new
   * SSH host keys (where it has them), so clones do not collide on a network. The clone's spec.
   */
  async clone(source: Definition, name: string, fromSnapshot: string | null): Promise<NspawnSpec> {
    const snapshot = fromSnapshot === null ? null : findSnapshot(await this.read(source.id), fromSnapshot, source.spec.name)
    const spec = snapshot ? snapshot.spec : source.spec
    const target = join(this.paths.containers, name)
    if (existsSync(target)) throw new BerthError('conflict', `${target} already exists: choose another name for the clone`)
    await mkdir(this.paths.containers, { recursive: true, mode: 0o700 })
    const work = join(this.paths.containers, `.${name}.partial-${randomBytes(4).toString('hex')}`)
    try {
      await copyTree(snapshot ? join(this.dir(source.id), snapshot.folder) : source.spec.root, work)
      await newIdentity(work)
      await rename(work, target)
    } catch (error) {
      await rm(work, { recursive: true, force: true })
      throw new BerthError('failed', `The clone could not be made: ${await copyFailure(error, work, null)}. Nothing of it was kept.`)
    }
    await writeFile(madeMarker(this.paths, name), JSON.stringify({ madeBy: 'berth', source: { type: 'clone', of: source.spec.name, snapshot: fromSnapshot }, at: new Date().toISOString() }))
    return { ...spec, name, root: target }
  }

  /** Removes what the container's snapshots keep (when the container is deleted). */
  async forget(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true })
  }
}

const SSH_KEYGEN = '/usr/bin/ssh-keygen'

/** A copied root's own identity made anew, as virt-sysprep does: machine-id emptied, SSH host keys replaced. */
async function newIdentity(root: string): Promise<void> {
  // Empty, not removed: systemd then makes one at boot (and nspawn gives the container a fresh one).
  if (existsSync(join(root, 'etc/machine-id'))) await writeFile(join(root, 'etc/machine-id'), '')
  await rm(join(root, 'var/lib/dbus/machine-id'), { force: true })
  const sshDir = join(root, 'etc/ssh')
  if (!existsSync(sshDir)) return
  const keys = (await readdir(sshDir)).filter((f) => /^ssh_host_.*_key(\.pub)?$/.test(f))
  for (const key of keys) await rm(join(sshDir, key), { force: true })
  // New keys (-A: each kind sshd uses), made by the host's ssh-keygen under the copied root (-f), never
  // by a program of the copied root's own.
  if (keys.length) await exec([SSH_KEYGEN, '-A', '-f', root], { timeoutMs: 120_000 })
}
