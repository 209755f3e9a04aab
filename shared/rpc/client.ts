// The client half: typed calls, events and streams over any transport.
import { BerthError, type WireError } from '../errors'
import type {
  EventName,
  EventPayload,
  MethodInput,
  MethodName,
  MethodOutput,
  StreamControl,
  StreamInput,
  StreamName,
} from '../contract'
import { decodeBytes, encodeBytes, MAX_DATA_CHUNK, type Frame, type ServerFrame } from './protocol'
import { Emitter, type Disposable, type Transport } from './transport'

export interface StreamHandlers {
  /** Bytes from the server. Return a promise to hold the acknowledgement until they are consumed. */
  onData(bytes: Uint8Array): void | Promise<void>
  /** The server closed the stream, with the reason when it was an error. */
  onClose?(error?: BerthError): void
}

export class ClientStream<C> {
  private isClosed = false
  constructor(
    private readonly id: number,
    private readonly client: RpcClient,
  ) {}
  get closed(): boolean {
    return this.isClosed
  }
  write(bytes: Uint8Array): void {
    if (this.isClosed) return
    for (let i = 0; i < bytes.length; i += MAX_DATA_CHUNK)
      this.client.sendFrame({ t: 'data', id: this.id, data: encodeBytes(bytes.subarray(i, i + MAX_DATA_CHUNK)) })
  }
  control(payload: C): void {
    if (!this.isClosed) this.client.sendFrame({ t: 'ctl', id: this.id, payload })
  }
  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    this.client.sendFrame({ t: 'close', id: this.id })
    this.client.forgetStream(this.id)
  }
  /** @internal */ markClosed(): void {
    this.isClosed = true
  }
}

interface PendingCall {
  resolve(output: unknown): void
  reject(error: BerthError): void
}

interface OpenStream {
  handlers: StreamHandlers
  stream: ClientStream<unknown>
  /** Serializes onData calls so acknowledgements follow consumption in order. */
  chain: Promise<void>
}

const disconnected = () => new BerthError('unavailable', 'The connection to Berth was lost')

export class RpcClient {
  private nextId = 1
  private readonly pending = new Map<number, PendingCall>()
  private readonly streams = new Map<number, OpenStream>()
  private readonly events = new Emitter<{ name: string; payload: unknown }>()
  private readonly disconnects = new Emitter<void>()
  private connected = true

  constructor(private readonly transport: Transport) {
    transport.onFrame((frame) => this.onFrame(frame as ServerFrame))
    transport.onClose(() => this.onClose())
  }

  get isConnected(): boolean {
    return this.connected
  }

  call<M extends MethodName>(
    method: M,
    input: MethodInput<M>,
    options: { signal?: AbortSignal } = {},
  ): Promise<MethodOutput<M>> {
    if (!this.connected) return Promise.reject(disconnected())
    const id = this.nextId++
    return new Promise<MethodOutput<M>>((resolve, reject) => {
      const signal = options.signal
      const onAbort = () => this.sendFrame({ t: 'cancel', id })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.pending.set(id, {
        resolve: (output) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(output as MethodOutput<M>)
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      })
      this.sendFrame({ t: 'req', id, method, input })
    })
  }

  on<E extends EventName>(name: E, listener: (payload: EventPayload<E>) => void): Disposable {
    return this.events.on((event) => {
      if (event.name === name) listener(event.payload as EventPayload<E>)
    })
  }

  onDisconnect(listener: () => void): Disposable {
    return this.disconnects.on(listener)
  }

  async openStream<S extends StreamName>(
    name: S,
    input: StreamInput<S>,
    handlers: StreamHandlers,
  ): Promise<ClientStream<StreamControl<S>>> {
    if (!this.connected) throw disconnected()
    const id = this.nextId++
    const stream = new ClientStream<StreamControl<S>>(id, this)
    // Registered before the open frame: data may follow the reply immediately.
    this.streams.set(id, { handlers, stream: stream as ClientStream<unknown>, chain: Promise.resolve() })
    try {
      await new Promise<unknown>((resolve, reject) => {
        this.pending.set(id, { resolve, reject })
        this.sendFrame({ t: 'open', id, stream: name, input })
      })
    } catch (error) {
      this.streams.delete(id)
      stream.markClosed()
      throw error
    }
    return stream
  }

  close(): void {
    this.transport.close()
  }

  /** @internal */ sendFrame(frame: Frame): void {
    if (this.connected) this.transport.send(frame)
  }
  /** @internal */ forgetStream(id: number): void {
    this.streams.delete(id)
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.t) {
      case 'res': {
        const call = this.pending.get(frame.id)
        if (!call) return
        this.pending.delete(frame.id)
        if (frame.ok) call.resolve(frame.output)
        else call.reject(BerthError.fromWire(frame.error))
        return
      }
      case 'evt':
        this.events.emit({ name: frame.name, payload: frame.payload })
        return
      case 'data': {
        const open = this.streams.get(frame.id)
        if (!open) return
        const bytes = decodeBytes(frame.data)
        open.chain = open.chain
          .then(() => open.handlers.onData(bytes))
          .catch(() => undefined)
          .then(() => {
            if (this.streams.has(frame.id)) this.sendFrame({ t: 'ack', id: frame.id, bytes: bytes.length })
          })
        return
      }
      case 'close': {
        const open = this.streams.get(frame.id)
        if (!open) return
        this.streams.delete(frame.id)
        open.stream.markClosed()
        const error = frame.error ? BerthError.fromWire(frame.error as WireError) : undefined
        void open.chain.then(() => open.handlers.onClose?.(error))
        return
      }
    }
  }

  private onClose(): void {
    if (!this.connected) return
    this.connected = false
    for (const call of this.pending.values()) call.reject(disconnected())
    this.pending.clear()
    for (const open of this.streams.values()) {
      open.stream.markClosed()
      open.handlers.onClose?.(disconnected())
    }
    this.streams.clear()
    this.disconnects.emit()
  }
}
