// The wire protocol: the same frames over Electron IPC and WebSocket. Stream bytes are bytes in a
// frame (Electron's IPC carries them as they are); only a JSON carrier writes them as base64, through
// toJsonWire/fromJsonWire. No schema here: the window loads this, and zod only where frames are checked
// (client-frames.ts, on the server).
import type { WireError } from '../errors'
import type { ClientFrame } from './client-frames'

/** Largest frame the server accepts from a client (serialized). Stream data is chunked well below it. */
export const MAX_CLIENT_FRAME_BYTES = 1024 * 1024
/**
 * Largest frame a client accepts from Berth's own server: answers grow with what Berth keeps (the
 * list of a few thousand machines passes 1 MiB), so only a bound against a runaway, far above that.
 */
export const MAX_SERVER_FRAME_BYTES = 256 * 1024 * 1024
/** Largest payload in one data frame (before base64 on a JSON carrier). */
export const MAX_DATA_CHUNK = 64 * 1024
/** Bytes a stream may have in flight before the receiver acknowledges them. */
export const STREAM_WINDOW = 256 * 1024

/** Frames the server sends (trusted by the client: they come from Berth's own main process). */
export type ServerFrame =
  | { t: 'res'; id: number; ok: true; output: unknown }
  | { t: 'res'; id: number; ok: false; error: WireError }
  | { t: 'evt'; name: string; payload: unknown }
  | { t: 'data'; id: number; data: Uint8Array }
  | { t: 'ack'; id: number; bytes: number }
  | { t: 'ctl'; id: number; payload: unknown }
  | { t: 'close'; id: number; error?: WireError }

export type Frame = ClientFrame | ServerFrame

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** A frame as a JSON carrier sends it: stream bytes as base64. */
export function toJsonWire(frame: Frame): string {
  return JSON.stringify(frame?.t === 'data' ? { ...frame, data: encodeBytes(frame.data) } : frame)
}

/** A frame a JSON carrier received: base64 stream bytes as bytes again (anything else is left for the schema to refuse). */
export function fromJsonWire(text: string): unknown {
  const frame = JSON.parse(text) as { t?: unknown; data?: unknown } | null
  if (frame?.t === 'data' && typeof frame.data === 'string' && frame.data.length <= Math.ceil(MAX_DATA_CHUNK / 3) * 4 && BASE64.test(frame.data))
    return { ...frame, data: decodeBytes(frame.data) }
  return frame
}

function encodeBytes(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

function decodeBytes(data: string): Uint8Array {
  const binary = atob(data)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
