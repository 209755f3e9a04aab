// What Berth and a container's supervisor tell each other. The supervisor may run as root while Berth
// does not, so every control message is checked against these schemas.
import { z } from 'zod'
import { join } from 'node:path'

/** The programs a supervisor runs, at fixed paths: never a name looked up in a caller's PATH. */
export const programs = { nspawn: '/usr/bin/systemd-nspawn', ip: '/usr/sbin/ip', nsenter: '/usr/bin/nsenter' } as const

/**
 * Where a container's supervisor keeps its files: folders of root's (made by the helper, 0711 so the
 * user can reach what is theirs), per user and container id. The files in them are the user's (0600,
 * owned through fchown on the descriptor): their console log, status and sockets. Nothing there can
 * be swapped for a link by the user, since only root writes the folders.
 */
export function containerFiles(uid: number, id: string) {
  const run = join('/run/berth', String(uid), 'containers', id)
  const logs = join('/var/log/berth', String(uid), 'containers', id)
  return {
    run,
    logs,
    config: join(run, 'supervisor.json'),
    console: join(run, 'console.sock'),
    shell: join(run, 'shell.sock'),
    control: join(run, 'control.sock'),
    status: join(run, 'status.json'),
    /** nspawn's NOTIFY_SOCKET: it sends READY=1 here once the container is ready. */
    notify: join(run, 'notify.sock'),
    log: join(logs, 'console.log'),
    supervisorLog: join(logs, 'supervisor.log'),
  }
}
export type ContainerFiles = ReturnType<typeof containerFiles>

/**
 * What a supervisor is started with: written by the helper itself from a checked spec (never by the
 * caller) into root's folder, so the supervisor takes it as it is. Its files are containerFiles(owner,
 * id): the console log (everything the console prints, appended); the console socket (raw bytes both
 * ways, each connection starting with the log offset it begins at); the shell socket (each connection
 * a new login shell, its first line the shell's number); the control socket (JSON lines: control
 * messages in, status out); the status file.
 */
export interface SupervisorConfig {
  id: string
  /** systemd-nspawn's arguments (the program is programs.nspawn). */
  nspawnArgs: string[]
  /** The container's cgroup (null: the host has no cgroup2 hierarchy). */
  cgroup: string | null
  /** The device controller's cgroup and rules the container runs under (null: systemd's scope does it). */
  devices: { cgroup: string; rules: string[] } | null
  /** `ip` arguments run before each start, whose failure does not matter (stale links). */
  cleanup: string[][]
  /**
   * Host interfaces nspawn must find initialized by udev (interfaces, macvlan parents). On hosts
   * without udevd, the supervisor records them in udev's database itself, as udev would.
   */
  udevInterfaces: string[]
  /** `ip` arguments on the host once the container runs. */
  hostSetup: string[][]
  /** `ip` arguments inside the container's network namespace once it runs. */
  containerSetup: string[][]
  /** Sent to the container's leader for a graceful stop (poweroff for its init). */
  poweroffSignal: number
  timeoutStartSec: number
  /** Running only once nspawn passes on the container's READY=1 (--notify-ready=yes). */
  notifyReady: boolean
  /** Started again when it fails (the module's Restart=on-failure), a few times at most. */
  restartOnFailure: boolean
  /** The user the container is run for: owner of its log, status and sockets (the helper's caller). */
  owner: { uid: number; gid: number }
  /** Where the container's root and bind sources are mounted for nspawn (pin.ts): unmounted when the supervisor ends. */
  pinned: string
}

export const supervisorStates = ['starting', 'running', 'paused', 'stopping', 'stopped', 'crashed'] as const
export const supervisorStatusSchema = z.object({
  state: z.enum(supervisorStates),
  supervisorPid: z.number().int(),
  leaderPid: z.number().int().nullable(),
  exitCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  restarts: z.number().int(),
})
export type SupervisorStatus = z.infer<typeof supervisorStatusSchema>

export const controlMessageSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('stop'), force: z.boolean(), timeoutSec: z.number().int().min(0).max(3600) }).strict(),
  z
    .object({
      op: z.literal('resize'),
      /** A shell's number; the console when absent. */
      shell: z.number().int().min(1).optional(),
      cols: z.number().int().min(1).max(1000),
      rows: z.number().int().min(1).max(1000),
    })
    .strict(),
  z.object({ op: z.literal('freeze'), frozen: z.boolean() }).strict(),
])
export type ControlMessage = z.infer<typeof controlMessageSchema>

/** Exit code of systemd-nspawn when the container asked for a reboot. */
export const REBOOT_EXIT_CODE = 133
