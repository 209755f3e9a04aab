import { describe, expect, it } from 'vitest'
import type { Counters } from '../../../shared/model/metrics'
import { MetricsService, type MetricsUpdate } from './metrics-service'
import { SampleRing } from './sample-ring'

const counters = (cpuSeconds: number, written: number, extra: Partial<Counters> = {}): Counters => ({
  cpuSeconds,
  memoryBytes: 100,
  memoryLimitBytes: 1000,
  readBytes: 0,
  writeBytes: written,
  rxBytes: null,
  txBytes: null,
  unmeasured: ['network: none'],
  ...extra,
})

function rig() {
  let now = 1_000_000
  let next: Counters | null | Promise<Counters | null> | Error = null
  let asked = 0
  /** How long the source takes to answer, on the rig's clock. */
  let answerMs = 0
  const service = new MetricsService(
    {
      running: () => ['m1'],
      exists: () => true,
      counters: async () => {
        asked++
        now += answerMs
        if (next instanceof Error) throw next
        return next
      },
    },
    () => now,
  )
  return {
    service,
    slow: (ms: number) => void (answerMs = ms),
    at: async (ms: number, value: typeof next) => {
      now = ms
      next = value
      await service.tick()
    },
    get asked() {
      return asked
    },
  }
}

describe('metrics sampling', () => {
  it('stamps a sample when it was asked for: a slow answer does not squeeze a second of CPU into less', async () => {
    const r = rig()
    const updates: MetricsUpdate[] = []
    r.service.watch('m1', (u) => updates.push(u))
    await r.at(1_000_000, counters(10, 0))
    r.slow(900) // the guest agent takes most of the period
    await r.at(1_001_000, counters(11, 0))
    r.slow(0)
    await r.at(1_002_000, counters(12, 0))
    expect(updates.flatMap((u) => u.samples).map((s) => Math.round(s.cpu))).toEqual([100, 100])
  })

  it('turns running totals into rates, every second while watched and every 10 s otherwise', async () => {
    const r = rig()
    const updates: MetricsUpdate[] = []
    await r.at(1_000_000, counters(10, 0))
    await r.at(1_005_000, counters(11, 0)) // unwatched: not sampled before 10 s
    expect(r.asked).toBe(1)
    await r.at(1_010_000, counters(15, 10 * 1024 * 1024))
    const stop = r.service.watch('m1', (u) => updates.push(u))
    expect(updates[0]!.samples).toEqual([{ t: 1_010_000, cpu: 50, memory: 100, memoryLimit: 1000, read: 0, write: 1024 * 1024, rx: null, tx: null }])
    expect(updates[0]!.unmeasured).toEqual(['network: none'])
    await r.at(1_011_000, counters(16, 10 * 1024 * 1024))
    expect(updates[1]!.samples).toEqual([expect.objectContaining({ t: 1_011_000, cpu: 100, write: 0 })])
    stop()
    await r.at(1_012_000, counters(17, 0))
    expect(updates).toHaveLength(2)
  })

  it('a machine that does not answer within the period is skipped, never queued; one that stopped starts afresh', async () => {
    const r = rig()
    await r.at(0, counters(0, 0))
    r.service.watch('m1', () => undefined)
    let answer: (c: Counters) => void = () => undefined
    const slow = new Promise<Counters>((resolve) => (answer = resolve))
    const pending = r.at(1000, slow)
    await r.at(2000, counters(2, 0))
    await r.at(3000, counters(3, 0))
    expect(r.asked).toBe(2) // the second and third rounds found the first still being taken
    answer(counters(1, 0))
    await pending
    await r.at(4000, null) // stopped mid-sample
    const updates: MetricsUpdate[] = []
    r.service.watch('m1', (u) => updates.push(u))
    await r.at(5000, counters(50, 0))
    expect(updates).toHaveLength(1) // no rate across the stop: 50 s of CPU in 1 s would be wrong
  })

  it('pauses a series whose counters cannot be read, says why once, and goes on once they can', async () => {
    const r = rig()
    const updates: MetricsUpdate[] = []
    r.service.watch('m1', (u) => updates.push(u))
    await r.at(0, counters(0, 0))
    await r.at(1000, counters(1, 0))
    const gone = new Error('xen1 does not answer (no answer to xl list for 5 s); the graphs go on once it does')
    await r.at(2000, gone)
    await r.at(3000, gone)
    await r.at(4000, counters(9, 0)) // back: no rate across the pause
    await r.at(5000, counters(10, 0))
    expect(updates.map((u) => [u.samples.map((s) => s.t), u.paused])).toEqual([
      [[], null],
      [[1000], null],
      [[], gone.message],
      [[5000], null],
    ])
    expect(updates.at(-1)!.samples[0]!.cpu).toBeCloseTo(100)
    // A new watcher hears why while it lasts.
    await r.at(6000, gone)
    const late: MetricsUpdate[] = []
    r.service.watch('m1', (u) => late.push(u))
    expect(late[0]!.paused).toBe(gone.message)
  })

  it('keeps the last hour at its step and, before it, the day as one-minute means', async () => {
    const r = rig()
    r.service.watch('m1', () => undefined)
    const start = 3_600_000
    // 40 % and 60 % of a CPU in turns: each minute's mean is 50 %.
    for (let s = 0; s <= 7200; s++) await r.at(start + s * 1000, counters(Math.floor(s / 2) + (s % 2) * 0.4, 0))
    const updates: MetricsUpdate[] = []
    r.service.watch('m1', (u) => updates.push(u))
    const samples = updates[0]!.samples
    const hourAgo = start + 7200 * 1000 - 3_600_000
    const older = samples.filter((s) => s.t < hourAgo)
    const hour = samples.filter((s) => s.t >= hourAgo)
    expect(hour.length).toBeGreaterThanOrEqual(3599)
    expect(older.length).toBeGreaterThan(55)
    expect(older[1]!.t - older[0]!.t).toBe(60_000)
    expect(older.slice(1).every((s) => Math.abs(s.cpu - 50) < 1)).toBe(true)
    expect(new Set(hour.slice(1, 5).map((s) => Math.round(s.cpu)))).toEqual(new Set([40, 60]))
  })
})

describe('sample ring', () => {
  it('keeps the newest samples up to its capacity, oldest first, nulls kept', () => {
    const ring = new SampleRing(100)
    for (let t = 1; t <= 250; t++) ring.push({ t, cpu: t, memory: 0, memoryLimit: null, read: null, write: t, rx: null, tx: null })
    const samples = ring.samples()
    expect(samples).toHaveLength(100)
    expect(samples[0]).toEqual({ t: 151, cpu: 151, memory: 0, memoryLimit: null, read: null, write: 151, rx: null, tx: null })
    expect(samples.at(-1)!.t).toBe(250)
    expect(ring.samples(240).map((s) => s.t)).toEqual([240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250])
  })
})
