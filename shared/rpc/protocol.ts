// The wire protocol: JSON frames, the same over Electron IPC and WebSocket.
import { z } from 'zod'
import { errorCodes, type WireError } from '../errors'

/** Largest frame a peer accepts (serialized). Stream data is chunked well below it. */
export const MAX_FRAME_BYTES = 1024 * 1024
/** Largest payload in one data frame, before base64. */
export const MAX_DATA_CHUNK = 64 * 1024
/** Bytes a stream may have in flight before the receiver acknowledges them. */
export const STREAM_WINDOW = 256 * 1024

const id = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const wireError = z.object({ code: z.enum(errorCodes), message: z.string(), details: z.unknown().optional() })

/** Frames a client sends: the server validates each one (the renderer is untrusted). */
export const clientFrameSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('req'), id, method: z.string().max(100), input: z.unknown() }),
  z.object({ t: z.literal('cancel'), id }),
  /** Open a stream; answered by a res frame (ok, or the reason it could not open). */
  z.object({ t: z.literal('open'), id, stream: z.string().max(100), input: z.unknown() }),
  /** Stream bytes, base64 (both directions). */
  z.object({
    t: z.literal('data'),
    id,
    // Checked here, so that a frame that is not base64 is refused like any malformed frame.
    data: z.string().max(Math.ceil(MAX_DATA_CHUNK / 3) * 4).regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'Not base64'),
  }),
  /** The receiver consumed this many bytes: the sender may send that many more. */
  z.object({ t: z.literal('ack'), id, bytes: z.number().int().positive().max(STREAM_WINDOW) }),
  z.object({ t: z.literal('ctl'), id, payload: z.unknown() }),
  z.object({ t: z.literal('close'), id, error: wireError.optional() }),
])
export type ClientFrame = z.infer<typeof clientFrameSchema>

/** Frames the server sends (trusted by the client: they come from Berth's own main process). */
export type ServerFrame =
  | { t: 'res'; id: number; ok: true; output: unknown }
  | { t: 'res'; id: number; ok: false; error: WireError }
  | { t: 'evt'; name: string; payload: unknown }
  | { t: 'data'; id: number; data: string }
  | { t: 'ack'; id: number; bytes: number }
  | { t: 'ctl'; id: number; payload: unknown }
  | { t: 'close'; id: number; error?: WireError }

export type Frame = ClientFrame | ServerFrame

export function encodeBytes(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}

export function decodeBytes(data: string): Uint8Array {
  const binary = atob(data)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}
