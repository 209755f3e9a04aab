// The privileged helper's allow-list: each verb, the exact shape of its arguments, and the argv it
// runs. Nothing else can be asked of it.
import { z } from 'zod'
import { closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { interfaceNameSchema, ipv4, ipv6 } from '../../shared/model/net'
import { allowedModuleNames } from '../../shared/model/readiness'
import { xenVerbSchemas } from './xen-verbs'
import { containerVerbSchemas } from './containers'
import { Refusal } from './refusal'
import { makeBridgeSteps } from '../main/hosts/bridges'
import { numberedMac, vlanAddress, vlanAddressing, vlanBridgeName } from '../main/backends/qemu/ids'


const name = interfaceNameSchema
const plainIpv4 = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, 'An IPv4 address without prefix').pipe(ipv4)
const subnet4 = ipv4.refine((a) => a.includes('/'), 'A subnet with its prefix length, e.g. 10.0.0.0/24')

export const verbSchemas = {
  'bridge.create': z.object({ name }).strict(),
  'bridge.delete': z.object({ name }).strict(),
  /** Enslaves a link to a bridge (master) or frees it (null). */
  'link.master': z.object({ name, master: name.nullable() }).strict(),
  'address.add': z.object({ name, address: z.union([ipv4, ipv6]) }).strict(),
  'address.del': z.object({ name, address: z.union([ipv4, ipv6]) }).strict(),
  /** The default route, through a gateway on an interface (when an uplink's addresses move to a bridge). */
  'route.default': z.object({ via: plainIpv4, dev: name }).strict(),
  /** The tap's owner is always the caller. */
  'tap.create': z.object({ name, bridge: name.nullable() }).strict(),
  'tap.delete': z.object({ name }).strict(),
  'module.load': z.object({ name: z.enum(allowedModuleNames) }).strict(),
  'nat.enable': z.object({ bridge: name, uplink: name, subnet: subnet4 }).strict(),
  'nat.disable': z.object({ bridge: name }).strict(),
  'dhcp.start': z.object({ bridge: name, from: plainIpv4, to: plainIpv4 }).strict(),
  'dhcp.stop': z.object({ bridge: name }).strict(),
  /** A vlan's bridge becomes 192.168.N.254 with a DHCP server for the module's 192.168.N.M addresses. */
  'vlan.serve': z.object({ vlan: z.number().int().min(1).max(vlanAddressing.lastVlan) }).strict(),
  ...containerVerbSchemas,
  ...xenVerbSchemas,
} as const
export type Verb = keyof typeof verbSchemas
export type VerbArgs<V extends Verb> = z.infer<(typeof verbSchemas)[V]>

/** What each verb answers, as the RPC's method table says for its methods: the client is typed by it. */
export type VerbResults = { [V in Verb]: V extends keyof SpecialResults ? SpecialResults[V] : null }
interface SpecialResults {
  'container.start': { pid: number }
  /** capabilities, info, list: { output }; daemons: whether xenstored and xenconsoled run. */
  'xen.query': { output: string | null } | { xenstored: boolean; xenconsoled: boolean }
}

export const requestSchema = z
  .object({
    id: z.number().int().min(0).max(2 ** 53),
    verb: z.string().max(64),
    args: z.unknown(),
  })
  .strict()

export { Refusal }

const isKind = (link: string, kind: 'bridge' | 'tun') =>
  existsSync(join('/sys/class/net', link, kind === 'bridge' ? 'bridge' : 'tun_flags'))

/** nftables table of a bridge's NAT (one per bridge, so disabling removes exactly it). */
const natTable = (bridge: string) => `berth_${bridge.replace(/[^A-Za-z0-9_]/g, '_')}`

/** A pid file of the helper's own (in root's state folder), never through a symlink. */
function readPidFile(file: string): string {
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      return readFileSync(fd, 'utf8').trim()
    } finally {
      closeSync(fd)
    }
  } catch {
    return ''
  }
}

/** The links the helper made for this caller: only those are changed or removed. */
export interface MadeLinks {
  has(kind: 'bridge' | 'tap', name: string): boolean
}

export interface VerbContext {
  /** Where dnsmasq's pid and lease files go: root's own folder (/run/berth/UID), never the user's. */
  stateDir: string
  made: MadeLinks
  /** The caller's uid: the owner of every tap. */
  owner: number
  /** Goes on only if what goes beyond the policy is approved (policy.ts requireApproval). */
  approve(what: string, reasons: string[]): void
}

/** The programs the helper runs, at fixed paths. */
export const programPaths: Record<string, string> = {
  ip: '/usr/sbin/ip',
  nft: '/usr/sbin/nft',
  sysctl: '/usr/sbin/sysctl',
  dnsmasq: '/usr/sbin/dnsmasq',
  modprobe: '/usr/sbin/modprobe',
  kill: '/usr/bin/kill',
}

/** The commands a verb runs, in order (argv arrays; never a shell). */
export function commandsFor<V extends Verb>(verb: V, args: VerbArgs<V>, context: VerbContext): string[][] {
  // Checked by the verb's schema already: read as one flat record.
  const a = args as unknown as {
    name: string; master: string | null; address: string; owner: number; bridge: string | null
    uplink: string; subnet: string; from: string; to: string; via: string; dev: string; vlan: number
  }
  const { made } = context
  const own = (name: string) => made.has('bridge', name) || made.has('tap', name)
  /** A bridge this caller made, or a refusal saying so. */
  const ownBridge = (bridge: string, doing: string) => {
    if (!made.has('bridge', bridge)) throw new Refusal(`${bridge} is not a bridge Berth made: the helper ${doing} only on its own bridges`)
  }
  /** Someone else's interface (the host's uplink, a system bridge): beyond the policy. */
  const foreign = (name: string, what: string, reason: string) => {
    if (!own(name)) context.approve(what, [reason])
  }
  switch (verb) {
    case 'bridge.create':
      return makeBridgeSteps(a.name)
    case 'bridge.delete':
      if (!isKind(a.name, 'bridge')) throw new Refusal(`${a.name} is not a bridge`)
      ownBridge(a.name, 'deletes')
      return [['ip', 'link', 'del', a.name]]
    case 'link.master':
      if (a.master) ownBridge(a.master, 'adds interfaces')
      foreign(a.name, `Putting ${a.name} into a bridge`, `${a.name} is the host's own interface`)
      return [a.master ? ['ip', 'link', 'set', a.name, 'master', a.master, 'up'] : ['ip', 'link', 'set', a.name, 'nomaster']]
    case 'address.add':
    case 'address.del':
      foreign(a.name, `Changing the addresses of ${a.name}`, `${a.name} is the host's own interface`)
      return [['ip', ...(String(a.address).includes(':') ? ['-6'] : []), 'addr', verb === 'address.add' ? 'add' : 'del', a.address, 'dev', a.name]]
    case 'route.default':
      context.approve("Changing the host's default route", [`it sends the host's traffic through ${a.dev}`])
      return [['ip', 'route', 'replace', 'default', 'via', a.via, 'dev', a.dev]]
    case 'tap.create':
      if (a.bridge && !made.has('bridge', a.bridge)) context.approve(`Joining ${a.bridge}`, [`${a.bridge} is a bridge Berth did not make`])
      return [
        ['ip', 'tuntap', 'add', 'dev', a.name, 'mode', 'tap', 'user', String(context.owner)],
        a.bridge ? ['ip', 'link', 'set', a.name, 'master', a.bridge, 'up'] : ['ip', 'link', 'set', a.name, 'up'],
      ]
    case 'tap.delete':
      if (!isKind(a.name, 'tun')) throw new Refusal(`${a.name} is not a tap device`)
      if (!made.has('tap', a.name)) throw new Refusal(`${a.name} is not a tap Berth made: the helper deletes only its own taps`)
      return [['ip', 'tuntap', 'del', 'dev', a.name, 'mode', 'tap']]
    case 'module.load':
      return [['modprobe', '--', a.name]]
    case 'nat.enable': {
      ownBridge(a.bridge!, 'sets up NAT')
      const prefix = Number(a.subnet.split('/')[1])
      if (prefix < 8 || prefix > 30) throw new Refusal(`${a.subnet} is not a bridge's subnet: NAT is for a subnet of /8 to /30`)
      const table = natTable(a.bridge!)
      return [
        ['sysctl', '-w', 'net.ipv4.ip_forward=1'],
        ['nft', 'add', 'table', 'ip', table],
        ['nft', 'add', 'chain', 'ip', table, 'postrouting', '{ type nat hook postrouting priority 100 ; }'],
        ['nft', 'add', 'rule', 'ip', table, 'postrouting', 'ip', 'saddr', a.subnet, 'oifname', a.uplink, 'masquerade'],
      ]
    }
    case 'nat.disable':
      ownBridge(a.bridge!, 'removes NAT')
      return [['nft', 'delete', 'table', 'ip', natTable(a.bridge!)]]
    case 'dhcp.start':
      ownBridge(a.bridge!, 'serves DHCP')
      return [dnsmasq(a.bridge!, a.from, a.to, [], context.stateDir)]
    case 'vlan.serve': {
      const bridge = vlanBridgeName(a.vlan)
      ownBridge(bridge, 'serves DHCP')
      const numbers = Array.from({ length: vlanAddressing.lastNumber }, (_, i) => i + 1)
      const [from, to] = vlanAddressing.pool.map((n) => vlanAddress(a.vlan, n)) as [string, string]
      return [
        ['ip', 'addr', 'add', `${vlanAddress(a.vlan, vlanAddressing.host)}/24`, 'dev', bridge],
        dnsmasq(bridge, from, to, numbers.map((n) => `${numberedMac(a.vlan, n)},${vlanAddress(a.vlan, n)}`), context.stateDir),
      ]
    }
    case 'dhcp.stop': {
      const pid = readPidFile(join(context.stateDir, `dnsmasq-${a.bridge!}.pid`))
      if (!/^\d+$/.test(pid)) throw new Refusal(`No DHCP server of Berth runs on ${a.bridge!}`)
      return [['kill', '--', pid]]
    }
    default:
      throw new Refusal(`${verb} runs no command`)
  }
}

/**
 * A DHCP server on a bridge of Berth's: a range, reservations (MAC,address), its pid file in root's folder.
 * Leases live only in its memory: it starts with its bridge, so a lease kept from an earlier bridge of that
 * name would be stale and could hold a reserved address for a card that no longer exists.
 */
function dnsmasq(bridge: string, from: string, to: string, hosts: string[], stateDir: string): string[] {
  return [
    'dnsmasq',
    `--interface=${bridge}`,
    '--bind-interfaces',
    '--except-interface=lo',
    '--port=0',
    `--dhcp-range=${from},${to},12h`,
    ...hosts.map((host) => `--dhcp-host=${host}`),
    `--pid-file=${join(stateDir, `dnsmasq-${bridge}.pid`)}`,
    '--leasefile-ro',
  ]
}
