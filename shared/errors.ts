// Errors that cross the wire: always { code, message, details }, never a runtime-specific Error.

export const errorCodes = [
  'invalid_input', // the request or a field is wrong; details.fields maps field paths to messages
  'not_found',
  'conflict', // e.g. a name already taken, a machine already running
  'unavailable', // a prerequisite is missing on the host
  'failed', // the operation ran and failed (QEMU refused, a command exited non-zero)
  'cancelled',
  'unknown_method',
  'too_large',
  'internal',
] as const
export type ErrorCode = (typeof errorCodes)[number]

export type FieldErrors = Record<string, string>

export interface WireError {
  code: ErrorCode
  message: string
  details?: unknown
}

export class BerthError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'BerthError'
  }

  toWire(): WireError {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details }
  }

  static fromWire(e: WireError): BerthError {
    return new BerthError(e.code, e.message, e.details)
  }
}

/** An invalid_input error whose details name each wrong field and what to do about it. */
export function fieldErrors(fields: FieldErrors, message = 'Some fields need attention'): BerthError {
  return new BerthError('invalid_input', message, { fields })
}

export function fieldErrorsOf(error: unknown): FieldErrors {
  if (!(error instanceof BerthError) || error.code !== 'invalid_input') return {}
  const details = error.details as { fields?: FieldErrors } | undefined
  return details?.fields ?? {}
}

export function toWireError(error: unknown): WireError {
  if (error instanceof BerthError) return error.toWire()
  const message = error instanceof Error ? error.message : String(error)
  return { code: 'internal', message }
}
