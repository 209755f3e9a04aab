// What Berth and a container's supervisor tell each other. The supervisor may run as root while Berth
// does not, so every control message is checked against these schemas.
import { z } from 'zod'

export interface SupervisorConfig {
  id: string
  /** systemd-nspawn and its arguments. */
  argv: string[]
  /** The container's cgroup (null: the host has no cgroup2 hierarchy). */
  cgroup: string | null
  /** Everything the container's console prints, appended. */
  log: string
  /** Raw console bytes both ways; each connection starts with the log offset (8 bytes) it begins at. */
  consoleSocket: string
  /** JSON lines: control messages in, status out. */
  controlSocket: string
  status: string
  /** Commands run before each start, whose failure does not matter (stale links). */
  cleanup: string[][]
  /** Host-side commands once the container runs. */
  hostSetup: string[][]
  /** Commands run inside the container's network namespace once it runs. */
  containerSetup: string[][]
  /** Sent to the container's leader for a graceful stop (poweroff for its init). */
  poweroffSignal: number
  timeoutStartSec: number
  /** Started again when it fails (the module's Restart=on-failure), a few times at most. */
  restartOnFailure: boolean
  /** Owner of the sockets, when the supervisor runs as root for an unprivileged Berth. */
  owner: { uid: number; gid: number } | null
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
  z.object({ op: z.literal('resize'), cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }).strict(),
  z.object({ op: z.literal('freeze'), frozen: z.boolean() }).strict(),
])
export type ControlMessage = z.infer<typeof controlMessageSchema>

/** Exit code of systemd-nspawn when the container asked for a reboot. */
export const REBOOT_EXIT_CODE = 133
