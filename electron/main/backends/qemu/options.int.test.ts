// qemu-vm.nix's options seen from inside the real test guest: the network card models, a forward
// from the guest to the host, the consoles on the kernel command line, an extra QEMU option, a BIOS file.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:net'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { startHarness, tinyGuestSpec, watchConsole, type Harness } from '../../testing/harness'
import { freePort } from '../../testing/free-port'
import type { QemuSpecInput } from '../../../../shared/model/machine'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

/** Boots the test guest with these options, runs a command in it and returns what it printed up to the marker. */
async function inGuest(name: string, extra: Partial<QemuSpecInput>, command: string): Promise<string> {
  const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec(name, extra) })
  await h.client.call('machines.start', { id })
  try {
    const guest = await watchConsole(h.client, id)
    await guest.waitFor(/guest# /)
    guest.type(`${command}; echo done-""${name}\r`)
    await guest.waitFor(new RegExp(`done-${name}`), 60_000)
    return guest.text
  } finally {
    await h.client.call('machines.stop', { id, force: true })
  }
}

describe('qemu-vm.nix options in the guest (real QEMU)', () => {
  // PCI vendor:device of each model's card, as the guest's sysfs lists them.
  const models = [
    ['virtio', '0x1af4 0x1000'],
    ['e1000', '0x8086 0x100e'],
    ['e1000e', '0x8086 0x10d3'],
    ['rtl8139', '0x10ec 0x8139'],
  ] as const
  it.each(models)('a %s network card is the card the guest finds on its PCI bus', async (model, ids) => {
    const text = await inGuest(`nic-${model}`, { nicModel: model }, 'for d in /sys/bus/pci/devices/*; do echo "pci $(cat $d/vendor) $(cat $d/device)"; done')
    expect(text).toContain(`pci ${ids}`)
  })

  it('a guest → host forward: the guest connects to a 10.0.2.x address and reaches a listener on the host', async () => {
    const port = await freePort()
    const server: Server = createServer((socket) => socket.end('from-the-host\n'))
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
    try {
      const forward = { from: 'guest' as const, proto: 'tcp' as const, host: { address: '127.0.0.1', port }, guest: { address: '10.0.2.100', port: 7000 } }
      const text = await inGuest(
        'guestfwd',
        { network: { forwardPorts: [forward] } },
        'ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; timeout 5 nc 10.0.2.100 7000 </dev/null',
      )
      // (the connection stays open after the host closes it: guestfwd does not pass the close on; timeout ends nc)
      expect(text).toMatch(/\nfrom-the-host\r?\n/)
    } finally {
      server.close()
    }
  })

  it('qemu.consoles: each console is on the kernel command line the guest booted with', async () => {
    const spec = tinyGuestSpec('consoles')
    const boot = { ...(spec.boot as object), consoles: ['tty0', 'ttyS0'] } as QemuSpecInput['boot']
    const text = await inGuest('consoles', { boot }, 'cat /proc/cmdline')
    expect(text).toMatch(/console=tty0 console=ttyS0\r?\n/)
  })

  it('qemu.options (extraArgs): an allowed option takes effect in the guest (-rtc sets the clock it boots with)', async () => {
    const text = await inGuest('extra-args', { extraArgs: ['-rtc', 'base=2001-02-03T04:05:06'] }, 'date -u +year-%Y')
    expect(text).toMatch(/\nyear-2001\r?\n/)
  })

  it('bios: the VM boots with an alternate BIOS file, and QEMU runs with that file', async () => {
    const bios = join(h.home, 'firmware', 'my-seabios.bin')
    mkdirSync(dirname(bios), { recursive: true })
    copyFileSync('/usr/share/seabios/bios-256k.bin', bios)
    const text = await inGuest('alt-bios', { firmware: { kind: 'bios', file: bios } }, 'echo booted')
    expect(text).toContain('BERTH-GUEST-READY')
    // qemu.log starts each run with the argv QEMU ran with
    const machines = join(h.home, 'data', 'machines')
    const runs = readdirSync(machines).map((id) => join(machines, id, 'qemu.log')).filter(existsSync).map((log) => readFileSync(log, 'utf8'))
    expect(runs.some((log) => log.includes(JSON.stringify(['-bios', bios]).slice(1, -1)))).toBe(true)
  })
})
