// Bridges for real (as root): Berth makes one with an address; a VM's tap and a container's veth
// join it; guest, container and host reach each other; then everything goes and nothing is left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../shared/errors'
import { startHarness, tinyGuestSpec, watchConsole, type Harness } from '../testing/harness'
import { containerRoot, makeBusyboxRoot } from '../testing/container-root'
import { tapName } from '../backends/qemu/ids'

let h: Harness
const bridge = 'br-berthnet'
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
  if (existsSync(`/sys/class/net/${bridge}`)) execFileSync('ip', ['link', 'del', bridge])
})

describe('bridges (real, as root)', () => {
  it('a VM and a container on a Berth bridge reach each other and the host; removing leaves nothing', async () => {
    const made = await h.client.call('networks.create', { spec: { name: bridge, address: '10.231.150.1/24' } })
    expect(made).toMatchObject({ name: bridge, up: true, addresses: ['10.231.150.1/24'], members: [] })

    const vm = await h.client.call('machines.create', { spec: tinyGuestSpec('bridged-vm', { network: { bridge } }) })
    const ct = await h.client.call('machines.create', {
      spec: {
        kind: 'nspawn',
        name: 'bridged-ct',
        root: makeBusyboxRoot(join(h.home, 'roots', 'ct')),
        privateNetwork: true,
        hostBridge: bridge,
        hostAddress: '10.231.150.1',
        localAddress: '10.231.150.3/24',
      },
    })
    // Busy: a bridge in use by a running machine is not removed.
    await h.client.call('machines.start', { id: vm.id })
    await h.client.call('machines.start', { id: ct.id })
    const refused = await h.client.call('networks.remove', { name: bridge }).catch((e: BerthError) => e)
    expect(refused).toMatchObject({ code: 'conflict' })
    expect((refused as BerthError).message).toMatch(/bridged-(vm|ct).* uses? br-berthnet: stop/)

    const listed = (await h.client.call('networks.list', {})).bridges.find((b) => b.name === bridge)!
    expect(listed.members.sort()).toEqual([tapName(vm.id), 'vb-bridged-ct'].sort())
    expect(listed.usedBy.map((m) => m.name).sort()).toEqual(['bridged-ct', 'bridged-vm'])

    const guest = await watchConsole(h.client, vm.id)
    await guest.waitFor('guest# ')
    guest.type('ip addr add 10.231.150.2/24 dev eth0; ip link set eth0 up; sleep 1; ping -c 2 -W 3 10.231.150.3; ping -c 2 -W 3 10.231.150.1; echo pings-""done\r')
    await guest.waitFor('pings-done', 60_000)
    expect(guest.text).toMatch(/--- 10\.231\.150\.3 ping statistics ---\s+2 packets transmitted, [12] packets received/)
    expect(guest.text).toMatch(/--- 10\.231\.150\.1 ping statistics ---\s+2 packets transmitted, [12] packets received/)

    const container = await watchConsole(h.client, ct.id)
    await container.waitFor(containerRoot.prompt, 20_000)
    container.type('ping -c 1 -W 3 10.231.150.2; ping -c 1 -W 3 10.231.150.1; echo ct-pings-""done\r')
    await container.waitFor('ct-pings-done', 30_000)
    expect(container.text).toMatch(/--- 10\.231\.150\.2 ping statistics ---\s+1 packets transmitted, 1 packets received/)
    expect(container.text).toMatch(/--- 10\.231\.150\.1 ping statistics ---\s+1 packets transmitted, 1 packets received/)

    await h.client.call('machines.stop', { id: vm.id, force: true, timeoutSec: 0 })
    await h.client.call('machines.stop', { id: ct.id, force: false, timeoutSec: 10 })
    expect(existsSync(`/sys/class/net/${tapName(vm.id)}`)).toBe(false) // the tap went with the VM
    expect(readdirSync(`/sys/class/net/${bridge}/brif`)).toEqual([])

    await h.client.call('networks.remove', { name: bridge })
    expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false)
    expect(readdirSync('/sys/class/net').filter((l) => l.startsWith('bt-') || l.startsWith('vb-') || l.startsWith('ve-'))).toEqual([])
    // Only what Berth made: a bridge made by someone else is not removed.
    execFileSync('ip', ['link', 'add', 'br-notours', 'type', 'bridge'])
    try {
      const notOurs = await h.client.call('networks.remove', { name: 'br-notours' }).catch((e: BerthError) => e)
      expect(notOurs).toMatchObject({ code: 'conflict', message: 'Berth did not make br-notours: it removes only bridges it made' })
    } finally {
      execFileSync('ip', ['link', 'del', 'br-notours'])
    }
  })

  it('an enslaved uplink lends the bridge its addresses, and gets them back when the bridge goes', async () => {
    // A veth pair stands in for a NIC: its far end in a namespace plays the rest of the LAN.
    execFileSync('ip', ['link', 'add', 'up-berth', 'type', 'veth', 'peer', 'name', 'up-lan'])
    try {
      execFileSync('ip', ['addr', 'add', '10.231.152.5/24', 'dev', 'up-berth'])
      execFileSync('ip', ['link', 'set', 'up-berth', 'up'])
      const made = await h.client.call('networks.create', { spec: { name: 'br-berthup', uplink: 'up-berth' } })
      expect(made.members).toEqual(['up-berth'])
      expect(made.addresses).toEqual(['10.231.152.5/24'])
      const uplink = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'dev', 'up-berth'], { encoding: 'utf8' })) as { addr_info: { scope: string }[] }[]
      expect(uplink[0]!.addr_info.filter((a) => a.scope === 'global')).toEqual([])
      // Enslaving an interface that already belongs to a bridge is refused on the field.
      const again = await h.client.call('networks.create', { spec: { name: 'br-berthup2', uplink: 'up-berth' } }).catch((e: BerthError) => e)
      expect(((again as BerthError).details as { fields: Record<string, string> }).fields.uplink).toBe('up-berth already belongs to a bridge')

      await h.client.call('networks.remove', { name: 'br-berthup' })
      expect(existsSync('/sys/class/net/br-berthup')).toBe(false)
      expect(execFileSync('ip', ['-o', 'addr', 'show', 'dev', 'up-berth'], { encoding: 'utf8' })).toContain('inet 10.231.152.5/24')
    } finally {
      for (const link of ['br-berthup', 'up-berth']) if (existsSync(`/sys/class/net/${link}`)) execFileSync('ip', ['link', 'del', link])
    }
  })

  it('NAT and DHCP: a bridge with both hands out an address and masquerades its subnet; removing undoes both', async () => {
    const name = 'br-berthnat'
    const uplink = execFileSync('ip', ['-j', 'route', 'show', 'default'], { encoding: 'utf8' })
    const dev = (JSON.parse(uplink) as { dev: string }[])[0]?.dev
    expect(dev, 'the host needs a default route for NAT').toBeDefined()
    await h.client.call('networks.create', { spec: { name, address: '10.231.151.1/24', natUplink: dev!, dhcp: { from: '10.231.151.100', to: '10.231.151.150' } } })
    try {
      const table = execFileSync('nft', ['list', 'table', 'ip', 'berth_br_berthnat'], { encoding: 'utf8' })
      expect(table).toMatch(new RegExp(`ip saddr 10\\.231\\.151\\.0/24 oifname "${dev}" masquerade`))
      // A container on the bridge asks for an address (busybox udhcpc) and gets one from the range.
      const ct = await h.client.call('machines.create', {
        spec: { kind: 'nspawn', name: 'dhcp-ct', root: makeBusyboxRoot(join(h.home, 'roots', 'dhcp')), privateNetwork: true, hostBridge: name },
      })
      await h.client.call('machines.start', { id: ct.id })
      const c = await watchConsole(h.client, ct.id)
      await c.waitFor(containerRoot.prompt, 20_000)
      c.type('udhcpc -i eth0 -n -q -s /bin/true -t 5; echo dhcp-""done\r')
      await c.waitFor('dhcp-done', 30_000)
      await h.client.call('machines.stop', { id: ct.id, force: true, timeoutSec: 0 })
      expect(c.text).toMatch(/lease of 10\.231\.151\.(1[0-4]\d|150) obtained/)
    } finally {
      await h.client.call('networks.remove', { name })
    }
    expect(() => execFileSync('nft', ['list', 'table', 'ip', 'berth_br_berthnat'], { stdio: 'pipe' })).toThrow()
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(`--interface=${name}`)
  })
})
