// What Berth and a container's supervisor tell each other. The supervisor may run as root while Berth
// does not, so every control message is checked against these schemas.
import { z } from 'zod'

const argv = z.array(z.string().max(4096)).min(1).max(512)
/** Steps are `ip` commands: the only program besides nspawn a supervisor runs. */
const ipSteps = z.array(argv.refine((a) => a[0] === 'ip', 'Only ip commands')).max(256)

/** What a supervisor is started with. It may run as root, so its helper checks this before starting one. */
export const supervisorConfigSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9]{12}$/),
    /** systemd-nspawn and its arguments. */
    argv: argv.refine((a) => /(^|\/)systemd-nspawn$/.test(a[0]!), 'The program must be systemd-nspawn'),
    /** The container's cgroup (null: the host has no cgroup2 hierarchy). */
    cgroup: z.string().regex(/^\/sys\/fs\/cgroup(\/unified)?\/berth\/[a-z0-9]{12}$/).nullable(),
    /** Everything the container's console prints, appended. */
    log: z.string().startsWith('/'),
    /** Raw console bytes both ways; each connection starts with the log offset (8 bytes) it begins at. */
    consoleSocket: z.string().startsWith('/'),
    /** Each connection is a new login shell inside the running container; its first line is the shell's number. */
    shellSocket: z.string().startsWith('/'),
    /** JSON lines: control messages in, status out. */
    controlSocket: z.string().startsWith('/'),
    status: z.string().startsWith('/'),
    /** Commands run before each start, whose failure does not matter (stale links). */
    cleanup: ipSteps,
    /**
     * Host interfaces nspawn must find initialized by udev (interfaces, macvlan parents). On hosts
     * without udevd, the supervisor records them in udev's database itself, as udev would.
     */
    udevInterfaces: z.array(z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/)).max(32),
    /** Host-side commands once the container runs. */
    hostSetup: ipSteps,
    /** Commands run inside the container's network namespace once it runs. */
    containerSetup: ipSteps,
    /** Sent to the container's leader for a graceful stop (poweroff for its init). */
    poweroffSignal: z.number().int().min(1).max(64),
    timeoutStartSec: z.number().int().min(1).max(3600),
    /** Started again when it fails (the module's Restart=on-failure), a few times at most. */
    restartOnFailure: z.boolean(),
    /** Owner of the sockets, when the supervisor runs as root for an unprivileged Berth. */
    owner: z.object({ uid: z.number().int().min(0), gid: z.number().int().min(0) }).nullable(),
  })
  .strict()
export type SupervisorConfig = z.infer<typeof supervisorConfigSchema>

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
