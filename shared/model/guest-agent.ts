import { z } from 'zod'

/** What the QEMU guest agent says about a running guest. */
export const guestInfoSchema = z.object({
  agentVersion: z.string(),
  hostName: z.string().nullable(),
  os: z.string().nullable(),
  kernel: z.string().nullable(),
  interfaces: z.array(z.object({ name: z.string(), addresses: z.array(z.string()) })),
})
export type GuestInfo = z.infer<typeof guestInfoSchema>
