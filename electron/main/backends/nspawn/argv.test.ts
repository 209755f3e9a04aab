import { describe, expect, it } from 'vitest'
import { nspawnSpecSchema, type NspawnSpecInput } from '../../../../shared/model/container'
import { buildNspawnArgv, containerNetworkSteps, hostNetworkSteps, nspawnUnitFile, staleLinks } from './argv'

const spec = (extra: Partial<NspawnSpecInput> = {}) => nspawnSpecSchema.parse({ kind: 'nspawn', name: 'web', root: '/var/lib/machines/web', ...extra })
const here = { systemd: false }
const env = (argv: string[]) => argv.filter((a) => a.startsWith('--setenv='))
const flags = (argv: string[]) => argv.filter((a) => !a.startsWith('--setenv='))

describe('spec → systemd-nspawn argv (containers.nix)', () => {
  it('the minimal container: its root and name, booted; without systemd as PID 1 it does not register', () => {
    const argv = buildNspawnArgv(spec(), here)
    expect(flags(argv)).toEqual([
      'systemd-nspawn', '--quiet', '--directory=/var/lib/machines/web', '--machine=web',
      '--register=no', '--keep-unit', '--link-journal=try-guest', '--boot',
    ])
    expect(env(argv)).toEqual([
      '--setenv=PRIVATE_NETWORK=0', '--setenv=HOST_BRIDGE=', '--setenv=HOST_ADDRESS=', '--setenv=LOCAL_ADDRESS=',
      '--setenv=HOST_ADDRESS6=', '--setenv=LOCAL_ADDRESS6=', '--setenv=HOST_PORT=',
    ])
    expect(flags(buildNspawnArgv(spec(), { systemd: true }))).not.toContain('--register=no')
  })

  it('one command instead of an init', () => {
    expect(buildNspawnArgv(spec({ init: { type: 'command', argv: ['/bin/sh', '-c', 'echo hi'] } }), here).slice(-4)).toEqual(['--', '/bin/sh', '-c', 'echo hi'])
  })

  it('privateNetwork + addresses: a veth, the module environment, host and container steps', () => {
    const s = spec({ privateNetwork: true, hostAddress: '10.231.136.1', localAddress: '10.231.136.2', hostAddress6: 'fc00::1', localAddress6: 'fc00::2' })
    const argv = buildNspawnArgv(s, here)
    expect(argv).toContain('--private-network')
    expect(argv).toContain('--network-veth')
    expect(argv).toContain('--setenv=LOCAL_ADDRESS=10.231.136.2')
    expect(hostNetworkSteps(s)).toEqual([
      ['ip', 'link', 'set', 'dev', 've-web', 'up'],
      ['ip', 'addr', 'add', '10.231.136.1', 'dev', 've-web'],
      ['ip', '-6', 'addr', 'add', 'fc00::1', 'dev', 've-web'],
      ['ip', 'route', 'add', '10.231.136.2', 'dev', 've-web'],
      ['ip', '-6', 'route', 'add', 'fc00::2', 'dev', 've-web'],
    ])
    expect(containerNetworkSteps(s)).toEqual([
      ['ip', 'link', 'set', 'host0', 'name', 'eth0'],
      ['ip', 'link', 'set', 'dev', 'eth0', 'up'],
      ['ip', 'addr', 'add', '10.231.136.2', 'dev', 'eth0'],
      ['ip', '-6', 'addr', 'add', 'fc00::2', 'dev', 'eth0'],
      ['ip', 'route', 'add', '10.231.136.1', 'dev', 'eth0'],
      ['ip', 'route', 'add', 'default', 'via', '10.231.136.1'],
      ['ip', '-6', 'route', 'add', 'fc00::1', 'dev', 'eth0'],
      ['ip', '-6', 'route', 'add', 'default', 'via', 'fc00::1'],
    ])
    expect(staleLinks(s)).toEqual([['ip', 'link', 'del', 'dev', 've-web'], ['ip', 'link', 'del', 'dev', 'vb-web']])
  })

  it('hostBridge: the veth joins the bridge and the host side gets no addresses', () => {
    const s = spec({ privateNetwork: true, hostBridge: 'br0', localAddress: '192.168.1.5/24' })
    expect(buildNspawnArgv(s, here)).toContain('--network-bridge=br0')
    expect(buildNspawnArgv(s, here)).not.toContain('--network-veth')
    expect(hostNetworkSteps(s)).toEqual([])
    expect(containerNetworkSteps(s)).toContainEqual(['ip', 'addr', 'add', '192.168.1.5/24', 'dev', 'eth0'])
  })

  it('forwardPorts: containerPort defaults to hostPort', () => {
    const s = spec({ privateNetwork: true, localAddress: '10.0.0.2', forwardPorts: [{ hostPort: 8080, containerPort: 80 }, { protocol: 'udp', hostPort: 53 }] })
    const argv = buildNspawnArgv(s, here)
    expect(argv).toContain('--port=tcp:8080:80')
    expect(argv).toContain('--port=udp:53:53')
    expect(argv).toContain('--setenv=HOST_PORT=tcp:8080:80,udp:53:53')
  })

  it('interfaces, macvlans and extraVeths', () => {
    const s = spec({
      privateNetwork: true,
      interfaces: ['eth1'],
      macvlans: ['eth2'],
      extraVeths: [{ name: 'vx0', hostBridge: 'br1' }, { name: 'vx1', hostAddress: '10.1.0.1', localAddress: '10.1.0.2' }],
    })
    const argv = buildNspawnArgv(s, here)
    expect(argv).toEqual(expect.arrayContaining(['--network-interface=eth1', '--network-macvlan=eth2', '--network-veth-extra=vx0', '--network-veth-extra=vx1']))
    expect(hostNetworkSteps(s)).toEqual([
      ['ip', 'link', 'set', 'dev', 'vx0', 'master', 'br1', 'up'],
      ['ip', 'link', 'set', 'dev', 'vx1', 'up'],
      ['ip', 'addr', 'add', '10.1.0.1', 'dev', 'vx1'],
      ['ip', 'route', 'add', '10.1.0.2', 'dev', 'vx1'],
    ])
  })

  it('bind mounts (read-only by default, hostPath defaults to mountPoint), tmpfs, devices, capabilities, enableTun', () => {
    const s = spec({
      bindMounts: [{ mountPoint: '/srv' }, { mountPoint: '/data', hostPath: '/mnt/data', isReadOnly: false }],
      tmpfs: ['/tmp:size=64M'],
      allowedDevices: [{ node: '/dev/fuse', modifier: 'rw' }, { node: '/dev/kmsg', modifier: 'r' }],
      additionalCapabilities: ['sys_time', 'CAP_IPC_LOCK'],
      enableTun: true,
    })
    const argv = buildNspawnArgv(s, here)
    expect(argv).toEqual(
      expect.arrayContaining([
        '--bind-ro=/srv:/srv', '--bind=/mnt/data:/data', '--tmpfs=/tmp:size=64M',
        '--bind=/dev/fuse', '--bind-ro=/dev/kmsg', '--bind=/dev/net/tun',
        '--capability=CAP_SYS_TIME,CAP_IPC_LOCK,CAP_NET_ADMIN',
      ]),
    )
    expect(buildNspawnArgv(s, { systemd: true })).toContain('--property=DeviceAllow=/dev/net/tun rwm')
  })

  it('ephemeral drops the journal link; extraFlags go last, before the init', () => {
    const argv = buildNspawnArgv(spec({ ephemeral: true, extraFlags: ['--private-users=pick'] }), here)
    expect(argv).toContain('--ephemeral')
    expect(argv).not.toContain('--link-journal=try-guest')
    expect(argv.slice(-2)).toEqual(['--private-users=pick', '--boot'])
  })

  it('a .nspawn file with the same meaning for machinectl', () => {
    const unit = nspawnUnitFile(spec({ privateNetwork: true, hostBridge: 'br0', bindMounts: [{ mountPoint: '/srv' }], init: { type: 'command', argv: ['/bin/echo', 'two words'] } }))
    expect(unit).toContain('Boot=no\nParameters=/bin/echo "two words"')
    expect(unit).toContain('BindReadOnly=/srv:/srv')
    expect(unit).toContain('[Network]\nPrivate=yes\nBridge=br0')
  })
})

describe('container spec checks (the module assertions)', () => {
  const issues = (extra: Partial<NspawnSpecInput>) => {
    const result = nspawnSpecSchema.safeParse({ kind: 'nspawn', name: 'web', root: '/r', ...extra })
    return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
  }
  it('a long name with private networking is refused with the reason', () => {
    expect(issues({ name: 'averylongname', privateNetwork: true })).toEqual([
      'name: Container names with private networking can be at most 11 characters long: interface names are derived from them (this one has 13)',
    ])
    expect(issues({ name: 'averylongname' })).toEqual([])
  })
  it('bad addresses, ports, capabilities and flags', () => {
    expect(issues({ privateNetwork: true, localAddress: '10.0.0.300' })[0]).toMatch(/^localAddress: Enter an IPv4 address/)
    expect(issues({ privateNetwork: true, localAddress6: 'fc00::1::2' })[0]).toMatch(/^localAddress6: An IPv6 address can use :: only once/)
    expect(issues({ privateNetwork: true, localAddress: '10.0.0.2', forwardPorts: [{ hostPort: 70000 }] })).toEqual(['forwardPorts.0.hostPort: Ports end at 65535'])
    expect(issues({ additionalCapabilities: ['CAP_FLY'] })).toEqual(['additionalCapabilities.0: CAP_FLY is not a Linux capability (see capabilities(7)), e.g. CAP_NET_ADMIN'])
    expect(issues({ extraFlags: ['--machine=other'] })).toEqual(['extraFlags.0: --machine is managed by Berth and cannot be given as an extra flag'])
    expect(issues({ localAddress: '10.0.0.2' })).toEqual(['privateNetwork: Addresses, a host bridge and forwarded ports need private networking: turn it on'])
    expect(issues({ allowedDevices: [{ node: '/dev/fuse', modifier: 'rx' }] })[0]).toMatch(/^allowedDevices.0.modifier: Use a combination of r/)
  })
  it('nothing can break out of a flag or a .nspawn line: line breaks, colons in bind paths, /dev/.., attached short flags', () => {
    expect(issues({ init: { type: 'command', argv: ['/bin/sh', 'x\n[Files]\nBind=/:/host'] } })).toEqual(['init.argv.1: An argument cannot contain a line break'])
    expect(issues({ root: '/var/lib/machines/web\nBind=/' })).toEqual(['root: A path cannot contain a line break or another control character'])
    expect(issues({ bindMounts: [{ mountPoint: '/data', hostPath: '/srv/a:/etc' }] })).toEqual(['bindMounts.0.hostPath: A bind mount path cannot contain a colon (systemd-nspawn splits on it)'])
    expect(issues({ allowedDevices: [{ node: '/dev/../etc/shadow', modifier: 'r' }] })).toEqual(['allowedDevices.0.node: A device node lives under /dev/, e.g. /dev/net/tun'])
    expect(issues({ extraFlags: ['-D/'] })).toEqual(['extraFlags.0: -D is managed by Berth and cannot be given as an extra flag'])
    expect(issues({ tmpfs: ['/tmp\n:size=1'] })[0]).toMatch(/^tmpfs.0: Use an absolute path/)
  })
})
