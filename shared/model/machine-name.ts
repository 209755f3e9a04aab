import { z } from 'zod'

export const machineNameSchema = z
  .string()
  .trim()
  .min(1, 'Give the machine a name')
  .max(63, 'Use at most 63 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
    'Use letters, digits, dots, dashes and underscores, starting with a letter or digit',
  )
