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
  StreamServerControl,
} from '../contract'
import type { Frame, ServerFrame } from './protocol'
import { IncomingBytes, OutgoingBytes } from './flow'
import { Emitter, type Disposable, type Transport } from './transport'

export interface StreamHandlers<S = never> {
  /** Bytes from the server. Return a promise to hold the acknowledgement until they are consumed. */
  onData?(bytes: Uint8Array): void | Promise<void>
  /** A message from the server outside the byte stream. */
  onControl?(payload: S): void
  /** The server acknowledged this many more of the bytes written (it has consumed them). */
  onAck?(bytes: number): void
  /** The server closed the stream, with the reason when it was an error. */
  onClose?(error?: BerthError): void
}

export class ClientStream<C, S = never> {
  private isClosed = false
  private readonly outgoing: OutgoingBytes
  /** @internal */ readonly incoming: IncomingBytes

  constructor(
    private readonly id: number,
    private readonly client: RpcClient,
    /** @internal */ readonly handlers: StreamHandlers<S>,
  ) {
    this.outgoing = new OutgoingBytes((chunk) => client.sendFrame({ t: 'data', id, data: chunk }))
    this.incoming = new IncomingBytes(
      (bytes) => handlers.onData?.(bytes),
      (bytes) => !this.isClosed && client.sendFrame({ t: 'ack', id, bytes }),
    )
  }
  get closed(): boolean {
    return this.isClosed
  }
  /** Queues bytes for the server; they go out as the server's acknowledgements allow. */
  write(bytes: Uint8Array): void {
    if (!this.isClosed && bytes.length > 0) this.outgoing.push(bytes)
  }
  /** Resolves once everything written has been sent (use it to read a large file in pieces). */
  drained(): Promise<void> {
    return this.outgoing.drained()
  }
  control(payload: C): void {
    if (!this.isClosed) this.client.sendFrame({ t: 'ctl', id: this.id, payload })
  }
  close(): void {
    if (this.isClosed) return
    this.markClosed()
    this.client.sendFrame({ t: 'close', id: this.id })
    this.client.forgetStream(this.id)
  }
  /** @internal */ markOpen(): void {
    this.outgoing.enable()
  }
  /** @internal */ receiveAck(bytes: number): void {
    this.outgoing.acknowledge(bytes)
    this.handlers.onAck?.(bytes)
  }
  /** @internal */ markClosed(): void {
    this.isClosed = true
    this.outgoing.clear()
  }
}

interface PendingCall {
  resolve(output: unknown): void
  reject(error: BerthError): void
}


const disconnected = () => new BerthError('unavailable', 'The connection to Berth was lost')

export class RpcClient {
  private nextId = 1
  private readonly pending = new Map<number, PendingCall>()
  private readonly streams = new Map<number, ClientStream<unknown, unknown>>()
  private readonly events = new Emitter<{ name: string; payload: unknown }>()
  private readonly disconnects = new Emitter<void>()
  private connected = true

  constructor(private readonly transport: Transport) {
    transport.onFrame((frame) => this.onFrame(frame as ServerFrame))
    transport.onClose(() => this.onClose())
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
    handlers: StreamHandlers<StreamServerControl<S>>,
  ): Promise<ClientStream<StreamControl<S>, StreamServerControl<S>>> {
    if (!this.connected) throw disconnected()
    const id = this.nextId++
    const stream = new ClientStream<StreamControl<S>, StreamServerControl<S>>(id, this, handlers)
    // Registered before the open frame: data may follow the reply immediately.
    this.streams.set(id, stream as ClientStream<unknown, unknown>)
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
    stream.markOpen()
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
      case 'data':
        this.streams.get(frame.id)?.incoming.receive(frame.data)
        return
      case 'ack':
        this.streams.get(frame.id)?.receiveAck(frame.bytes)
        return
      case 'ctl':
        this.streams.get(frame.id)?.handlers.onControl?.(frame.payload)
        return
      case 'close': {
        const stream = this.streams.get(frame.id)
        if (!stream) return
        this.streams.delete(frame.id)
        stream.markClosed()
        const error = frame.error ? BerthError.fromWire(frame.error as WireError) : undefined
        void stream.incoming.settled().then(() => stream.handlers.onClose?.(error))
        return
      }
    }
  }

  private onClose(): void {
    if (!this.connected) return
    this.connected = false
    for (const call of this.pending.values()) call.reject(disconnected())
    this.pending.clear()
    for (const stream of this.streams.values()) {
      stream.markClosed()
      stream.handlers.onClose?.(disconnected())
    }
    this.streams.clear()
    this.disconnects.emit()
  }
}
