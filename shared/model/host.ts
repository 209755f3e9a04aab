import { z } from 'zod'
import { acceleratorSchema } from './machine'
import { hostFirmwareSchema } from './firmware'

export const hostInfoSchema = z.object({
  accelerator: acceleratorSchema,
  /** Why that accelerator: e.g. "the CPU exposes no vmx/svm flag, so KVM cannot run guests". */
  acceleratorReason: z.string(),
  qemu: z.object({ binary: z.string(), version: z.string().nullable() }),
  paths: z.object({ machines: z.string(), images: z.string() }),
  firmware: hostFirmwareSchema,
})
export type HostInfo = z.infer<typeof hostInfoSchema>
