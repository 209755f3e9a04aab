// Credit-based flow control, the same in both directions: a sender has at most STREAM_WINDOW bytes
// unacknowledged; the receiver acknowledges bytes once it has consumed them.
import { MAX_DATA_CHUNK, STREAM_WINDOW } from './protocol'
import { Emitter } from './transport'

export class OutgoingBytes {
  private credit = STREAM_WINDOW
  private queue: Uint8Array[] = []
  private queued = 0
  private enabled = false
  private readonly drains = new Emitter<void>()

  constructor(private readonly sendChunk: (chunk: Uint8Array) => void) {}

  /** Bytes accepted but not yet sent for lack of credit. */
  get buffered(): number {
    return this.queued
  }

  push(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i += MAX_DATA_CHUNK) this.queue.push(bytes.subarray(i, i + MAX_DATA_CHUNK))
    this.queued += bytes.length
    this.flush()
  }

  acknowledge(bytes: number): void {
    this.credit = Math.min(STREAM_WINDOW, this.credit + bytes)
    this.flush()
  }

  /** Nothing is sent before the stream is open. */
  enable(): void {
    this.enabled = true
    this.flush()
  }

  clear(): void {
    this.queue = []
    this.queued = 0
    this.drains.emit()
    this.drains.clear()
  }

  /** Resolves once everything pushed so far has been sent. */
  drained(): Promise<void> {
    if (this.queued === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const sub = this.drains.on(() => {
        sub.dispose()
        resolve()
      })
    })
  }

  private flush(): void {
    if (!this.enabled) return
    while (this.queue.length > 0 && this.credit > 0) {
      let chunk = this.queue[0]!
      if (chunk.length > this.credit) {
        this.queue[0] = chunk.subarray(this.credit)
        chunk = chunk.subarray(0, this.credit)
      } else this.queue.shift()
      this.credit -= chunk.length
      this.queued -= chunk.length
      this.sendChunk(chunk)
    }
    if (this.queue.length === 0) this.drains.emit()
  }
}

/** Runs consumers one after another and acknowledges each chunk once its consumer has finished. */
export class IncomingBytes {
  private chain: Promise<void> = Promise.resolve()

  constructor(
    private readonly consume: (bytes: Uint8Array) => void | Promise<void>,
    private readonly acknowledge: (bytes: number) => void,
  ) {}

  receive(bytes: Uint8Array): void {
    this.chain = this.chain
      .then(() => this.consume(bytes))
      .catch(() => undefined)
      .then(() => this.acknowledge(bytes.length))
  }

  /** Resolves when every chunk received so far has been consumed. */
  settled(): Promise<void> {
    return this.chain
  }
}
