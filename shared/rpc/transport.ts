import { fromJsonWire, toJsonWire, type Frame } from './protocol'

export interface Disposable {
  dispose(): void
}

/** A bidirectional frame pipe: in-memory, Electron IPC or WebSocket. */
export interface Transport {
  send(frame: Frame): void
  onFrame(listener: (frame: unknown) => void): Disposable
  onClose(listener: () => void): Disposable
  close(): void
}

/** Small listener list used by transports and clients. */
export class Emitter<T> {
  private listeners = new Set<(value: T) => void>()
  on(listener: (value: T) => void): Disposable {
    this.listeners.add(listener)
    return { dispose: () => this.listeners.delete(listener) }
  }
  emit(value: T): void {
    for (const listener of [...this.listeners]) listener(value)
  }
  clear(): void {
    this.listeners.clear()
  }
}

/** The renderer's side of the Electron window's frame pipe (the preload's berthBridge). */
export function bridgeTransport(bridge: { send(frame: Frame): void; onFrame(listener: (frame: unknown) => void): () => void }): Transport {
  const frames = new Emitter<unknown>()
  const closes = new Emitter<void>()
  bridge.onFrame((frame) => frames.emit(frame))
  return {
    send: (frame) => bridge.send(frame),
    onFrame: (l) => frames.on(l),
    onClose: (l) => closes.on(l),
    close: () => closes.emit(),
  }
}

/** Two connected in-memory transports, for unit tests. Frames go through JSON like on a real wire (a WebSocket's). */
export function createTransportPair(): [Transport, Transport] {
  const make = () => ({ frames: new Emitter<unknown>(), closed: new Emitter<void>(), open: true })
  const a = make()
  const b = make()
  const side = (self: typeof a, peer: typeof a): Transport => ({
    send(frame) {
      if (!self.open) return
      const copy = fromJsonWire(toJsonWire(frame))
      queueMicrotask(() => peer.open && peer.frames.emit(copy))
    },
    onFrame: (l) => self.frames.on(l),
    onClose: (l) => self.closed.on(l),
    close() {
      for (const s of [self, peer]) {
        if (!s.open) continue
        s.open = false
        queueMicrotask(() => s.closed.emit())
      }
    },
  })
  return [side(a, b), side(b, a)]
}
