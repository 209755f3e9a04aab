// User-mode networking of the real test guest: a forwarded host port reaches a listener in it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createConnection, createServer, type Server } from 'node:net'
import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import type { BerthError } from '../../../../shared/errors'
import { startHarness, tinyGuestSpec, watchConsole, type Harness } from '../../testing/harness'
import { freePort } from '../../testing/free-port'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})


/** Connects to 127.0.0.1:port and resolves with everything read until the peer closes. */
function readFrom(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    const socket = createConnection(port, '127.0.0.1')
    socket.on('data', (d) => (text += d.toString()))
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
  })
}

describe('user-mode networking (real QEMU)', () => {
  it('a host → guest forwarded port reaches a listener in the guest', async () => {
    const hostPort = await freePort()
    const forward = { from: 'host' as const, proto: 'tcp' as const, host: { address: '127.0.0.1', port: hostPort }, guest: { address: '', port: 8080 } }
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('net', { network: { forwardPorts: [forward] } }) })
    await h.client.call('machines.start', { id })
    const guest = await watchConsole(h.client, id)
    await guest.waitFor(/guest# /)
    guest.type('ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2\r')
    guest.type("while :; do echo from-the-guest | nc -l -p 8080; done &\r")
    await guest.waitFor(/nc -l -p 8080; done &\r?\n/)
    let answer = ''
    for (let attempt = 0; attempt < 50 && !answer.includes('from-the-guest'); attempt++) {
      answer = await readFrom(hostPort).catch(() => '')
      if (!answer) await new Promise((r) => setTimeout(r, 200))
    }
    expect(answer).toContain('from-the-guest')
    await h.client.call('machines.stop', { id, force: true })
  })

  it('refuses a host port something already listens on, and a forward against the module rules', async () => {
    const taken: Server = createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
    const port = (taken.address() as { port: number }).port
    try {
      const busy = await h.client
        .call('machines.create', {
          spec: tinyGuestSpec('busy', {
            network: { forwardPorts: [{ host: { address: '127.0.0.1', port }, guest: { port: 22 } }] },
          }),
        })
        .catch((e: unknown) => e as BerthError)
      expect((busy as BerthError).details).toEqual({
        fields: { 'network.forwardPorts.0.host.port': `Something on this host already uses 127.0.0.1 port ${port}/tcp: choose another host port` },
      })
    } finally {
      taken.close()
    }
    const udpFromGuest = await h.client
      .call('machines.create', {
        spec: tinyGuestSpec('rules', {
          network: { forwardPorts: [{ from: 'guest', proto: 'udp', host: { address: '127.0.0.1', port: 53 }, guest: { address: '10.0.2.3', port: 53 } }] },
        }),
      })
      .catch((e: unknown) => e as BerthError)
    expect((udpFromGuest as BerthError).details).toEqual({
      fields: { 'spec.network.forwardPorts.0.proto': 'Guest forwarding supports only TCP connections' },
    })
  })
})

describe('vlans (real QEMU, as root)', () => {
  it("vlans: VM M on vlan N gets the module's 192.168.N.M by DHCP, VMs that share a vlan reach each other and the host (.254), others do not; the vlan goes when they stop", async () => {
    const on = async (name: string, vlans: number[], vlanNumber: number | null) => {
      const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec(name, { network: null, vlans, vlanNumber }) })
      await h.client.call('machines.start', { id })
      const viewer = await watchConsole(h.client, id)
      await viewer.waitFor('guest# ')
      // busybox's DHCP client, with a script that puts the leased address on the card.
      viewer.type(`printf '#!/bin/sh\\n[ "$1" = bound ] && ip addr add $ip/24 dev $interface\\nexit 0\\n' > /tmp/dhcp; chmod +x /tmp/dhcp; ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 -s /tmp/dhcp; echo dhcp-""done\r`)
      await viewer.waitFor('dhcp-done', 60_000)
      return { id, viewer }
    }
    const a = await on('vlan-a', [7], 1)
    const b = await on('vlan-b', [7], 2)
    const c = await on('vlan-c', [8], null)
    expect(a.viewer.text).toMatch(/lease of 192\.168\.7\.1 obtained/)
    expect(b.viewer.text).toMatch(/lease of 192\.168\.7\.2 obtained/)
    expect(c.viewer.text).toMatch(/lease of 192\.168\.8\.(2[0-4]\d|250) obtained/)
    expect(readdirSync('/sys/class/net/berth-vlan7/brif')).toHaveLength(2)
    // A number a running VM has is refused, saying who has it.
    const { id: twin } = await h.client.call('machines.create', { spec: tinyGuestSpec('vlan-twin', { network: null, vlans: [7], vlanNumber: 1 }) })
    const refused = await h.client.call('machines.start', { id: twin }).then(() => null, (e: BerthError) => e)
    expect((refused?.details as { fields?: Record<string, string> } | undefined)?.fields?.vlanNumber).toMatch(/192\.168\.7\.1 is taken by vlan-a/)

    // vlan 8 is another wire: even with an address of its subnet, a cannot reach c.
    const cAddress = /lease of (192\.168\.8\.\d+) obtained/.exec(c.viewer.text)![1]!
    a.viewer.type(`ping -c 2 -W 3 192.168.7.2; ping -c 1 -W 3 192.168.7.254; ip addr add 192.168.8.99/24 dev eth0; ping -c 1 -W 2 ${cAddress}; echo pings-""done\r`)
    await a.viewer.waitFor('pings-done', 60_000)
    expect(a.viewer.text).toMatch(/--- 192\.168\.7\.2 ping statistics ---\s+2 packets transmitted, [12] packets received/)
    expect(a.viewer.text).toMatch(/--- 192\.168\.7\.254 ping statistics ---\s+1 packets transmitted, 1 packets received/)
    expect(a.viewer.text).toMatch(new RegExp(`--- ${cAddress.replaceAll('.', '\\.')} ping statistics ---\\s+1 packets transmitted, 0 packets received`))
    for (const { id } of [a, b, c]) await h.client.call('machines.stop', { id, force: true })
    expect(readdirSync('/sys/class/net').filter((l) => l.startsWith('berth-vlan') || l.startsWith('bv'))).toEqual([])
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toMatch(/dnsmasq --interface=berth-vlan/)
  })
})
