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
  type StreamServerControl,
} from '../contract'
import { zodFieldErrors } from '../model/zod-fields'
import { clientFrameSchema } from './client-frames'
import type { Frame } from './protocol'
import { IncomingBytes, OutgoingBytes } from './flow'
import { Emitter, type Disposable, type Transport } from './transport'

export interface CallContext {
  signal: AbortSignal
}

export type MethodHandlers = {
  [M in MethodName]: (args: MethodArgs<M>, ctx: CallContext) => Promise<MethodOutput<M>>
}

/** A stream handler sets the stream up; bytes it sends before returning go out right after the open reply. */
export type StreamHandlers = {
  [S in StreamName]: (args: StreamArgs<S>, stream: ServerStream<StreamControl<S>, StreamServerControl<S>>) => Promise<void>
}

export interface RpcServerOptions {
  methods: MethodHandlers
  streams: StreamHandlers
  /** Told about frames that were refused (malformed, unknown stream ids): for logs, never a crash. */
  onRefused?: (reason: string) => void
}

function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  // A call without input means {}; null is not a way to say that.
  const result = schema.safeParse(input === undefined ? {} : input)
  if (!result.success) throw fieldErrors(zodFieldErrors(result.error), 'The request is not valid')
  return result.data
}

export class ServerStream<C, S = never> {
  private isClosed = false
  private opened = false
  private readonly outgoing: OutgoingBytes
  private readonly incoming: IncomingBytes
  private inputHandler: (bytes: Uint8Array) => void | Promise<void> = () => undefined
  private readonly controls = new Emitter<C>()
  private readonly closes = new Emitter<void>()

  constructor(
    private readonly id: number,
    private readonly sendFrame: (frame: Frame) => void,
    private readonly controlSchema: z.ZodType<C>,
  ) {
    this.outgoing = new OutgoingBytes((chunk) => this.sendFrame({ t: 'data', id, data: chunk }))
    this.incoming = new IncomingBytes(
      (bytes) => this.inputHandler(bytes),
      (bytes) => !this.isClosed && this.sendFrame({ t: 'ack', id, bytes }),
    )
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Bytes waiting for the client's acknowledgements. */
  get buffered(): number {
    return this.outgoing.buffered
  }

  send(bytes: Uint8Array): void {
    if (!this.isClosed && bytes.length > 0) this.outgoing.push(bytes)
  }

  /** A message to the client, outside the byte stream (e.g. the result of an upload). */
  control(payload: S): void {
    if (!this.isClosed) this.sendFrame({ t: 'ctl', id: this.id, payload })
  }

  /** Bytes from the client. They are acknowledged (and the client may send more) once this resolves. */
  onInput(handler: (bytes: Uint8Array) => void | Promise<void>): void {
    this.inputHandler = handler
  }
  /** Resolves when all input received so far has been handled. */
  inputSettled(): Promise<void> {
    return this.incoming.settled()
  }
  onControl(listener: (control: C) => void): Disposable {
    return this.controls.on(listener)
  }
  onClose(listener: () => void): Disposable {
    return this.closes.on(listener)
  }

  close(error?: WireError): void {
    if (this.isClosed) return
    if (this.opened) this.sendFrame(error ? { t: 'close', id: this.id, error } : { t: 'close', id: this.id })
    this.finish()
  }

  /** @internal */ markOpen(): void {
    this.opened = true
    this.outgoing.enable()
  }
  /** @internal */ receiveAck(bytes: number): void {
    this.outgoing.acknowledge(bytes)
  }
  /** @internal */ receiveData(bytes: Uint8Array): void {
    if (!this.isClosed) this.incoming.receive(bytes)
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
    this.outgoing.clear()
    this.closes.emit()
    this.controls.clear()
    this.closes.clear()
  }
}

interface Connection {
  transport: Transport
  calls: Map<number, AbortController>
  streams: Map<number, ServerStream<unknown, unknown>>
}

export class RpcServer {
  private readonly connections = new Set<Connection>()

  constructor(private readonly options: RpcServerOptions) {}

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
        if (frame.t === 'data') stream.receiveData(frame.data)
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
    const stream = new ServerStream<unknown, unknown>(id, (frame) => this.send(conn, frame), contract.streams[streamName].control)
    conn.streams.set(id, stream)
    try {
      const args = parseInput(contract.streams[streamName].input, input)
      const handler = this.options.streams[streamName] as (a: unknown, s: ServerStream<unknown, unknown>) => Promise<void>
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
