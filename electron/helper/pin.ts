// A folder or file a caller names for root to use (a container's root, a bind mount's source) is
// opened once, without following a link at its last step, and checked on that descriptor: its owner,
// and where it really is. Root then bind-mounts it through the descriptor onto a place that only root
// writes (in the containers folder, on disk: nspawn puts an ephemeral container's copy beside its
// root), and systemd-nspawn is given that place. Whatever the caller renames or swaps for a link after
// the check, nspawn uses what was checked.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, rmdirSync, rmSync, unlinkSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { callersOwn, realPath, type Caller } from './policy'
import { Refusal } from './refusal'
import { rootFolder } from './record'

/** Linux's O_PATH (Node has no constant for it): a descriptor that names a file without opening its content. */
const O_PATH = 0o10000000
const MOUNT = '/usr/bin/mount'
const UMOUNT = '/usr/bin/umount'

/** An opened path: its descriptor, where it really is, and what it is. */
export interface Held {
  fd: number
  path: string
  stats: Stats
}

/** Opens what `path` names now (links before the last step resolved once), never following a link at the last step. */
export function hold(path: string): Held {
  const real = realPath(path)
  if (!real) throw new Refusal(`${path} does not exist`)
  let fd: number
  try {
    fd = openSync(real, O_PATH | constants.O_NOFOLLOW)
  } catch (error) {
    throw new Refusal(`${path} cannot be opened (${(error as NodeJS.ErrnoException).code})`)
  }
  const stats = fstatSync(fd)
  if (stats.isSymbolicLink()) {
    closeSync(fd)
    throw new Refusal(`${path} was replaced by a link while it was checked`)
  }
  // Where the kernel says the opened file is now, not where the name pointed a moment ago.
  return { fd, path: readlinkSync(`/proc/self/fd/${fd}`), stats }
}

/** Is a held file the caller's: still at its path, owned by them, inside their folders through folders of theirs. */
export const callersHeld = (held: Held | null, caller: Caller): held is Held =>
  held !== null && stillAt(held) && held.stats.uid === caller.uid && callersOwn(held.path, caller)

/** Is the held file still the one at its path (so that checks by path speak of it)? */
export function stillAt(held: Held): boolean {
  try {
    const now = lstatSync(held.path)
    return now.dev === held.stats.dev && now.ino === held.stats.ino
  } catch {
    return false
  }
}

/** The folder of root's (in `rootsFolder`, root's too) where one start of a machine has its sources mounted: new for each start. */
export function pinFolder(rootsFolder: string, uid: number, id: string): string {
  const base = join(rootsFolder, '.berth-pinned', String(uid))
  for (const dir of [rootsFolder, join(base, '..'), base]) rootFolder(dir)
  return join(base, `${id}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}`)
}

/** Unpins what earlier starts of a machine left (a supervisor that was killed cannot unpin). */
export function unpinAll(rootsFolder: string, uid: number, id: string): void {
  const base = join(rootsFolder, '.berth-pinned', String(uid))
  let names: string[] = []
  try {
    names = readdirSync(base)
  } catch {
    return
  }
  for (const name of names) if (name.startsWith(`${id}.`)) unpin(join(base, name))
}

/** Bind-mounts each held file onto its place in `dir` (made for it) through its descriptor; returns the places. */
export function pin(dir: string, held: { name: string; file: Held }[]): string[] {
  mkdirSync(dir, { mode: 0o700 })
  const places: string[] = []
  for (const { name, file } of held) {
    const place = join(dir, name)
    if (file.stats.isDirectory()) mkdirSync(place, { mode: 0o700 })
    else closeSync(openSync(place, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600))
    // The source is the descriptor itself (fd 3 of mount): the kernel follows it to the opened file.
    const done = spawnSync(MOUNT, ['--no-canonicalize', '--bind', '/proc/self/fd/3', place], { stdio: ['ignore', 'ignore', 'pipe', file.fd], encoding: 'utf8' })
    if (done.status !== 0) {
      unpin(dir)
      throw new Error(`mount --bind of ${file.path} failed: ${done.stderr.trim()}`)
    }
    places.push(place)
  }
  return places
}

/**
 * An ephemeral container's root: an overlay of the pinned root with a scratch layer beside it, in root's
 * folder, thrown away when it is unpinned. (nspawn's own --ephemeral copies a root that is a mount
 * point into itself.) Returns the merged folder.
 */
export function scratchOver(dir: string, lower: string): string {
  for (const name of SCRATCH) mkdirSync(join(dir, name), { mode: 0o700 })
  const merged = join(dir, 'merged')
  mkdirSync(merged, { mode: 0o755 })
  const options = `lowerdir=${lower},upperdir=${join(dir, 'upper')},workdir=${join(dir, 'work')}`
  const done = spawnSync(MOUNT, ['--no-canonicalize', '-t', 'overlay', 'overlay', '-o', options, merged], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
  if (done.status !== 0) throw new Error(`The scratch layer of an ephemeral container could not be mounted: ${done.stderr.trim()}`)
  return merged
}

/** The scratch layer's folders: root's own, never mounted on, so they are removed whole. */
const SCRATCH = ['upper', 'work']

/** Unmounts what is mounted in `dir` and removes the places (never anything inside a mount). */
export function unpin(dir: string): void {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  // The overlay first, then what it lies on; umount fails once nothing is mounted there (a few tries for mounts stacked by an earlier run).
  for (const name of [...names].sort((a, b) => Number(b === 'merged') - Number(a === 'merged')))
    for (let i = 0; i < 8 && spawnSync(UMOUNT, ['--lazy', join(dir, name)], { stdio: 'ignore' }).status === 0; i++);
  const device = lstatSync(dir).dev
  for (const name of names) {
    const place = join(dir, name)
    try {
      const info = lstatSync(place)
      if (info.dev !== device) continue // still mounted: left alone
      if (SCRATCH.includes(name)) rmSync(place, { recursive: true, force: true })
      // An empty folder or file only: a place still mounted or not empty stays (EBUSY, ENOTEMPTY).
      else if (info.isDirectory()) rmdirSync(place)
      else if (info.size === 0) unlinkSync(place)
    } catch {
      // left for the next try
    }
  }
  try {
    rmdirSync(dir)
  } catch {
    // not empty: something is still mounted there
  }
}
