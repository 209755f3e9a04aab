import { z } from 'zod'

/**
 * One sample of a machine, as rates over the time since the one before: CPU in % of one host CPU,
 * memory in bytes (of memoryLimit, what it was given), disk and network in bytes per second.
 * null: not measured for this machine (why: in MetricsView.unmeasured).
 */
export const sampleSchema = z.object({
  t: z.number(),
  cpu: z.number(),
  memory: z.number(),
  memoryLimit: z.number().nullable(),
  read: z.number().nullable(),
  write: z.number().nullable(),
  rx: z.number().nullable(),
  tx: z.number().nullable(),
})
export type Sample = z.infer<typeof sampleSchema>

/** What a backend reads from the host for one machine: running totals since it started, and its memory now. */
export interface Counters {
  cpuSeconds: number
  memoryBytes: number
  memoryLimitBytes: number | null
  readBytes: number | null
  writeBytes: number | null
  rxBytes: number | null
  txBytes: number | null
  /** Why a series is not measured (e.g. user-mode networking has no host-side link to count). */
  unmeasured: string[]
}
