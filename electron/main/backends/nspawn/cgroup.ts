// Every container runs in its own cgroup (Berth's, below the cgroup2 root): nspawn moves itself to
// supervisor/ and the container to payload/ beneath it. Killing payload/ ends every process of the
// container, even when nspawn itself was killed hard and left the container's init running.
import { existsSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** The cgroup2 hierarchy: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
export function cgroup2Root(): string | null {
  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'])
    if (existsSync(join(root, 'cgroup.procs')) && existsSync(join(root, 'cgroup.controllers'))) return root
  return null
}

export const containerCgroup = (root: string, id: string) => join(root, 'berth', id)

export function cgroupPids(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Every process in dir and below it. */
export function allPids(dir: string): number[] {
  const pids = cgroupPids(dir)
  let entries: string[] = []
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
  } catch {
    return pids
  }
  return [...pids, ...entries.flatMap((name) => allPids(join(dir, name)))]
}

/** Kills every process in dir and below (cgroup.kill, or SIGKILL one by one on kernels before 5.14). */
export function killCgroup(dir: string): void {
  if (!existsSync(dir)) return
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1')
  } catch {
    for (const pid of allPids(dir)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
}

/** Moves a process into dir (best effort: a process that already ended is not an error). */
export function joinCgroup(dir: string, pid: number): void {
  try {
    writeFileSync(join(dir, 'cgroup.procs'), String(pid))
  } catch {
    // gone, or no such cgroup on this host
  }
}

/** Freezes or thaws every process in dir (cgroup2's freezer). */
export function freezeCgroup(dir: string, frozen: boolean): void {
  writeFileSync(join(dir, 'cgroup.freeze'), frozen ? '1' : '0')
}

/** Removes dir and its children once they are empty; false while processes remain. */
export function removeCgroup(dir: string): boolean {
  if (!existsSync(dir)) return true
  for (const entry of readdirSync(dir, { withFileTypes: true }))
    if (entry.isDirectory() && !removeCgroup(join(dir, entry.name))) return false
  try {
    rmdirSync(dir)
    return true
  } catch {
    return false
  }
}
