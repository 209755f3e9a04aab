// The server half of the protocol: validates every frame and every input against the contract.
import type { z } from 'zod'
import { BerthError, fieldErrors, toWireError, type WireError } from '../errors'
import {
  contract,
  type EventName,
  type EventPayload,
  type MethodArgs,
  type MethodName,
  type MethodOutput,
  type StreamArgs,
  type StreamControl,
  type StreamName,
} from '../contract'
import { zodFieldErrors } from '../model/zod-fields'
import { MAX_DATA_CHUNK, STREAM_WINDOW, decodeBytes, encodeBytes, clientFrameSchema, type Frame } from './protocol'
import { Emitter, type Disposable, type Transport } from './transport'

export interface CallContext {
  signal: AbortSignal
}

export type MethodHandlers = {
  [M in MethodName]: (args: MethodArgs<M>, ctx: CallContext) => Promise<MethodOutput<M>>
}

/** A stream handler sets the stream up; bytes it sends before returning go out right after the open reply. */
export type StreamHandlers = {
  [S in StreamName]: (args: StreamArgs<S>, stream: ServerStream<StreamControl<S>>) => Promise<void>
}

export interface RpcServerOptions {
  methods: MethodHandlers
  streams: StreamHandlers
  /** Told about frames that were refused (malformed, unknown stream ids): for logs, never a crash. */
  onRefused?: (reason: string) => void
}

function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input ?? {})
  if (!result.success) throw fieldErrors(zodFieldErrors(result.error), 'The request is not valid')
  return result.data
}

export class ServerStream<C> {
  private credit = STREAM_WINDOW
  private queue: Uint8Array[] = []
  private queuedBytes = 0
  private opened = false
  private isClosed = false
  private readonly input = new Emitter<Uint8Array>()
  private readonly controls = new Emitter<C>()
  private readonly closes = new Emitter<void>()
  private readonly drains = new Emitter<void>()

  constructor(
    private readonly id: number,
    private readonly sendFrame: (frame: Frame) => void,
    private readonly controlSchema: z.ZodType<C>,
  ) {}

  get closed(): boolean {
    return this.isClosed
  }

  /** Bytes waiting for the client's acknowledgements. */
  get buffered(): number {
    return this.queuedBytes
  }

  send(bytes: Uint8Array): void {
    if (this.isClosed || bytes.length === 0) return
    for (let i = 0; i < bytes.length; i += MAX_DATA_CHUNK) this.queue.push(bytes.subarray(i, i + MAX_DATA_CHUNK))
    this.queuedBytes += bytes.length
    this.flush()
  }

  onInput(listener: (bytes: Uint8Array) => void): Disposable {
    return this.input.on(listener)
  }
  onControl(listener: (control: C) => void): Disposable {
    return this.controls.on(listener)
  }
  onClose(listener: () => void): Disposable {
    return this.closes.on(listener)
  }
  /** Everything queued has been sent. */
  onDrain(listener: () => void): Disposable {
    return this.drains.on(listener)
  }

  close(error?: WireError): void {
    if (this.isClosed) return
    if (this.opened) this.sendFrame(error ? { t: 'close', id: this.id, error } : { t: 'close', id: this.id })
    this.finish()
  }

  /** @internal */ markOpen(): void {
    this.opened = true
    this.flush()
  }
  /** @internal */ receiveAck(bytes: number): void {
    this.credit = Math.min(STREAM_WINDOW, this.credit + bytes)
    this.flush()
  }
  /** @internal */ receiveData(bytes: Uint8Array): void {
    if (!this.isClosed) this.input.emit(bytes)
  }
  /** @internal Returns false when the payload does not match the stream's control schema. */
  receiveControl(payload: unknown): boolean {
    const result = this.controlSchema.safeParse(payload)
    if (result.success && !this.isClosed) this.controls.emit(result.data)
    return result.success
  }
  /** @internal */ finish(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.queue = []
    this.queuedBytes = 0
    this.closes.emit()
    for (const e of [this.input, this.controls, this.closes, this.drains]) e.clear()
  }

  private flush(): void {
    if (!this.opened || this.isClosed) return
    while (this.queue.length > 0 && this.credit > 0) {
      let chunk = this.queue[0]!
      if (chunk.length > this.credit) {
        this.queue[0] = chunk.subarray(this.credit)
        chunk = chunk.subarray(0, this.credit)
      } else this.queue.shift()
      this.credit -= chunk.length
      this.queuedBytes -= chunk.length
      this.sendFrame({ t: 'data', id: this.id, data: encodeBytes(chunk) })
    }
    if (this.queue.length === 0) this.drains.emit()
  }
}

interface Connection {
  transport: Transport
  calls: Map<number, AbortController>
  streams: Map<number, ServerStream<unknown>>
}

export class RpcServer {
  private readonly connections = new Set<Connection>()

  constructor(private readonly options: RpcServerOptions) {}

  get connectionCount(): number {
    return this.connections.size
  }

  /** Serve one client connection until its transport closes. */
  accept(transport: Transport): Disposable {
    const conn: Connection = { transport, calls: new Map(), streams: new Map() }
    this.connections.add(conn)
    const frames = transport.onFrame((raw) => this.onFrame(conn, raw))
    const closed = transport.onClose(() => this.drop(conn))
    const dispose = () => {
      frames.dispose()
      closed.dispose()
      this.drop(conn)
    }
    return { dispose }
  }

  broadcast<E extends EventName>(name: E, payload: EventPayload<E>): void {
    for (const conn of this.connections) this.send(conn, { t: 'evt', name, payload })
  }

  private drop(conn: Connection): void {
    if (!this.connections.delete(conn)) return
    for (const controller of conn.calls.values()) controller.abort()
    for (const stream of conn.streams.values()) stream.finish()
    conn.calls.clear()
    conn.streams.clear()
  }

  private send(conn: Connection, frame: Frame): void {
    if (this.connections.has(conn)) conn.transport.send(frame)
  }

  private refuse(conn: Connection, reason: string, id?: number): void {
    this.options.onRefused?.(reason)
    if (id !== undefined)
      this.send(conn, { t: 'res', id, ok: false, error: { code: 'invalid_input', message: reason } })
  }

  private onFrame(conn: Connection, raw: unknown): void {
    const parsed = clientFrameSchema.safeParse(raw)
    if (!parsed.success) {
      const id = (raw as { id?: unknown } | null)?.id
      const t = (raw as { t?: unknown } | null)?.t
      // Answer a malformed request so the caller is not left waiting; drop anything else.
      const answerable = (t === 'req' || t === 'open') && Number.isSafeInteger(id) && (id as number) >= 0
      this.refuse(conn, 'Malformed frame', answerable ? (id as number) : undefined)
      return
    }
    const frame = parsed.data
    switch (frame.t) {
      case 'req':
        void this.onRequest(conn, frame.id, frame.method, frame.input)
        return
      case 'cancel':
        conn.calls.get(frame.id)?.abort()
        return
      case 'open':
        void this.onOpen(conn, frame.id, frame.stream, frame.input)
        return
      case 'data':
      case 'ack':
      case 'ctl':
      case 'close': {
        const stream = conn.streams.get(frame.id)
        if (!stream) return this.refuse(conn, `No open stream ${frame.id}`)
        if (frame.t === 'data') stream.receiveData(decodeBytes(frame.data))
        else if (frame.t === 'ack') stream.receiveAck(frame.bytes)
        else if (frame.t === 'ctl') {
          if (!stream.receiveControl(frame.payload)) this.refuse(conn, 'Invalid stream control')
        }
        else {
          conn.streams.delete(frame.id)
          stream.finish()
        }
        return
      }
    }
  }

  private async onRequest(conn: Connection, id: number, method: string, input: unknown): Promise<void> {
    if (conn.calls.has(id)) return this.refuse(conn, `Request id ${id} is already in flight`, id)
    const controller = new AbortController()
    conn.calls.set(id, controller)
    try {
      if (!Object.hasOwn(contract.methods, method))
        throw new BerthError('unknown_method', `Unknown method: ${method}`)
      const name = method as MethodName
      const args = parseInput(contract.methods[name].input, input)
      const handler = this.options.methods[name] as (a: unknown, c: CallContext) => Promise<unknown>
      const output = await handler(args, { signal: controller.signal })
      if (controller.signal.aborted) throw new BerthError('cancelled', 'Cancelled')
      this.send(conn, { t: 'res', id, ok: true, output })
    } catch (error) {
      const wire = controller.signal.aborted ? { code: 'cancelled' as const, message: 'Cancelled' } : toWireError(error)
      this.send(conn, { t: 'res', id, ok: false, error: wire })
    } finally {
      conn.calls.delete(id)
    }
  }

  private async onOpen(conn: Connection, id: number, name: string, input: unknown): Promise<void> {
    if (conn.streams.has(id)) return this.refuse(conn, `Stream id ${id} is already open`, id)
    if (!Object.hasOwn(contract.streams, name)) {
      const error = new BerthError('unknown_method', `Unknown stream: ${name}`).toWire()
      return this.send(conn, { t: 'res', id, ok: false, error })
    }
    const streamName = name as StreamName
    const stream = new ServerStream<unknown>(id, (frame) => this.send(conn, frame), contract.streams[streamName].control)
    conn.streams.set(id, stream)
    try {
      const args = parseInput(contract.streams[streamName].input, input)
      const handler = this.options.streams[streamName] as (a: unknown, s: ServerStream<unknown>) => Promise<void>
      await handler(args, stream)
      if (stream.closed) throw new BerthError('failed', 'The stream closed while opening')
      this.send(conn, { t: 'res', id, ok: true, output: null })
      stream.markOpen()
    } catch (error) {
      conn.streams.delete(id)
      stream.finish()
      this.send(conn, { t: 'res', id, ok: false, error: toWireError(error) })
    }
  }
}
