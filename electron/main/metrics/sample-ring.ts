// A bounded series of samples in two typed arrays (times as float64, the 7 values as float32, NaN for
// null): an hour of one-second samples takes 36 bytes a second, and storage grows only as it fills.
import type { Sample } from '../../../shared/model/metrics'

const VALUES = ['cpu', 'memory', 'memoryLimit', 'read', 'write', 'rx', 'tx'] as const
const WIDTH = VALUES.length

export class SampleRing {
  private times = new Float64Array(64)
  private values = new Float32Array(64 * WIDTH)
  private start = 0
  private count = 0

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.count
  }

  push(sample: Sample): void {
    if (this.count === this.times.length && this.count < this.capacity) this.grow()
    const slots = this.times.length
    const slot = (this.start + this.count) % slots
    this.times[slot] = sample.t
    VALUES.forEach((field, i) => (this.values[slot * WIDTH + i] = sample[field] ?? Number.NaN))
    if (this.count < slots) this.count++
    else this.start = (this.start + 1) % slots
  }

  /** Samples from oldest to newest, those at or after `since` (ms). */
  samples(since = 0): Sample[] {
    const slots = this.times.length
    const out: Sample[] = []
    for (let n = 0; n < this.count; n++) {
      const slot = (this.start + n) % slots
      if (this.times[slot]! < since) continue
      const at = slot * WIDTH
      const value = (i: number) => (Number.isNaN(this.values[at + i]!) ? null : this.values[at + i]!)
      out.push({ t: this.times[slot]!, cpu: this.values[at]!, memory: this.values[at + 1]!, memoryLimit: value(2), read: value(3), write: value(4), rx: value(5), tx: value(6) })
    }
    return out
  }

  /** Doubles the storage (up to capacity), unrolling the ring so it starts at 0. */
  private grow(): void {
    const slots = Math.min(this.capacity, this.times.length * 2)
    const times = new Float64Array(slots)
    const values = new Float32Array(slots * WIDTH)
    for (let n = 0; n < this.count; n++) {
      const slot = (this.start + n) % this.times.length
      times[n] = this.times[slot]!
      values.set(this.values.subarray(slot * WIDTH, slot * WIDTH + WIDTH), n * WIDTH)
    }
    this.times = times
    this.values = values
    this.start = 0
  }
}
