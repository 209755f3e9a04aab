import { z } from 'zod'
import type { FieldErrors } from '../errors'

/** Zod issues → { 'boot.kernel': 'message' }, the shape field-level UI messages use. */
export function zodFieldErrors(error: z.ZodError): FieldErrors {
  const fields: FieldErrors = {}
  for (const issue of error.issues) {
    const key = issue.path.map(String).join('.') || '_'
    fields[key] ??= issue.message
  }
  return fields
}

export const absolutePath = z
  .string()
  .trim()
  .min(1, 'Enter a path')
  .max(4096, 'This path is too long')
  .refine((p) => p.startsWith('/'), 'Use an absolute path (starting with /)')
  .refine((p) => !p.includes('\0'), 'A path cannot contain a NUL byte')
  // A line break would start a new line in the config files paths are written to (.nspawn, xl.cfg).
  .refine((p) => !/[\x01-\x1f\x7f]/.test(p), 'A path cannot contain a line break or another control character')
