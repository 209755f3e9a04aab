import { homedir } from 'node:os'
import { join } from 'node:path'
import { chmodSync, lstatSync, mkdirSync } from 'node:fs'

export interface BerthPaths {
  /** One JSON definition per machine. */
  machines: string
  /** Disk images Berth creates. */
  images: string
  /** Per-machine files that outlive a run: serial.log (scrollback), qemu.log (QEMU's output), efi-vars.qcow2. */
  machineFiles: string
  /** Per-machine sockets and pidfiles while a machine runs. */
  runtime: string
  /** Container root file systems Berth makes, where machinectl expects them. */
  containers: string
  /** .nspawn files for machinectl on systemd hosts. */
  nspawnUnits: string
  /** Logs of root file systems being made (debootstrap, imports). */
  rootLogs: string
  /** The user's systemd units (the boot-time start of autoStart containers). */
  userUnits: string
  /** Berth's own osinfo database folder (newer OS entries the person imported), read with the system's. */
  osinfo: string
  /** The person's home: where the file browser starts. */
  userHome: string
  /** Small settings Berth remembers (the file browser's recent choices). */
  settings: string
  /** The folders that are Berth's alone: made 0700, and checked before use (see ensurePrivateFolders). */
  own: string[]
}

/**
 * XDG locations, or everything under BERTH_HOME when it is set (tests run in a temporary home).
 * Runtime sockets live in short paths: unix socket paths are limited to 107 bytes.
 */
export function resolvePaths(env: NodeJS.ProcessEnv = process.env): BerthPaths {
  const home = env.BERTH_HOME
  if (home) {
    return {
      machines: join(home, 'config', 'machines'),
      images: join(home, 'data', 'images'),
      machineFiles: join(home, 'data', 'machines'),
      runtime: join(home, 'run'),
      containers: join(home, 'var-lib-machines'),
      nspawnUnits: join(home, 'etc-systemd-nspawn'),
      rootLogs: join(home, 'data', 'roots'),
      userUnits: join(home, 'config', 'systemd-user'),
      osinfo: join(home, 'config', 'osinfo'),
      userHome: join(home, 'home'),
      settings: join(home, 'config', 'settings.json'),
      own: [home],
    }
  }
  const user = homedir()
  const config = env.XDG_CONFIG_HOME || join(user, '.config')
  const data = env.XDG_DATA_HOME || join(user, '.local', 'share')
  // Never a predictable name in /tmp, where another user could make it first: without a runtime
  // folder from the session, one in the user's own home.
  const runtime = env.XDG_RUNTIME_DIR || join(user, '.cache')
  return {
    machines: join(config, 'berth', 'machines'),
    images: join(data, 'berth', 'images'),
    machineFiles: join(data, 'berth', 'machines'),
    runtime: join(runtime, 'berth'),
    containers: '/var/lib/machines',
    nspawnUnits: '/etc/systemd/nspawn',
    rootLogs: join(data, 'berth', 'roots'),
    userUnits: join(config, 'systemd', 'user'),
    osinfo: join(config, 'berth', 'osinfo'),
    userHome: user,
    settings: join(config, 'berth', 'settings.json'),
    own: [join(config, 'berth'), join(data, 'berth'), join(runtime, 'berth')],
  }
}

/**
 * Makes Berth's own folders (0700) or checks the ones that exist: each must be a real folder, not a
 * symlink, owned by this user; one that others may read is made private. Anything else is refused
 * with what is wrong: a folder someone else made could hold sockets and pid files of their choosing.
 */
export function ensurePrivateFolders(paths: BerthPaths, uid = process.getuid?.() ?? 0): void {
  for (const dir of paths.own) {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const info = lstatSync(dir)
    if (info.isSymbolicLink()) throw new Error(`${dir} is a symbolic link: Berth keeps its files only in a folder of its own. Remove the link and start Berth again.`)
    if (!info.isDirectory()) throw new Error(`${dir} is not a folder: move it away and start Berth again`)
    if (info.uid !== uid)
      throw new Error(`${dir} belongs to user ${info.uid}, not to you (${uid}): another user may have made it. Berth will not use it; remove it (as root) and start Berth again.`)
    if ((info.mode & 0o077) !== 0) chmodSync(dir, 0o700)
  }
}
