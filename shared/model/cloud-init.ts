import { z } from 'zod'

/** An OpenSSH public key line: type, base64 body, optional comment. */
export const sshPublicKeySchema = z
  .string()
  .trim()
  .max(16 * 1024, 'An SSH public key is at most 16 KiB')
  .regex(/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$/, 'Not an SSH public key: paste a line of a .pub file (ssh-ed25519 AAAA… you@host)')

/**
 * A cloud image's first boot (cloud-init's NoCloud data source): Berth writes the seed from these
 * fields, or passes the person's own user-data instead.
 */
export const cloudInitSchema = z
  .object({
    hostname: z
      .string()
      .trim()
      .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'A host name is 1 to 63 letters, digits and dashes, not starting or ending with a dash'),
    user: z.string().trim().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'A user name is 1 to 32 lower-case letters, digits, - or _, starting with a letter or _'),
    /** The password as a SHA-512 crypt hash (Berth hashes what the person types): never the password itself. */
    passwordHash: z.string().regex(/^\$6\$[A-Za-z0-9./]{1,16}\$[A-Za-z0-9./]{86}$/, 'Not a SHA-512 crypt hash').nullable().default(null),
    sshKeys: z.array(sshPublicKeySchema).max(16, 'At most 16 keys').default([]),
    /** The person's own user-data (#cloud-config, a script...), passed instead of what Berth writes from the fields. */
    userData: z.string().max(64 * 1024, 'At most 64 KiB of user-data').nullable().default(null),
  })
  .superRefine((c, ctx) => {
    if (c.userData === null && c.passwordHash === null && c.sshKeys.length === 0)
      ctx.addIssue({ code: 'custom', path: ['sshKeys'], message: `Give ${c.user || 'the user'} a password or an SSH key, or nobody can log in` })
  })
export type CloudInit = z.infer<typeof cloudInitSchema>
