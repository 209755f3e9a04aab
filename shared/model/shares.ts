import { z } from 'zod'
import { absolutePath } from './zod-fields'

/** QEMU caps 9p's msize at 512000 (7.2); the module's default is 16384. */
export const MSIZE_MAX = 512000

/** qemu-vm.nix's virtualisation.sharedDirectories: a host folder the guest mounts over 9p. */
export const sharedDirectorySchema = z.object({
  tag: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]{1,31}$/, 'Use 1–31 letters, digits, dashes or underscores (the guest mounts it by this tag)'),
  source: absolutePath,
  target: absolutePath,
  /** none/passthrough: real owners on the host; mapped-xattr: guest owners kept in user.virtfs.* xattrs. */
  securityModel: z.enum(['none', 'mapped-xattr', 'passthrough']).default('none'),
  msize: z
    .number({ error: 'Enter msize in bytes' })
    .int()
    .min(4096, 'At least 4096 bytes')
    .max(MSIZE_MAX, `At most ${MSIZE_MAX}: QEMU caps msize there`)
    .default(16384),
})
export type SharedDirectory = z.infer<typeof sharedDirectorySchema>

/** The command that mounts a share in a Linux guest. */
export function mountCommand(share: SharedDirectory): string {
  return `mount -t 9p -o trans=virtio,version=9p2000.L,msize=${share.msize} ${share.tag} ${share.target}`
}
