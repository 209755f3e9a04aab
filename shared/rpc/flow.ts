// Credit-based flow control, the same in both directions: a sender has at most STREAM_WINDOW bytes
// unacknowledged; the receiver acknowledges bytes once it has consumed them. Bytes are coalesced into
// frames sized for the receiver: the first bytes after a quiet moment go out at once, what follows
// within COALESCE_MS goes out together (a UART delivers a byte or two at a time; a frame each would
// make the page draw and acknowledge thousands of frames a second).
import { MAX_DATA_CHUNK, STREAM_WINDOW } from './protocol'
import { Emitter } from './transport'

/** How long bytes may wait to share a frame with the next ones. */
export const COALESCE_MS = 4

export class OutgoingBytes {
  private credit = STREAM_WINDOW
  private queue: Uint8Array[] = []
  private queued = 0
  private enabled = false
  private readonly drains = new Emitter<void>()
  /** When the last frame went out, and the flush waiting for the coalescing window to end. */
  private lastSent = -Infinity
  private timer: ReturnType<typeof setTimeout> | null = null

  constructor(private readonly sendChunk: (chunk: Uint8Array) => void) {}

  /** Bytes accepted but not yet sent for lack of credit. */
  get buffered(): number {
    return this.queued
  }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.queue.push(bytes)
    this.queued += bytes.length
    const wait = this.lastSent + COALESCE_MS - performance.now()
    // At once after a quiet moment or with a full frame's worth; otherwise when the window ends.
    if (wait <= 0 || this.queued >= MAX_DATA_CHUNK) this.flush()
    else this.timer ??= setTimeout(() => this.flush(), wait)
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
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
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

  /** Sends what credit allows, as few frames as possible (each at most MAX_DATA_CHUNK). */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    if (!this.enabled) return
    while (this.queue.length > 0 && this.credit > 0) {
      const size = Math.min(this.credit, MAX_DATA_CHUNK, this.queued)
      const frame = new Uint8Array(size)
      for (let filled = 0; filled < size; ) {
        const head = this.queue[0]!
        const take = Math.min(head.length, size - filled)
        frame.set(head.subarray(0, take), filled)
        filled += take
        if (take === head.length) this.queue.shift()
        else this.queue[0] = head.subarray(take)
      }
      this.credit -= size
      this.queued -= size
      this.lastSent = performance.now()
      this.sendChunk(frame)
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
