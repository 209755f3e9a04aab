import { homedir } from 'node:os'
import { join } from 'node:path'

export interface BerthPaths {
  /** One JSON definition per machine. */
  machines: string
  /** Disk images Berth creates. */
  images: string
  /** Per-machine files that outlive a run: serial.log (scrollback), qemu.log (QEMU's output), efi-vars.fd. */
  machineFiles: string
  /** Per-machine sockets and pidfiles while a machine runs. */
  runtime: string
  /** Container root file systems Berth makes, where machinectl expects them. */
  containers: string
  /** .nspawn files for machinectl on systemd hosts. */
  nspawnUnits: string
  /** Logs of root file systems being made (debootstrap, imports). */
  rootLogs: string
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
    }
  }
  const user = homedir()
  const config = env.XDG_CONFIG_HOME || join(user, '.config')
  const data = env.XDG_DATA_HOME || join(user, '.local', 'share')
  const runtime = env.XDG_RUNTIME_DIR || join('/tmp', `berth-${process.getuid?.() ?? 'user'}`)
  return {
    machines: join(config, 'berth', 'machines'),
    images: join(data, 'berth', 'images'),
    machineFiles: join(data, 'berth', 'machines'),
    runtime: join(runtime, 'berth'),
    containers: '/var/lib/machines',
    nspawnUnits: '/etc/systemd/nspawn',
    rootLogs: join(data, 'berth', 'roots'),
  }
}
