// Host bridges for machines: the Networks page. Berth makes bridges through the privileged helper,
// remembers what it made (config/networks.json, written atomically) and removes only that.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BerthError, fieldErrors, type FieldErrors } from '../../../shared/errors'
import { bridgeSpecSchema, type BridgeSpec, type BridgeView } from '../../../shared/model/bridge'
import type { MachineKind } from '../../../shared/model/machine'
import { exec } from '../exec'
import type { PrivilegedHelper } from '../privileged'
import { writeFileAtomic } from '../store/atomic-write'

interface HostAddress {
  local: string
  prefixlen: number
  family: 'inet' | 'inet6'
  scope: string
}

const sysNet = '/sys/class/net'
const linkExists = (name: string) => existsSync(join(sysNet, name))
const isBridge = (name: string) => existsSync(join(sysNet, name, 'bridge'))

async function addressesOf(name: string): Promise<HostAddress[]> {
  const { stdout } = await exec(['ip', '-j', 'addr', 'show', 'dev', name])
  const [link] = JSON.parse(stdout) as { addr_info?: HostAddress[] }[]
  return (link?.addr_info ?? []).filter((a) => a.scope === 'global')
}

async function defaultGateway(dev: string): Promise<string | null> {
  const { stdout } = await exec(['ip', '-j', 'route', 'show', 'default', 'dev', dev])
  return (JSON.parse(stdout) as { gateway?: string }[])[0]?.gateway ?? null
}

const toInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0)
/** Whether ip lies in the subnet of address/prefix. */
function inSubnet(ip: string, cidr: string): boolean {
  const [base, prefix] = cidr.split('/')
  const mask = Number(prefix) === 0 ? 0 : (0xffffffff << (32 - Number(prefix))) >>> 0
  return ((toInt(ip) & mask) >>> 0) === ((toInt(base!) & mask) >>> 0)
}
/** The network address of a CIDR (10.231.150.1/24 → 10.231.150.0/24), for NAT rules. */
function subnetOf(cidr: string): string {
  const [base, prefix] = cidr.split('/')
  const mask = Number(prefix) === 0 ? 0 : (0xffffffff << (32 - Number(prefix))) >>> 0
  const n = (toInt(base!) & mask) >>> 0
  return `${[24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.')}/${prefix}`
}

async function hasCommand(command: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']))
    if (existsSync(join(dir, command))) return true
  return false
}

export class NetworkService {
  private made: BridgeSpec[] = []

  constructor(
    private readonly file: string,
    private readonly privileged: PrivilegedHelper,
    /** Each machine with the bridges on this computer it joins (its backend says which). */
    private readonly bridgeUsers: () => { id: string; name: string; kind: MachineKind; bridges: string[] }[],
    private readonly isRunning: (id: string) => boolean,
  ) {}

  async init(): Promise<void> {
    const text = await readFile(this.file, 'utf8').catch(() => '[]')
    const parsed = bridgeSpecSchema.array().safeParse(JSON.parse(text))
    this.made = parsed.success ? parsed.data : []
  }

  private save(): Promise<void> {
    return writeFileAtomic(this.file, JSON.stringify(this.made, null, 2))
  }

  private usersOf(bridge: string): BridgeView['usedBy'] {
    return this.bridgeUsers()
      .filter((user) => user.bridges.includes(bridge))
      .map(({ id, name, kind }) => ({ id, name, kind }))
  }

  async list(): Promise<BridgeView[]> {
    const names = readdirSync(sysNet).filter(isBridge).sort()
    const views: BridgeView[] = []
    for (const name of names) {
      const operstate = readFileSync(join(sysNet, name, 'operstate'), 'utf8').trim()
      const flags = Number.parseInt(readFileSync(join(sysNet, name, 'flags'), 'utf8'), 16)
      views.push({
        name,
        spec: this.made.find((b) => b.name === name) ?? null,
        up: operstate === 'up' || (flags & 1) === 1,
        addresses: (await addressesOf(name).catch(() => [])).map((a) => `${a.local}/${a.prefixlen}`),
        members: readdirSync(join(sysNet, name, 'brif')).sort(),
        usedBy: this.usersOf(name),
      })
    }
    return views
  }

  /** Host-side checks of a new bridge: names free, interfaces present, tools installed. */
  private async check(spec: BridgeSpec): Promise<void> {
    const fields: FieldErrors = {}
    if (linkExists(spec.name)) fields.name = `This host already has an interface named ${spec.name}: choose another name`
    if (spec.uplink && !linkExists(spec.uplink)) fields.uplink = `This host has no interface ${spec.uplink}`
    else if (spec.uplink && existsSync(join(sysNet, spec.uplink, 'master')))
      fields.uplink = `${spec.uplink} already belongs to a bridge`
    if (spec.natUplink && !linkExists(spec.natUplink)) fields.natUplink = `This host has no interface ${spec.natUplink}`
    else if (spec.natUplink && !(await hasCommand('nft'))) fields.natUplink = 'NAT needs nftables: apt-get install nftables'
    if (spec.dhcp) {
      if (!(await hasCommand('dnsmasq'))) fields.dhcp = 'DHCP needs dnsmasq: apt-get install dnsmasq-base'
      else if (spec.address && (!inSubnet(spec.dhcp.from, spec.address) || !inSubnet(spec.dhcp.to, spec.address)))
        fields.dhcp = `The range must lie in the bridge's subnet ${subnetOf(spec.address)}`
      else if (toInt(spec.dhcp.from) > toInt(spec.dhcp.to)) fields.dhcp = 'The range starts after it ends'
    }
    if (Object.keys(fields).length > 0) throw fieldErrors(fields)
  }

  async create(spec: BridgeSpec): Promise<BridgeView> {
    await this.check(spec)
    const ask = this.privileged.request.bind(this.privileged)
    const undo: (() => Promise<unknown>)[] = []
    try {
      await ask('bridge.create', { name: spec.name })
      undo.push(() => ask('bridge.delete', { name: spec.name }))
      if (spec.address) await ask('address.add', { name: spec.name, address: spec.address })
      if (spec.address6) await ask('address.add', { name: spec.name, address: spec.address6 })
      if (spec.uplink) await this.enslave(spec.name, spec.uplink, undo)
      if (spec.natUplink && spec.address) {
        await ask('nat.enable', { bridge: spec.name, uplink: spec.natUplink, subnet: subnetOf(spec.address) })
        undo.push(() => ask('nat.disable', { bridge: spec.name }))
      }
      if (spec.dhcp) {
        await ask('dhcp.start', { bridge: spec.name, ...spec.dhcp })
        undo.push(() => ask('dhcp.stop', { bridge: spec.name }))
      }
    } catch (error) {
      for (const step of undo.reverse()) await step().catch(() => undefined)
      throw error
    }
    this.made = [...this.made.filter((b) => b.name !== spec.name), spec]
    await this.save()
    return (await this.list()).find((b) => b.name === spec.name)!
  }

  /** The uplink joins the bridge; its addresses (and default route) move to the bridge with it. */
  private async enslave(bridge: string, uplink: string, undo: (() => Promise<unknown>)[]): Promise<void> {
    const ask = this.privileged.request.bind(this.privileged)
    const addresses = await addressesOf(uplink)
    const gateway = await defaultGateway(uplink)
    await ask('link.master', { name: uplink, master: bridge })
    undo.push(() => ask('link.master', { name: uplink, master: null }))
    for (const a of addresses) {
      const address = `${a.local}/${a.prefixlen}`
      await ask('address.del', { name: uplink, address })
      undo.push(() => ask('address.add', { name: uplink, address }))
      await ask('address.add', { name: bridge, address })
    }
    if (gateway) await ask('route.default', { via: gateway, dev: bridge })
  }

  async remove(name: string): Promise<void> {
    const spec = this.made.find((b) => b.name === name)
    if (!spec) throw new BerthError('conflict', `Berth did not make ${name}: it removes only bridges it made`)
    const running = this.usersOf(name).filter((m) => this.isRunning(m.id))
    if (running.length > 0)
      throw new BerthError('conflict', `${running.map((m) => m.name).join(', ')} ${running.length > 1 ? 'use' : 'uses'} ${name}: stop ${running.length > 1 ? 'them' : 'it'} first`)
    const ask = this.privileged.request.bind(this.privileged)
    if (isBridge(name)) {
      if (spec.dhcp) await ask('dhcp.stop', { bridge: name }).catch(() => undefined)
      if (spec.natUplink) await ask('nat.disable', { bridge: name }).catch(() => undefined)
      if (spec.uplink && linkExists(spec.uplink)) {
        // The uplink gets its addresses and default route back.
        const own = [spec.address, spec.address6]
        const addresses = (await addressesOf(name)).filter((a) => !own.includes(`${a.local}/${a.prefixlen}`))
        const gateway = await defaultGateway(name)
        await ask('link.master', { name: spec.uplink, master: null })
        for (const a of addresses) await ask('address.add', { name: spec.uplink, address: `${a.local}/${a.prefixlen}` }).catch(() => undefined)
        if (gateway) await ask('route.default', { via: gateway, dev: spec.uplink }).catch(() => undefined)
      }
      await ask('bridge.delete', { name })
    }
    this.made = this.made.filter((b) => b.name !== name)
    await this.save()
  }
}
