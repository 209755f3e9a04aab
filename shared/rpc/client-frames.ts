// The frames a client may send, as the server checks each one (the renderer is untrusted).
import { z } from 'zod'
import { errorCodes } from '../errors'
import { MAX_DATA_CHUNK, STREAM_WINDOW } from './protocol'

const id = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const wireError = z.object({ code: z.enum(errorCodes), message: z.string(), details: z.unknown().optional() })

/** Frames a client sends. */
export const clientFrameSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('req'), id, method: z.string().max(100), input: z.unknown() }),
  z.object({ t: z.literal('cancel'), id }),
  /** Open a stream; answered by a res frame (ok, or the reason it could not open). */
  z.object({ t: z.literal('open'), id, stream: z.string().max(100), input: z.unknown() }),
  /** Stream bytes (both directions). A JSON carrier's base64 that is not base64 arrives as a string: refused here. */
  z.object({
    t: z.literal('data'),
    id,
    data: z.instanceof(Uint8Array).refine((bytes) => bytes.length <= MAX_DATA_CHUNK, 'Too many bytes in one frame'),
  }),
  /** The receiver consumed this many bytes: the sender may send that many more. */
  z.object({ t: z.literal('ack'), id, bytes: z.number().int().positive().max(STREAM_WINDOW) }),
  z.object({ t: z.literal('ctl'), id, payload: z.unknown() }),
  z.object({ t: z.literal('close'), id, error: wireError.optional() }),
])
export type ClientFrame = z.infer<typeof clientFrameSchema>

