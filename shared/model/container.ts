// A systemd-nspawn container: containers.nix's per-container options, with the module's meaning.
import { z } from 'zod'
import { absolutePath } from './zod-fields'
import { machineNameSchema } from './machine-name'
import { interfaceNameSchema, ipv4, ipv6 } from './net'

export { interfaceNameSchema }

const port = z.number({ error: 'Enter a port number' }).int('Use a whole number').min(1, 'Ports start at 1').max(65535, 'Ports end at 65535')

/** Capabilities systemd-nspawn knows (capability(7)); `all` grants every one. */
export const capabilities = [
  'CAP_AUDIT_CONTROL', 'CAP_AUDIT_READ', 'CAP_AUDIT_WRITE', 'CAP_BLOCK_SUSPEND', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_KILL', 'CAP_LEASE', 'CAP_LINUX_IMMUTABLE', 'CAP_MAC_ADMIN', 'CAP_MAC_OVERRIDE', 'CAP_MKNOD', 'CAP_NET_ADMIN',
  'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_RAW', 'CAP_PERFMON', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP',
  'CAP_SETUID', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_CHROOT', 'CAP_SYS_MODULE', 'CAP_SYS_NICE', 'CAP_SYS_PACCT',
  'CAP_SYS_PTRACE', 'CAP_SYS_RAWIO', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'all',
] as const
const capabilitySchema = z
  .string()
  .trim()
  .transform((c) => (c === 'all' ? c : c.toUpperCase().startsWith('CAP_') ? c.toUpperCase() : `CAP_${c.toUpperCase()}`))
  .superRefine((c, ctx) => {
    if (!(capabilities as readonly string[]).includes(c))
      ctx.addIssue({ code: 'custom', message: `${c} is not a Linux capability (see capabilities(7)), e.g. CAP_NET_ADMIN` })
  })

/** Addresses of a veth pair, as the module configures them on both ends. */
const addressesShape = {
  hostAddress: ipv4.nullable().default(null),
  hostAddress6: ipv6.nullable().default(null),
  localAddress: ipv4.nullable().default(null),
  localAddress6: ipv6.nullable().default(null),
}

export const forwardedPortSchema = z.object({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  hostPort: port,
  /** The module's default: the same as hostPort. */
  containerPort: port.nullable().default(null),
})

export const extraVethSchema = z.object({
  /** The interface name, the same on both sides (nspawn's --network-veth-extra=NAME). */
  name: interfaceNameSchema,
  hostBridge: interfaceNameSchema.nullable().default(null),
  ...addressesShape,
})

/** nspawn's --bind=SOURCE:TARGET[:OPTIONS] splits on colons: one in a path would change the mount. */
const bindPath = absolutePath.refine((p) => !p.includes(':'), 'A bind mount path cannot contain a colon (systemd-nspawn splits on it)')

export const bindMountSchema = z.object({
  mountPoint: bindPath,
  /** The module's default: the same path as mountPoint. */
  hostPath: bindPath.nullable().default(null),
  isReadOnly: z.boolean().default(true),
})

export const allowedDeviceSchema = z.object({
  node: absolutePath
    .refine((p) => p.startsWith('/dev/') && !p.split('/').some((part) => part === '..' || part === '.'), 'A device node lives under /dev/, e.g. /dev/net/tun')
    .refine((p) => !p.includes(':'), 'A device path cannot contain a colon'),
  modifier: z.string().trim().regex(/^(?!.*(.).*\1)[rwm]{1,3}$/, 'Use a combination of r (read), w (write) and m (mknod), e.g. rw'),
})

/** Not for extraFlags: Berth sets these itself. */
export function forbiddenNspawnFlag(flag: string): string | null {
  // A short option takes its value attached (-D/srv): its name is the first two characters.
  const name = flag.startsWith('--') ? flag.split('=')[0]! : flag.slice(0, 2)
  if (/^(-D|--directory|-M|--machine|--register|--keep-unit|--console|-i|--image|--settings|-q|--quiet|-b|--boot|--ephemeral|-x|--notify-ready)$/.test(name))
    return `${name} is managed by Berth and cannot be given as an extra flag`
  if (!name.startsWith('-')) return `"${flag}" is not a flag: extra flags start with - or --`
  return null
}

export const containerInitSchema = z.discriminatedUnion('type', [
  /** Run the tree's own init (systemd, busybox init, …) like a booted machine (--boot). */
  z.object({ type: z.literal('boot') }),
  /** Run one program inside: the container ends when it exits. */
  z.object({
    type: z.literal('command'),
    argv: z
      .array(z.string().min(1).max(4096).refine((a) => !/[\0\n\r]/.test(a), 'An argument cannot contain a line break'))
      .min(1, 'Enter the program to run, e.g. /bin/sh')
      .max(256),
  }),
])

export const nspawnSpecSchema = z
  .object({
    kind: z.literal('nspawn'),
    name: machineNameSchema,
    /** The container's root file system (containers.nix's path); /var/lib/machines/NAME when Berth made it. */
    root: absolutePath,
    init: containerInitSchema.default({ type: 'boot' }),
    privateNetwork: z.boolean().default(false),
    hostBridge: interfaceNameSchema.nullable().default(null),
    ...addressesShape,
    forwardPorts: z.array(forwardedPortSchema).max(64, 'At most 64 forwarded ports').default([]),
    /** Host interfaces moved into the container. */
    interfaces: z.array(interfaceNameSchema).max(16).default([]),
    /** Host interfaces the container gets a macvlan of. */
    macvlans: z.array(interfaceNameSchema).max(16).default([]),
    extraVeths: z.array(extraVethSchema).max(16).default([]),
    bindMounts: z.array(bindMountSchema).max(64, 'At most 64 bind mounts').default([]),
    /** Mount points of tmpfs file systems, optionally with mount options: /tmp:mode=1777,size=64M. */
    tmpfs: z
      .array(z.string().trim().regex(/^\/[^:\0-\x1f]*(:[A-Za-z0-9=,._-]+)?$/, 'Use an absolute path, optionally followed by :options (e.g. /tmp:size=64M)'))
      .max(32)
      .default([]),
    allowedDevices: z.array(allowedDeviceSchema).max(32).default([]),
    additionalCapabilities: z.array(capabilitySchema).max(64).default([]),
    /** Adds /dev/net/tun (rwm) and CAP_NET_ADMIN, as the module does. */
    enableTun: z.boolean().default(false),
    /** Runs on a throw-away copy of the root: every change is gone when it stops. */
    ephemeral: z.boolean().default(false),
    /** Started when Berth's service starts. */
    autoStart: z.boolean().default(false),
    /**
     * Started means the container's init said it is ready (sd_notify READY=1, as systemd does): the
     * module's Type=notify unit. Off: started once its init runs and its network is set up.
     */
    notifyReady: z.boolean().default(false),
    /** How long starting may take (up to ready, with notifyReady); then the container is killed. */
    timeoutStartSec: z.number({ error: 'Enter a number of seconds' }).int('Use whole seconds').min(1, 'At least 1 second').max(3600, 'At most an hour').default(60),
    extraFlags: z
      .array(z.string().min(1).max(4096))
      .max(64)
      .default([])
      .superRefine((flags, ctx) => {
        flags.forEach((flag, i) => {
          const why = forbiddenNspawnFlag(flag)
          if (why) ctx.addIssue({ code: 'custom', path: [i], message: why })
        })
      }),
  })
  .superRefine((spec, ctx) => {
    // The module's assertion: interface names (ve-NAME, vb-NAME) are derived from the name.
    if (spec.privateNetwork && spec.name.length > 11)
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: `Container names with private networking can be at most 11 characters long: interface names are derived from them (this one has ${spec.name.length})`,
      })
    const addressed = spec.hostAddress || spec.hostAddress6 || spec.localAddress || spec.localAddress6
    if ((addressed || spec.hostBridge || spec.forwardPorts.length > 0) && !spec.privateNetwork)
      ctx.addIssue({
        code: 'custom',
        path: ['privateNetwork'],
        message: 'Addresses, a host bridge and forwarded ports need private networking: turn it on',
      })
    if (spec.forwardPorts.length > 0 && !addressed && !spec.hostBridge)
      ctx.addIssue({
        code: 'custom',
        path: ['forwardPorts'],
        message: 'Forwarded ports need a veth: give the container addresses or a host bridge',
      })
    const seen = new Set<string>()
    spec.forwardPorts.forEach((rule, i) => {
      const key = `${rule.protocol}:${rule.hostPort}`
      if (seen.has(key))
        ctx.addIssue({ code: 'custom', path: ['forwardPorts', i, 'hostPort'], message: `Host port ${rule.hostPort}/${rule.protocol} is forwarded twice` })
      seen.add(key)
    })
    const mounts = new Set<string>()
    spec.bindMounts.forEach((mount, i) => {
      if (mounts.has(mount.mountPoint))
        ctx.addIssue({ code: 'custom', path: ['bindMounts', i, 'mountPoint'], message: `${mount.mountPoint} is mounted twice` })
      mounts.add(mount.mountPoint)
    })
  })
export type NspawnSpec = z.infer<typeof nspawnSpecSchema>
export type NspawnSpecInput = z.input<typeof nspawnSpecSchema>

/** The root file systems Berth can make for a container. */
export const rootSourceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('tarball'), file: absolutePath }),
  z.object({
    type: z.literal('debootstrap'),
    suite: z.string().trim().regex(/^[a-z][a-z0-9-]{1,31}$/, 'Enter a Debian suite like bookworm or trixie'),
    variant: z.enum(['minbase', 'buildd', 'fakechroot', 'standard']).default('minbase'),
    /** Extra packages, e.g. systemd to boot it. */
    include: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, 'Not a Debian package name')).max(64).default([]),
  }),
])
export type RootSource = z.infer<typeof rootSourceSchema>
