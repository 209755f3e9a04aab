// Metrics of real machines, as the metrics.watch stream delivers them: a guest and a container burn
// CPU, write to a disk, fill memory and send packets, and the series show it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Sample } from '../../../shared/model/metrics'
import { startHarness, tinyGuestSpec, watchConsole, type Harness } from '../testing/harness'
import { containerRoot, makeBusyboxRoot } from '../testing/container-root'
import { vlanBridgeName } from '../backends/qemu/ids'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

const MiB = 1024 * 1024

/** Watches a machine's metrics: every sample the stream sends, and a wait for one that matches. */
async function watchMetrics(id: string) {
  const samples: Sample[] = []
  const unmeasured: string[] = []
  await h.client.openStream('metrics.watch', { id }, {
    onData: () => undefined,
    onControl: (update) => {
      samples.push(...update.samples)
      unmeasured.splice(0, unmeasured.length, ...update.unmeasured)
    },
  })
  return {
    samples,
    unmeasured,
    /** The first sample after `since` that matches, within timeoutMs. */
    async until(what: string, since: number, matches: (s: Sample) => boolean, timeoutMs: number): Promise<Sample> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = samples.find((s) => s.t > since && matches(s))
        if (found) return found
        if (Date.now() > deadline)
          throw new Error(`No sample showed ${what} within ${timeoutMs} ms; the last ones: ${JSON.stringify(samples.slice(-5))}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    /** Bytes per second summed over time: what a series counted between two moments. */
    total(field: 'write' | 'tx' | 'rx', from: number, to: number): number {
      let sum = 0
      for (let i = 1; i < samples.length; i++) {
        const s = samples[i]!
        if (s.t <= from || s.t > to) continue
        sum += (s[field] ?? 0) * ((s.t - samples[i - 1]!.t) / 1000)
      }
      return sum
    },
  }
}

const settle = () => new Promise((r) => setTimeout(r, 2500))

describe('metrics of a running VM (real QEMU)', () => {
  it('CPU, disk writes, memory and a vlan card\'s traffic show in the series', async () => {
    const disk = join(h.home, 'metrics-data.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M'])
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('metrics-vm', { vlans: [42] }) })
    await h.client.call('drives.attach', { id, path: disk, bus: 'virtio', persist: true })
    await h.client.call('machines.start', { id })
    try {
      const guest = await watchConsole(h.client, id)
      await guest.waitFor(/guest# /)
      const metrics = await watchMetrics(id)
      await settle()
      // The user-mode card (no address in this guest) is not counted, and the series says why; the vlan card's tap is.
      expect(metrics.unmeasured).toEqual(['network: the guest agent counts the user-mode card once it has an address in the guest'])

      // CPU: idle, then a busy loop in the guest takes its vCPU.
      const idle = metrics.samples.at(-1)!
      expect(idle.cpu).toBeLessThan(50)
      let since = Date.now()
      guest.type('while :; do :; done &\r')
      const busy = await metrics.until('CPU above 50 % of a vCPU', since, (s) => s.cpu > 50, 3000)
      expect(busy.cpu).toBeGreaterThan(50)
      await guest.run('kill %1')

      // Disk: 32 MiB written to the attached drive.
      await settle()
      since = Date.now()
      await guest.run('dd if=/dev/zero of=/dev/vda bs=1M count=32 oflag=direct 2>/dev/null')
      await settle()
      const written = metrics.total('write', since - 1000, Date.now())
      expect(written).toBeGreaterThan(32 * MiB * 0.9)
      expect(written).toBeLessThan(32 * MiB * 1.1)

      // Memory: 64 MiB filled in a tmpfs become QEMU's own memory.
      const before = metrics.samples.at(-1)!.memory
      since = Date.now()
      await guest.run('mkdir -p /fill && mount -t tmpfs -o size=80m tmpfs /fill && dd if=/dev/zero of=/fill/a bs=1M count=64 2>/dev/null')
      const grown = await metrics.until('memory 48 MiB above before', since, (s) => s.memory - before > 48 * MiB, 5000)
      expect(grown.memoryLimit).toBe(256 * MiB)

      // Network: 100 pings of 1400 bytes out of the vlan card, to the host on the vlan's bridge.
      execFileSync('ip', ['addr', 'add', '192.168.42.1/24', 'dev', vlanBridgeName(42)])
      await guest.run('ip link set eth1 up && ip addr add 192.168.42.2/24 dev eth1')
      await settle()
      since = Date.now()
      await guest.run('ping -q -c 100 -i 0.02 -s 1400 192.168.42.1')
      await settle()
      expect(metrics.total('tx', since - 1000, Date.now())).toBeGreaterThan(100 * 1400)
    } finally {
      await h.client.call('machines.stop', { id, force: true })
    }
  })

  it("a VM's user-mode card is counted by its guest agent; without an agent it says why it is not", async () => {
    // 2 MiB from a web server on the host, fetched by the guest through user-mode networking.
    const body = Buffer.alloc(2 * MiB, 'x')
    const server = createServer((_, response) => response.end(body))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('metrics-user-net') })
    await h.client.call('machines.start', { id })
    try {
      const guest = await watchConsole(h.client, id)
      await guest.waitFor('guest# ', 60_000)
      const metrics = await watchMetrics(id)
      await metrics.until('a first sample', 0, () => true, 5000)
      expect(metrics.unmeasured).toEqual(['network: the guest agent counts the user-mode card once it has an address in the guest'])
      // As a guest's DHCP client would have it (QEMU's user-mode network: 10.0.2.15, through 10.0.2.2).
      await guest.run('ip addr add 10.0.2.15/24 dev eth0; ip link set eth0 up; ip route add default via 10.0.2.2')
      await metrics.until('a sample with the network counted', 0, (s) => s.rx !== null, 30_000)
      expect(metrics.unmeasured).toEqual([])
      const since = Date.now()
      await guest.run(`wget -q -O /dev/null http://10.0.2.2:${port}/`)
      await settle()
      expect(metrics.total('rx', since - 1000, Date.now())).toBeGreaterThan(2 * MiB)
    } finally {
      await h.client.call('machines.stop', { id, force: true })
      server.close()
    }

    const { id: quiet } = await h.client.call('machines.create', { spec: tinyGuestSpec('metrics-no-agent', { guestAgent: false }) })
    await h.client.call('machines.start', { id: quiet })
    try {
      const metrics = await watchMetrics(quiet)
      await metrics.until('a first sample', 0, () => true, 5000)
      expect(metrics.unmeasured).toEqual(['network: the user-mode card has no host-side link to count; turn on the guest agent to count it from inside the guest'])
      expect(metrics.samples.at(-1)!.tx).toBeNull()
    } finally {
      await h.client.call('machines.stop', { id: quiet, force: true })
    }
  })
})

describe('metrics of a running container (real systemd-nspawn)', () => {
  it('its cgroup shows CPU and memory, its veth the traffic', async () => {
    const root = makeBusyboxRoot(join(h.home, 'roots', 'metrics-ct'))
    const { id } = await h.client.call('machines.create', {
      spec: { kind: 'nspawn', name: 'metrics-ct', root, privateNetwork: true, hostAddress: '10.231.140.1', localAddress: '10.231.140.2' },
    })
    await h.client.call('machines.start', { id })
    try {
      const viewer = await watchConsole(h.client, id)
      await viewer.waitFor(containerRoot.prompt, 20_000)
      const metrics = await watchMetrics(id)
      await settle()
      let since = Date.now()
      viewer.type('while :; do :; done &\r')
      await metrics.until('CPU above 50 % of a CPU', since, (s) => s.cpu > 50, 3000)
      await viewer.run('kill %1')

      // A shell holding 64 MiB of text: the container's memory, whichever way this host counts it.
      const before = metrics.samples.at(-1)!.memory
      since = Date.now()
      await viewer.run('x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo ${#x}')
      await metrics.until('memory 48 MiB above before', since, (s) => s.memory - before > 48 * MiB, 5000)

      await settle()
      since = Date.now()
      await viewer.run('ping -q -c 50 -i 0.05 -s 1400 10.231.140.1 >/dev/null')
      await settle()
      expect(metrics.total('tx', since - 1000, Date.now())).toBeGreaterThan(50 * 1400)
    } finally {
      await h.client.call('machines.stop', { id, force: true, timeoutSec: 0 })
    }
  })
})
