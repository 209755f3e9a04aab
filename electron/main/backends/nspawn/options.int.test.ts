// containers.nix's options on real systemd-nspawn: networking, mounts, capabilities, ephemeral.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect } from 'node:net'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import type { NspawnSpecInput } from '../../../../shared/model/container'
import { startHarness, watchConsole, type Harness } from '../../testing/harness'
import { containerRoot, makeBusyboxRoot, makeSystemdRoot } from '../../testing/container-root'
import { cgroup2Root, containerCgroup } from './cgroup'
import { containerFiles } from './supervisor-protocol'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

/** Starts a booted busybox container and returns its console at the prompt; it is stopped after the test. */
async function boot(name: string, extra: Partial<NspawnSpecInput> = {}) {
  const root = makeBusyboxRoot(join(h.home, 'roots', name))
  const machine = await h.client.call('machines.create', { spec: { kind: 'nspawn', name, root, ...extra } })
  await h.client.call('machines.start', { id: machine.id })
  const viewer = await watchConsole(h.client, machine.id)
  await viewer.waitFor(containerRoot.prompt, 20_000)
  let marker = 0
  return {
    machine,
    root,
    viewer,
    /** Runs a shell line in the container and returns what it printed. */
    async sh(line: string): Promise<string> {
      const tag = `done-${++marker}`
      const start = viewer.text.length
      viewer.type(`${line}; echo; echo ${tag.replace("-", "-\"\"")}\r`)
      await viewer.waitFor(new RegExp(`^${tag}\\r?$`, 'm'), 20_000)
      const out = viewer.text.slice(start)
      return out.slice(out.indexOf('\n') + 1, out.lastIndexOf(tag))
    },
    stop: () => h.client.call('machines.stop', { id: machine.id, force: false, timeoutSec: 10 }),
  }
}

/** A capability set from /proc/PID/status (CapEff, CapBnd) as the set of bit numbers it holds. */
const capBits = (hex: string) => new Set([...BigInt(`0x${hex}`).toString(2)].reverse().flatMap((b, i) => (b === '1' ? [i] : [])))
const CAP_CHOWN = 0
const CAP_NET_ADMIN = 12
const CAP_SYS_TIME = 25

describe('container options (real systemd-nspawn)', () => {
  it('privateNetwork with host and local addresses: host and container reach each other; a forwarded port reaches the container', async () => {
    const c = await boot('net', {
      privateNetwork: true,
      hostAddress: '10.231.136.1',
      localAddress: '10.231.136.2',
      forwardPorts: [{ protocol: 'tcp', hostPort: 18080, containerPort: 80 }],
    })
    let server: Server | undefined
    try {
      // Inside: eth0 (renamed from host0) with the local address and a default route via the host.
      expect(await c.sh('ip -4 addr show eth0')).toContain('inet 10.231.136.2/32')
      expect(await c.sh('ip route')).toMatch(/default via 10\.231\.136\.1 dev eth0/)
      // The host side: ve-net up with the host address.
      expect(readFileSync('/sys/class/net/ve-net/operstate', 'utf8').trim()).not.toBe('down')

      // Container → host.
      server = createServer((_, res) => res.end('hello-from-host'))
      await new Promise<void>((r) => server!.listen(18081, '10.231.136.1', r))
      expect(await c.sh('wget -q -O- http://10.231.136.1:18081/')).toContain('hello-from-host')

      // Host → container, directly and through the forwarded port on the host's own address.
      await c.sh('mkdir -p /www && echo hello-from-container > /www/index.html && httpd -p 80 -h /www')
      expect(await fetchText('http://10.231.136.2/')).toContain('hello-from-container')
      const hostAddress = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal && !a.address.startsWith('10.231.'))
      expect(hostAddress, 'the host needs a non-loopback IPv4 address').toBeDefined()
      expect(await fetchText(`http://${hostAddress!.address}:18080/`)).toContain('hello-from-container')
    } finally {
      server?.close()
      await c.stop()
    }
    expect(existsSync('/sys/class/net/ve-net')).toBe(false) // the veth goes with the container
  })

  it('IPv6: host and container reach each other over the veth and over an extra veth (hostAddress6, localAddress6)', async () => {
    const c = await boot('net6', {
      privateNetwork: true,
      hostAddress6: 'fc00:b1::1',
      localAddress6: 'fc00:b1::2',
      extraVeths: [{ name: 'vx-six', hostAddress6: 'fc00:b2::1', localAddress6: 'fc00:b2::2' }],
    })
    try {
      expect(await c.sh('ip -6 addr show eth0')).toContain('inet6 fc00:b1::2')
      expect(await c.sh('ip -6 addr show vx-six')).toContain('inet6 fc00:b2::2')
      // Container → host, on both links (addresses need a moment for duplicate address detection).
      for (const address of ['fc00:b1::1', 'fc00:b2::1'])
        expect(await c.sh(`for i in 1 2 3 4 5; do ping6 -c 1 -W 2 ${address} >/dev/null && break; sleep 1; done; echo ping-$?`)).toContain('ping-0')
      // Host → container.
      await c.sh('mkdir -p /www && echo over-ipv6 > /www/index.html && httpd -p 80 -h /www')
      for (const address of ['fc00:b1::2', 'fc00:b2::2']) expect(await fetchText(`http://[${address}]/`)).toContain('over-ipv6')
    } finally {
      await c.stop()
    }
  })

  it('extraVeths get their own addresses on both sides', async () => {
    const c = await boot('veths', {
      privateNetwork: true,
      extraVeths: [{ name: 'vx-berth', hostAddress: '10.231.137.1', localAddress: '10.231.137.2' }],
    })
    try {
      expect(await c.sh('ip -4 addr show vx-berth')).toContain('inet 10.231.137.2/32')
      const host = readFileSync('/proc/net/fib_trie', 'utf8')
      expect(host).toContain('10.231.137.1')
      await c.sh('mkdir -p /www && echo via-extra-veth > /www/index.html && httpd -p 80 -h /www')
      expect(await fetchText('http://10.231.137.2/')).toContain('via-extra-veth')
    } finally {
      await c.stop()
    }
  })

  it('hostBridge: the container joins a bridge and reaches the host through it', async () => {
    const bridge = 'br-berthtest'
    ip('link', 'add', bridge, 'type', 'bridge')
    try {
      ip('addr', 'add', '10.231.138.1/24', 'dev', bridge)
      ip('link', 'set', bridge, 'up')
      const c = await boot('bridged', { privateNetwork: true, hostBridge: bridge, hostAddress: '10.231.138.1', localAddress: '10.231.138.2/24' })
      try {
        expect(readdirSync(`/sys/class/net/${bridge}/brif`)).toEqual(['vb-bridged'])
        expect(await c.sh('ip -4 addr show eth0')).toContain('inet 10.231.138.2/24')
        expect(await c.sh('ping -c 1 -W 5 10.231.138.1')).toContain('1 packets received')
        await c.sh('mkdir -p /www && echo over-the-bridge > /www/index.html && httpd -p 80 -h /www')
        expect(await fetchText('http://10.231.138.2/')).toContain('over-the-bridge')
      } finally {
        await c.stop()
      }
    } finally {
      ip('link', 'del', bridge)
    }
  })

  it("extraVeths' hostBridge: two containers' extra veths join one bridge and reach each other on it", async () => {
    const bridge = 'br-berthveth'
    ip('link', 'add', bridge, 'type', 'bridge')
    try {
      ip('link', 'set', bridge, 'up')
      // An extra veth's name is its name on the host too: each container's is its own.
      const veth = (name: string, address: string) => ({ privateNetwork: true, extraVeths: [{ name, hostBridge: bridge, localAddress: address }] })
      const a = await boot('lan-a', veth('vx-a', '10.231.139.2/24'))
      const b = await boot('lan-b', veth('vx-b', '10.231.139.3/24'))
      try {
        expect(readdirSync(`/sys/class/net/${bridge}/brif`).length).toBe(2)
        expect(await a.sh('ping -c 1 -W 5 10.231.139.3')).toContain('1 packets received')
        await b.sh('mkdir -p /www && echo from-b > /www/index.html && httpd -p 80 -h /www')
        expect(await a.sh('wget -q -O- http://10.231.139.3/')).toContain('from-b')
      } finally {
        await a.stop()
        await b.stop()
      }
    } finally {
      ip('link', 'del', bridge)
    }
  })

  it('bind mounts: read-only refuses writes, read-write accepts them; tmpfs is a tmpfs', async () => {
    const ro = join(h.home, 'shared-ro')
    const rw = join(h.home, 'shared-rw')
    mkdirSync(ro)
    mkdirSync(rw)
    writeFileSync(join(ro, 'note.txt'), 'read me')
    const c = await boot('mounts', {
      bindMounts: [
        { mountPoint: '/ro', hostPath: ro }, // isReadOnly defaults to true, as in the module
        { mountPoint: '/rw', hostPath: rw, isReadOnly: false },
      ],
      tmpfs: ['/scratch:mode=0755,size=8M'],
    })
    try {
      expect(await c.sh('cat /ro/note.txt')).toContain('read me')
      expect(await c.sh('touch /ro/new 2>&1')).toMatch(/Read-only file system/)
      await c.sh('echo written-inside > /rw/out.txt')
      expect(readFileSync(join(rw, 'out.txt'), 'utf8')).toBe('written-inside\n')
      expect(await c.sh('grep " /scratch " /proc/mounts')).toMatch(/^tmpfs \/scratch tmpfs/m)
    } finally {
      await c.stop()
    }
  })

  it('capabilities: an added one is present, a dropped one is really absent; enableTun gives /dev/net/tun and CAP_NET_ADMIN', async () => {
    const plain = await boot('caps0')
    const plainCaps = capBits(/CapBnd:\s+([0-9a-f]+)/.exec(await plain.sh('grep CapBnd /proc/1/status'))![1]!)
    await plain.stop()
    expect(plainCaps.has(CAP_SYS_TIME)).toBe(false)
    expect(plainCaps.has(CAP_NET_ADMIN)).toBe(false)

    const c = await boot('caps1', { additionalCapabilities: ['CAP_SYS_TIME'], enableTun: true, extraFlags: ['--drop-capability=CAP_CHOWN'] })
    try {
      const caps = capBits(/CapBnd:\s+([0-9a-f]+)/.exec(await c.sh('grep CapBnd /proc/1/status'))![1]!)
      expect(caps.has(CAP_SYS_TIME)).toBe(true)
      expect(caps.has(CAP_NET_ADMIN)).toBe(true)
      expect(caps.has(CAP_CHOWN)).toBe(false)
      expect(await c.sh('touch /tmp/f && chown 1 /tmp/f 2>&1')).toMatch(/Operation not permitted/)
      expect(await c.sh('ls -l /dev/net/tun')).toMatch(/^crw/m)
    } finally {
      await c.stop()
    }
  })

  it("timeoutStartSec with notifyReady: started only once the container's init says READY=1; one that never does is killed at the timeout", async () => {
    // systemd (the host's own, /usr read-only) says READY=1 once its boot is done.
    const { root, bindMounts } = makeSystemdRoot(join(h.home, 'roots', 'notify'))
    const ready = await h.client.call('machines.create', { spec: { kind: 'nspawn', name: 'notify', root, bindMounts, notifyReady: true, timeoutStartSec: 120 } })
    const started = await h.client.call('machines.start', { id: ready.id })
    expect(started.state).toBe('running')
    // Not before systemd said so: its console already shows the end of its boot.
    const log = readFileSync(containerFiles(0, ready.id).log, 'utf8').replace(/\x1b\[[0-9;]*m/g, '')
    expect(log).toContain('Welcome to Berth systemd test root!')
    expect(log).toMatch(/Reached target .*Multi-User System/)
    // A graceful stop: systemd powers off.
    const stopped = await h.client.call('machines.stop', { id: ready.id, force: false, timeoutSec: 30 })
    expect(stopped.lastError).toBeNull()

    // busybox init never sends READY=1: the start fails at the timeout, and nothing of it is left running.
    const never = await h.client.call('machines.create', {
      spec: { kind: 'nspawn', name: 'never', root: makeBusyboxRoot(join(h.home, 'roots', 'never')), notifyReady: true, timeoutStartSec: 3 },
    })
    const began = Date.now()
    await expect(h.client.call('machines.start', { id: never.id })).rejects.toThrow(/did not report ready within 3 s \(timeoutStartSec\)/)
    expect(Date.now() - began).toBeGreaterThanOrEqual(3000)
    const listed = (await h.client.call('machines.list', {})).machines.find((m) => m.id === never.id)!
    expect(listed.state).toBe('crashed')
    expect(listed.lastError).toMatch(/READY=1/)
    const cgroups = cgroup2Root()
    if (cgroups) expect(existsSync(containerCgroup(cgroups, never.id))).toBe(false)
  })

  it('allowedDevices: the device cgroup enforces r, w and m; every other device stays closed', async () => {
    // A loop device over a small file: a block device of the host's that no container has by default.
    const image = join(h.home, 'device.img')
    writeFileSync(image, Buffer.concat([Buffer.from('DEVICE-DATA'), Buffer.alloc(1024 * 1024)]))
    const loop = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim()
    const [major, minor] = execFileSync('stat', ['-Lc', '%t %T', loop], { encoding: 'utf8' }).trim().split(' ').map((hex) => parseInt(hex, 16))
    try {
      const readOnly = await boot('devr', { allowedDevices: [{ node: loop, modifier: 'r' }] })
      try {
        expect(await readOnly.sh(`head -c 11 ${loop}`)).toContain('DEVICE-DATA')
        expect(await readOnly.sh(`echo x > ${loop}`)).toMatch(/Operation not permitted/)
        expect(await readOnly.sh(`mknod /dev/again b ${major} ${minor} 2>&1`)).toMatch(/Operation not permitted/)
        // Closed to everything else, even for the container's root with CAP_MKNOD.
        expect(await readOnly.sh('mknod /dev/mem c 1 1 2>&1 && head -c 1 /dev/mem 2>&1')).toMatch(/Operation not permitted/)
        expect(await readOnly.sh('echo ok > /dev/null && echo null-works')).toContain('null-works')
      } finally {
        await readOnly.stop()
      }
      const all = await boot('devrwm', { allowedDevices: [{ node: loop, modifier: 'rwm' }] })
      try {
        await all.sh(`printf WRITTEN | dd of=${loop} conv=notrunc 2>/dev/null`)
        expect(await all.sh(`mknod /dev/again b ${major} ${minor} && head -c 7 /dev/again`)).toContain('WRITTEN')
      } finally {
        await all.stop()
      }
    } finally {
      execFileSync('losetup', ['-d', loop])
    }
  })

  it('ephemeral: changes are gone after it stops and nothing is left behind', async () => {
    const c = await boot('ephemeral', { ephemeral: true })
    await c.sh('echo scratch > /root/changed.txt')
    // The changes go to a scratch layer over the pinned root, in root's folder
    const pinned = join(h.home, 'var-lib-machines', '.berth-pinned', '0')
    const place = readdirSync(pinned).find((f) => f.startsWith(`${c.machine.id}.`))!
    expect(readFileSync(join(pinned, place, 'upper', 'root', 'changed.txt'), 'utf8')).toBe('scratch\n')
    await c.stop()
    expect(existsSync(join(c.root, 'root/changed.txt'))).toBe(false)
    expect(readdirSync(pinned).filter((f) => f.startsWith(`${c.machine.id}.`))).toEqual([])
    expect(readdirSync(join(h.home, 'roots')).filter((f) => f.startsWith('.#'))).toEqual([])
  })
})

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' })
}

function fetchText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url)
    const socket = connect(Number(port || 80), hostname.replace(/^\[|\]$/g, ''))
    let text = ''
    socket.setTimeout(5000, () => socket.destroy(new Error(`${url}: no answer in 5 s`)))
    socket.on('connect', () => socket.write(`GET / HTTP/1.0\r\nHost: ${hostname}\r\n\r\n`))
    socket.on('data', (d) => (text += d.toString()))
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
  })
}
