// One machine's serial console, fanned out to any number of viewers. Its source is a console socket
// whose owner logs every byte before sending it (a VM's serial keeper, a container's supervisor) and
// says at which log offset its live bytes begin, or a terminal Berth logs itself (Xen's xl console):
// a viewer gets the log up to that offset, then live bytes, so the scrollback survives app restarts.
import { createConnection, type Socket } from 'node:net'
import { open, stat } from 'node:fs/promises'
import type { StreamControl, StreamServerControl } from '../../../shared/contract'
import type { ServerStream } from '../../../shared/rpc/server'

/** A viewer's console stream, as the RPC hands it to the machine service and the backends. */
export type ConsoleStream = ServerStream<StreamControl<'console.open'>, StreamServerControl<'console.open'>>

/** Where live console bytes come from and keystrokes go: a console socket, or a terminal (Xen's xl console). */
export interface ConsoleSource {
  write(bytes: Uint8Array): void
  onData(listener: (chunk: Buffer) => void): void
  onClose(listener: () => void): void
  close(): void
}

const socketSource = (socket: Socket): ConsoleSource => ({
  write: (bytes) => socket.write(bytes),
  onData: (listener) => {
    socket.on('data', listener)
    socket.resume()
  },
  onClose: (listener) => socket.on('close', listener),
  close: () => socket.destroy(),
})

export const SCROLLBACK_BYTES = 1024 * 1024
/** A viewer this far behind is closed (it reopens and resyncs from the log) rather than stall the guest. */
export const VIEWER_BACKLOG_LIMIT = 8 * 1024 * 1024

interface Viewer {
  stream: ConsoleStream
  /** Live bytes that arrived while the scrollback was being read. */
  pending: Uint8Array[] | null
  /** The log offset this viewer has everything up to (sent or pending). */
  until: number
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size
  } catch {
    return 0
  }
}

/** The first 8 bytes (big-endian log offset); anything after them is put back for the data listener. */
function readOffset(socket: Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk])
      if (head.length < 8) return
      socket.off('data', onData)
      socket.off('close', onClose)
      socket.pause()
      if (head.length > 8) socket.unshift(head.subarray(8))
      resolve(Number(head.readBigUInt64BE(0)))
    }
    const onClose = () => reject(new Error('The console closed before it said where its log stands'))
    socket.on('data', onData)
    socket.once('close', onClose)
  })
}

export class SerialConsole {
  private source: ConsoleSource | null = null
  /** Log offset of the first byte this connection received, and bytes received since. */
  private base = 0
  private received = 0
  private readonly viewers = new Set<Viewer>()

  constructor(
    readonly logPath: string,
    private readonly scrollbackBytes = SCROLLBACK_BYTES,
  ) {}

  get attached(): boolean {
    return this.source !== null
  }

  /**
   * Connects to a console socket. With offsetHeader (a serial keeper's, a container supervisor's) it
   * starts with the log offset its live bytes begin at; without, the log's size now is taken.
   */
  async attach(socketPath: string, options: { offsetHeader?: boolean } = {}): Promise<void> {
    this.detach()
    const socket = createConnection(socketPath)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    socket.on('error', () => undefined)
    // Bytes written before this connection are only in the log; everything after arrives here too.
    await this.use(socketSource(socket), options.offsetHeader ? await readOffset(socket) : await fileSize(this.logPath))
  }

  /**
   * Takes live bytes from a source whose owner appends each chunk to the log before this sees it, and
   * holds chunks until onData is called. base: the log's size when the source's first chunk was due.
   */
  async attachSource(source: ConsoleSource, base: number): Promise<void> {
    this.detach()
    await this.use(source, base)
  }

  private async use(source: ConsoleSource, base: number): Promise<void> {
    this.base = base
    this.received = 0
    // Viewers that were open while nothing was attached get what the log gained meanwhile.
    for (const viewer of this.viewers) {
      if (viewer.until >= this.base) continue
      const gap = await this.readRange(viewer.until, this.base)
      if (viewer.pending) viewer.pending.push(gap)
      else viewer.stream.send(gap)
      viewer.until = this.base
    }
    this.source = source
    source.onData((chunk: Buffer) => this.onData(chunk))
    source.onClose(() => {
      if (this.source === source) this.source = null
    })
  }

  detach(): void {
    this.source?.close()
    this.source = null
  }

  write(bytes: Uint8Array): void {
    this.source?.write(bytes)
  }

  /** Sends the scrollback, then live bytes, until the stream closes. */
  async open(stream: ConsoleStream): Promise<void> {
    const end = this.source ? this.base + this.received : await fileSize(this.logPath)
    const viewer: Viewer = { stream, pending: [], until: end }
    this.viewers.add(viewer)
    stream.onClose(() => this.viewers.delete(viewer))
    stream.onInput((bytes) => this.write(bytes))
    try {
      const history = await this.readTail(end)
      stream.control({ history: history.length })
      stream.send(history)
    } finally {
      for (const chunk of viewer.pending ?? []) stream.send(chunk)
      viewer.pending = null
    }
  }

  close(): void {
    this.detach()
    for (const viewer of this.viewers) viewer.stream.close()
    this.viewers.clear()
  }

  private onData(chunk: Buffer): void {
    this.received += chunk.length
    for (const viewer of this.viewers) {
      viewer.until = this.base + this.received
      if (viewer.pending) {
        viewer.pending.push(chunk)
        continue
      }
      viewer.stream.send(chunk)
      if (viewer.stream.buffered > VIEWER_BACKLOG_LIMIT)
        viewer.stream.close({ code: 'too_large', message: 'The console viewer fell behind; reopen it to resync from the log' })
    }
  }

  private async readTail(end: number): Promise<Uint8Array> {
    const start = Math.max(0, end - this.scrollbackBytes)
    const tail = await this.readRange(start, end)
    // A cut tail starts at a line boundary, not inside a line or an escape sequence.
    return start > 0 ? tail.subarray(tail.indexOf(10) + 1) : tail
  }

  private async readRange(start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array()
    let file
    try {
      file = await open(this.logPath, 'r')
    } catch {
      return new Uint8Array()
    }
    try {
      const buffer = Buffer.alloc(end - start)
      const { bytesRead } = await file.read(buffer, 0, buffer.length, start)
      return buffer.subarray(0, bytesRead)
    } finally {
      await file.close()
    }
  }
}
