// Hosts Berth manages machines on: this machine, or another one over SSH with its host key pinned.
import { z } from 'zod'
import { absolutePath } from './zod-fields'

export const hostIdSchema = z.string().regex(/^(local|h[a-z0-9]{10})$/, 'Not a host id')

/** How Berth logs in: a private key file, or the keys of the running ssh-agent. */
export const sshAuthSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('key'), keyFile: absolutePath }),
  z.object({ kind: z.literal('agent') }),
])

export const sshTargetSchema = z.object({
  address: z
    .string()
    .trim()
    .min(1, 'Enter the host name or address')
    .max(253, 'At most 253 characters')
    .regex(/^[A-Za-z0-9.:-]+$/, 'A host name or an IP address (letters, digits, dots, dashes, colons)'),
  port: z.number({ error: 'Enter a port number' }).int('Use a whole number').min(1, 'Ports start at 1').max(65535, 'Ports end at 65535').default(22),
  user: z
    .string()
    .trim()
    .min(1, 'Enter the user to log in as')
    .max(32, 'At most 32 characters')
    .regex(/^[a-z_][a-z0-9_.-]*$/, 'A user name of lower-case letters, digits, dots, dashes and underscores'),
  auth: sshAuthSchema,
})
export type SshTarget = z.infer<typeof sshTargetSchema>

/** OpenSSH's form: SHA256:base64 without padding. */
export const fingerprintSchema = z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'A SHA256 host key fingerprint')

export const remoteHostSpecSchema = z.object({
  name: z.string().trim().min(1, 'Give the host a name').max(63, 'At most 63 characters'),
  ssh: sshTargetSchema,
  /** The host key the person accepted on first use; any other key is refused. */
  hostKey: z.object({ algorithm: z.string().max(64), fingerprint: fingerprintSchema }),
})
export type RemoteHostSpec = z.infer<typeof remoteHostSpecSchema>

/** What is stored for each remote host. */
export const remoteHostSchema = remoteHostSpecSchema.extend({ id: hostIdSchema, addedAt: z.string() })
export type RemoteHost = z.infer<typeof remoteHostSchema>

/** What dom0 says about its Xen: the dom0 panel. */
export const dom0InfoSchema = z.object({
  xenVersion: z.string(),
  /** The hypervisor's command line (NixOS's bootParams: dom0_mem, loglvl, …). */
  commandLine: z.string(),
  dom0MemoryMiB: z.number(),
  totalMemoryMiB: z.number(),
  freeMemoryMiB: z.number(),
  /** pv, hvm, hap, … */
  virtCaps: z.array(z.string()),
  cpus: z.number(),
  scheduler: z.string(),
  daemons: z.object({ xenstored: z.boolean(), xenconsoled: z.boolean() }),
})
export type Dom0Info = z.infer<typeof dom0InfoSchema>

export const domainStateSchema = z.enum(['running', 'blocked', 'paused', 'shutdown', 'crashed', 'dying', 'unknown'])
export const domainSchema = z.object({
  id: z.number(),
  name: z.string(),
  memoryMiB: z.number(),
  vcpus: z.number(),
  state: domainStateSchema,
  cpuSeconds: z.number(),
})
export type Domain = z.infer<typeof domainSchema>

export const hostViewSchema = z.object({
  id: hostIdSchema,
  name: z.string(),
  /** null: this machine. */
  ssh: sshTargetSchema.nullable(),
  fingerprint: fingerprintSchema.nullable(),
  connection: z.enum(['connected', 'connecting', 'failed', 'idle']),
  /** Why the last connection or command failed, naming the host and the cause. */
  error: z.string().nullable(),
  /** Set once Berth has found Xen's toolstack (xl) working there. */
  xen: z.boolean(),
})
export type HostView = z.infer<typeof hostViewSchema>
