// Live metrics of every running machine: sampled once a second while someone watches it and every
// 10 s otherwise, kept for an hour at that step and for a day as one-minute means, and pushed to
// watchers as they come. A machine that does not answer within a sample period is skipped, never queued;
// one whose counters cannot be read at all (its Xen host went away) has its series paused, and says why.
import type { Counters, Sample } from '../../../shared/model/metrics'
import { SampleRing } from './sample-ring'

export interface MetricsSource {
  /** Machines that are running now. */
  running(): string[]
  /** Whether a machine is still defined (a removed one's series go). */
  exists(id: string): boolean
  /** null: not running (any more); rejected: cannot be read now, the error says why. */
  counters(id: string, timeoutMs: number): Promise<Counters | null>
}

export interface MetricsUpdate {
  samples: Sample[]
  /** Series this machine does not have, and why. */
  unmeasured: string[]
  /** Why no samples come now (null: they do). */
  paused: string | null
}

const HOUR_MS = 3600_000
const DAY_MS = 24 * HOUR_MS
const WATCHED_STEP_MS = 1000
const UNWATCHED_STEP_MS = 10_000

interface Series {
  hour: SampleRing
  day: SampleRing
  previous: { t: number; counters: Counters } | null
  minute: { sums: Float64Array; counts: Uint32Array; count: number; last: number }
  unmeasured: string[]
  paused: string | null
  sampling: boolean
  lastSampleAt: number
  watchers: Set<(update: MetricsUpdate) => void>
}

export class MetricsService {
  private readonly series = new Map<string, Series>()
  private timer: NodeJS.Timeout | null = null

  constructor(
    private readonly source: MetricsSource,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.tick(), WATCHED_STEP_MS)
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }

  /** The last hour (one-second or ten-second steps) and the day before it (one-minute means), then each new sample. */
  watch(id: string, listener: (update: MetricsUpdate) => void, historyMs = DAY_MS): () => void {
    const series = this.seriesOf(id)
    const now = this.now()
    const hour = series.hour.samples(now - Math.min(HOUR_MS, historyMs))
    const older = historyMs > HOUR_MS ? series.day.samples(now - historyMs).filter((s) => s.t < (hour[0]?.t ?? now)) : []
    listener({ samples: [...older, ...hour], unmeasured: series.unmeasured, paused: series.paused })
    series.watchers.add(listener)
    return () => series.watchers.delete(listener)
  }

  /** The newest sample of a series, if there is one from the last minute. */
  latest(id: string): Sample | null {
    const last = this.series.get(id)?.hour.samples(this.now() - 60_000).at(-1)
    return last ?? null
  }

  /** One round: each running machine whose step has come, unless its last sample is still being taken. */
  async tick(): Promise<void> {
    for (const id of this.series.keys()) if (!this.source.exists(id)) this.series.delete(id)
    const now = this.now()
    await Promise.all(
      this.source.running().map(async (id) => {
        const series = this.seriesOf(id)
        const step = series.watchers.size ? WATCHED_STEP_MS : UNWATCHED_STEP_MS
        if (series.sampling || now - series.lastSampleAt < step - 100) return
        series.sampling = true
        series.lastSampleAt = now
        try {
          // Stamped when asked: the CPU time is read first, while the slower queries (QMP, the guest
          // agent) may take most of the period; stamping at the answer would squeeze a second's CPU
          // into whatever time is left between two answers.
          const asked = this.now()
          const counters = await this.source.counters(id, WATCHED_STEP_MS - 100).then(
            (value) => value,
            (error: Error) => this.pause(series, error.message),
          )
          if (counters) this.record(series, asked, counters)
          else series.previous = null // stopped or unreachable mid-sample: the next run starts afresh
        } finally {
          series.sampling = false
        }
      }),
    )
  }

  /** Says once to the watchers why the series stops here. */
  private pause(series: Series, why: string): null {
    if (series.paused !== why) {
      series.paused = why
      for (const watcher of series.watchers) watcher({ samples: [], unmeasured: series.unmeasured, paused: why })
    }
    return null
  }

  private record(series: Series, t: number, counters: Counters): void {
    const previous = series.previous
    series.previous = { t, counters }
    series.unmeasured = counters.unmeasured
    if (!previous || t <= previous.t) return
    const seconds = (t - previous.t) / 1000
    const rate = (now: number | null, before: number | null) => (now === null || before === null ? null : Math.max(0, now - before) / seconds)
    const sample: Sample = {
      t,
      cpu: (Math.max(0, counters.cpuSeconds - previous.counters.cpuSeconds) / seconds) * 100,
      memory: counters.memoryBytes,
      memoryLimit: counters.memoryLimitBytes,
      read: rate(counters.readBytes, previous.counters.readBytes),
      write: rate(counters.writeBytes, previous.counters.writeBytes),
      rx: rate(counters.rxBytes, previous.counters.rxBytes),
      tx: rate(counters.txBytes, previous.counters.txBytes),
    }
    series.hour.push(sample)
    this.keepMinute(series, sample)
    series.paused = null // the first rate after a pause ends it
    for (const watcher of series.watchers) watcher({ samples: [sample], unmeasured: series.unmeasured, paused: null })
  }

  /** The day's series: the mean of each minute's samples (running sums, no samples kept for it). */
  private keepMinute(series: Series, sample: Sample): void {
    const minute = series.minute
    if (minute.count && Math.floor(minute.last / 60_000) !== Math.floor(sample.t / 60_000)) {
      const mean = (i: number) => (minute.counts[i]! ? minute.sums[i]! / minute.counts[i]! : null)
      series.day.push({ t: minute.last, cpu: mean(0) ?? 0, memory: mean(1) ?? 0, memoryLimit: mean(2), read: mean(3), write: mean(4), rx: mean(5), tx: mean(6) })
      minute.sums.fill(0)
      minute.counts.fill(0)
      minute.count = 0
    }
    ;[sample.cpu, sample.memory, sample.memoryLimit, sample.read, sample.write, sample.rx, sample.tx].forEach((value, i) => {
      if (value === null) return
      minute.sums[i]! += value
      minute.counts[i]!++
    })
    minute.count++
    minute.last = sample.t
  }

  private seriesOf(id: string): Series {
    let series = this.series.get(id)
    if (!series) {
      series = {
        hour: new SampleRing(HOUR_MS / WATCHED_STEP_MS),
        day: new SampleRing(DAY_MS / 60_000),
        previous: null,
        minute: { sums: new Float64Array(7), counts: new Uint32Array(7), count: 0, last: 0 },
        unmeasured: [],
        paused: null,
        sampling: false,
        lastSampleAt: Number.NEGATIVE_INFINITY,
        watchers: new Set(),
      }
      this.series.set(id, series)
    }
    return series
  }
}
