import { describe, expect, it } from 'vitest'
import { commandsFor, Refusal, verbSchemas, type Verb, type VerbArgs } from './verbs'

const context = { stateDir: '/run/berth/helper' }
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
    expect(commandsFor('link.master', parse('link.master', { name: 'eth1', master: null }), context)).toEqual([['ip', 'link', 'set', 'eth1', 'nomaster']])
    expect(commandsFor('tap.create', parse('tap.create', { name: 'bt-x', owner: 1000, bridge: 'br0' }), context)).toEqual([
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
