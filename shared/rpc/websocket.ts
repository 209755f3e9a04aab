// A Transport over a WebSocket: the browser's, or the ws package's in Node (same event API).
import { fromJsonWire, toJsonWire, type Frame } from './protocol'
import { Emitter, type Transport } from './transport'

export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void
  addEventListener(type: 'close', listener: () => void): void
}

const OPEN = 1

/** maxFrameBytes: the largest frame taken from the peer (MAX_CLIENT_FRAME_BYTES on the server, MAX_SERVER_FRAME_BYTES on a client). */
export function webSocketTransport(socket: WebSocketLike, maxFrameBytes: number): Transport {
  const frames = new Emitter<unknown>()
  const closes = new Emitter<void>()
  socket.addEventListener('message', ({ data }) => {
    if (typeof data !== 'string' || data.length > maxFrameBytes) return frames.emit(null)
    let frame: unknown = null
    try {
      frame = fromJsonWire(data)
    } catch {
      // a malformed frame is handed on as null: the server answers it, a client ignores it
    }
    frames.emit(frame)
  })
  socket.addEventListener('close', () => closes.emit())
  return {
    send(frame: Frame) {
      if (socket.readyState === OPEN) socket.send(toJsonWire(frame))
    },
    onFrame: (listener) => frames.on(listener),
    onClose: (listener) => closes.on(listener),
    close: () => socket.close(1000),
  }
}

/** The token rides in the subprotocol list, so it is never in a URL that could be logged. */
export const WS_PROTOCOL = 'berth'
export const tokenProtocol = (token: string) => `berth.token.${token}`
