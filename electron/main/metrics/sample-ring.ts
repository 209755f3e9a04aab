// A bounded series of samples in one Float64Array (8 numbers each, NaN for null): an hour of samples
// for a hundred machines stays a few MB, and it only grows as far as it is filled.
import type { Sample } from '../../../shared/model/metrics'

const FIELDS = ['t', 'cpu', 'memory', 'memoryLimit', 'read', 'write', 'rx', 'tx'] as const
const WIDTH = FIELDS.length

export class SampleRing {
  private data = new Float64Array(64 * WIDTH)
  private start = 0
  private count = 0

  constructor(readonly capacity: number) {}

  get length(): number {
    return this.count
  }

  push(sample: Sample): void {
    if (this.count < this.capacity && this.count * WIDTH === this.data.length) this.grow()
    const slots = this.data.length / WIDTH
    const at = ((this.start + this.count) % slots) * WIDTH
    FIELDS.forEach((field, i) => (this.data[at + i] = sample[field] ?? Number.NaN))
    if (this.count < slots) this.count++
    else this.start = (this.start + 1) % slots
  }

  /** Samples from oldest to newest, those at or after `since` (ms). */
  samples(since = 0): Sample[] {
    const slots = this.data.length / WIDTH
    const out: Sample[] = []
    for (let n = 0; n < this.count; n++) {
      const at = ((this.start + n) % slots) * WIDTH
      if (this.data[at]! < since) continue
      const value = (i: number) => (Number.isNaN(this.data[at + i]!) ? null : this.data[at + i]!)
      out.push({ t: this.data[at]!, cpu: this.data[at + 1]!, memory: this.data[at + 2]!, memoryLimit: value(3), read: value(4), write: value(5), rx: value(6), tx: value(7) })
    }
    return out
  }

  /** Doubles the storage (up to capacity), unrolling the ring so it starts at 0. */
  private grow(): void {
    const slots = Math.min(this.capacity, (this.data.length / WIDTH) * 2)
    const next = new Float64Array(slots * WIDTH)
    const old = this.data.length / WIDTH
    for (let n = 0; n < this.count; n++) next.set(this.data.subarray(((this.start + n) % old) * WIDTH, ((this.start + n) % old) * WIDTH + WIDTH), n * WIDTH)
    this.data = next
    this.start = 0
  }
}
