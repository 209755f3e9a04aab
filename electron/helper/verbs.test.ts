import { describe, expect, it } from 'vitest'
import { commandsFor, Refusal, verbSchemas, type Verb, type VerbArgs, type VerbContext } from './verbs'

const made = { bridge: ['br0', 'br-lab', 'berth-vlan7'], tap: ['bt-x'] }
/** A caller (uid 1000) for whom nothing beyond the policy is approved. */
const asked: string[] = []
const context: VerbContext = {
  stateDir: '/run/berth/1000',
  owner: 1000,
  made: { has: (kind, name) => made[kind].includes(name) },
  approve: (what, reasons) => {
    asked.push(what)
    throw new Refusal(`${what} needs an administrator's password, which was not given: ${reasons.join('; ')}`)
  },
}
const parse = <V extends Verb>(verb: V, args: unknown) => verbSchemas[verb].parse(args) as VerbArgs<V>

describe('helper verbs → argv', () => {
  it('bridges, addresses, masters and taps', () => {
    expect(commandsFor('bridge.create', parse('bridge.create', { name: 'br0' }), context)).toEqual([
      ['ip', 'link', 'add', 'br0', 'type', 'bridge'],
      ['ip', 'link', 'set', 'br0', 'up'],
    ])
    expect(commandsFor('address.add', parse('address.add', { name: 'br0', address: 'fd00::1/64' }), context)).toEqual([
      ['ip', '-6', 'addr', 'add', 'fd00::1/64', 'dev', 'br0'],
    ])
    expect(commandsFor('link.master', parse('link.master', { name: 'bt-x', master: null }), context)).toEqual([['ip', 'link', 'set', 'bt-x', 'nomaster']])
    expect(commandsFor('tap.create', parse('tap.create', { name: 'bt-x', bridge: 'br0' }), context)).toEqual([
      ['ip', 'tuntap', 'add', 'dev', 'bt-x', 'mode', 'tap', 'user', '1000'],
      ['ip', 'link', 'set', 'bt-x', 'master', 'br0', 'up'],
    ])
  })

  it('NAT is one nftables table per bridge; DHCP is dnsmasq bound to the bridge only', () => {
    const nat = commandsFor('nat.enable', parse('nat.enable', { bridge: 'br-lab', uplink: 'eth0', subnet: '10.0.0.0/24' }), context)
    expect(nat.at(-1)).toEqual(['nft', 'add', 'rule', 'ip', 'berth_br_lab', 'postrouting', 'ip', 'saddr', '10.0.0.0/24', 'oifname', 'eth0', 'masquerade'])
    expect(commandsFor('nat.disable', parse('nat.disable', { bridge: 'br-lab' }), context)).toEqual([['nft', 'delete', 'table', 'ip', 'berth_br_lab']])
    const [dnsmasq] = commandsFor('dhcp.start', parse('dhcp.start', { bridge: 'br-lab', from: '10.0.0.10', to: '10.0.0.20' }), context)
    expect(dnsmasq).toEqual(expect.arrayContaining(['--interface=br-lab', '--bind-interfaces', '--port=0', '--dhcp-range=10.0.0.10,10.0.0.20,12h']))
  })

  it("serves a vlan the module's 192.168.N.M addresses from the vlan number alone", () => {
    const [address, server] = commandsFor('vlan.serve', parse('vlan.serve', { vlan: 7 }), context)
    expect(address).toEqual(['ip', 'addr', 'add', '192.168.7.254/24', 'dev', 'berth-vlan7'])
    expect(server).toEqual(expect.arrayContaining(['--interface=berth-vlan7', '--dhcp-range=192.168.7.200,192.168.7.250,12h', '--dhcp-host=52:54:01:00:07:01,192.168.7.1', '--dhcp-host=52:54:01:00:07:c7,192.168.7.199']))
    expect(() => commandsFor('vlan.serve', parse('vlan.serve', { vlan: 8 }), context)).toThrow('berth-vlan8 is not a bridge Berth made')
    expect(verbSchemas['vlan.serve'].safeParse({ vlan: 255 }).success).toBe(false)
  })

  it("acts only on links it made for the caller; the host's own need an administrator", () => {
    const refusal = (verb: Verb, args: unknown) => {
      try {
        commandsFor(verb, parse(verb, args), context)
      } catch (error) {
        return (error as Error).message
      }
      return 'carried out'
    }
    // A tap's owner is the caller, never the caller's to choose.
    expect(verbSchemas['tap.create'].safeParse({ name: 'bt-y', owner: 0, bridge: null }).success).toBe(false)
    expect(commandsFor('tap.create', parse('tap.create', { name: 'bt-y', bridge: null }), context)[0]).toContain('1000')
    expect(refusal('tap.create', { name: 'bt-y', bridge: 'docker0' })).toBe("Joining docker0 needs an administrator's password, which was not given: docker0 is a bridge Berth did not make")
    expect(refusal('link.master', { name: 'eth0', master: 'br0' })).toBe("Putting eth0 into a bridge needs an administrator's password, which was not given: eth0 is the host's own interface")
    expect(refusal('link.master', { name: 'bt-x', master: 'virbr0' })).toBe('virbr0 is not a bridge Berth made: the helper adds interfaces only on its own bridges')
    expect(refusal('address.add', { name: 'eth0', address: '10.9.9.9/24' })).toMatch(/^Changing the addresses of eth0 needs an administrator's password/)
    expect(refusal('route.default', { via: '10.0.0.1', dev: 'br0' })).toMatch(/^Changing the host's default route needs an administrator's password/)
    expect(refusal('dhcp.start', { bridge: 'eth0', from: '10.0.0.10', to: '10.0.0.20' })).toBe('eth0 is not a bridge Berth made: the helper serves DHCP only on its own bridges')
    expect(refusal('nat.enable', { bridge: 'br0', uplink: 'eth0', subnet: '0.0.0.0/0' })).toBe('0.0.0.0/0 is not a bridge\'s subnet: NAT is for a subnet of /8 to /30')
    expect(refusal('nat.disable', { bridge: 'docker0' })).toBe('docker0 is not a bridge Berth made: the helper removes NAT only on its own bridges')
  })

  it('refuses to delete what is not a bridge or a tap, and modules off the list', () => {
    expect(() => commandsFor('bridge.delete', parse('bridge.delete', { name: 'lo' }), context)).toThrow(Refusal)
    expect(() => commandsFor('tap.delete', parse('tap.delete', { name: 'lo' }), context)).toThrow('lo is not a tap device')
    expect(verbSchemas['module.load'].safeParse({ name: 'ext4' }).success).toBe(false)
    expect(verbSchemas['bridge.create'].safeParse({ name: 'br0', extra: 1 }).success).toBe(false)
    expect(verbSchemas['dhcp.start'].safeParse({ bridge: 'br0', from: '10.0.0.1 --conf-file=/x', to: '10.0.0.2' }).success).toBe(false)
  })
})

describe('helper Xen verbs', () => {
  const spec = { kind: 'xen', name: 'web', host: 'local', type: 'pv', memoryMiB: 256, vcpus: 1, kernel: '/boot/vmlinuz' }
  it('take a checked domain spec (the helper writes xl.cfg itself), never config text', () => {
    expect(verbSchemas['xen.create'].safeParse({ id: 'abcdefghijkl', spec }).success).toBe(true)
    expect(verbSchemas['xen.create'].safeParse({ id: 'abcdefghijkl', config: 'bootloader="/bin/sh"' }).success).toBe(false)
    expect(verbSchemas['xen.create'].safeParse({ id: 'abcdefghijkl', spec: { ...spec, cmdline: 'x"\nbootloader="/bin/sh' } }).success).toBe(false)
    expect(verbSchemas['xen.create'].safeParse({ id: '../../etc/x', spec }).success).toBe(false)
  })

  it('act only on domain names, with xl actions from the list', () => {
    expect(verbSchemas['xen.domain'].safeParse({ action: 'shutdown', name: 'web' }).success).toBe(true)
    expect(verbSchemas['xen.domain'].safeParse({ action: 'block-attach', name: 'web' }).success).toBe(false)
    expect(verbSchemas['xen.domain'].safeParse({ action: 'destroy', name: '-w' }).success).toBe(false)
    // dom0 itself, and all-digit names that xl reads as domain ids (0 is dom0)
    for (const name of ['Domain-0', '0', '17']) expect(verbSchemas['xen.domain'].safeParse({ action: 'destroy', name }).success, name).toBe(false)
    expect(verbSchemas['xen.query'].safeParse({ what: 'dmesg' }).success).toBe(false)
  })
})
