// qemu-vm.nix's options seen from inside the real test guest: the network card models, a forward
// from the guest to the host, the consoles on the kernel command line, an extra QEMU option, a BIOS
// file, another QEMU build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:net'
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import type { BerthError } from '../../../../shared/errors'
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

  it('qemu.package (qemuBinary): a VM runs on another QEMU build, checked before it is used; Host readiness shows its version', async () => {
    // An installed build is a prefix: QEMU finds its modules and firmware relative to its binary.
    const prefix = join(h.home, 'qemu-build')
    const build = join(prefix, 'bin', 'qemu-system-x86_64')
    mkdirSync(join(prefix, 'bin'), { recursive: true })
    copyFileSync(execFileSync('which', ['qemu-system-x86_64'], { encoding: 'utf8' }).trim(), build)
    chmodSync(build, 0o755)
    // Debian's build: modules, data and firmware folders (the last two hold the BIOS and option ROMs).
    for (const folder of ['lib/x86_64-linux-gnu/qemu', 'share/qemu', 'share/seabios', 'lib/ipxe/qemu']) {
      mkdirSync(dirname(join(prefix, folder)), { recursive: true })
      symlinkSync(join('/usr', folder), join(prefix, folder))
    }
    const refusal = (qemuBinary: string) =>
      h.client.call('machines.create', { spec: tinyGuestSpec('bad-qemu', { qemuBinary }) }).then(
        () => null,
        (error: BerthError) => (error.details as { fields?: Record<string, string> }).fields?.qemuBinary,
      )
    expect(await refusal('/bin/true')).toBe('/bin/true is not QEMU: it does not answer --version with "QEMU emulator version"')
    expect(await refusal(join(h.home, 'nowhere', 'qemu'))).toMatch(/nowhere\/qemu does not exist$/)
    expect(await refusal(execFileSync('which', ['qemu-img'], { encoding: 'utf8' }).trim())).toMatch(/is not QEMU/)

    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('own-qemu', { qemuBinary: build }) })
    const version = execFileSync(build, ['--version'], { encoding: 'utf8' }).match(/version ([\d.]+)/)![1]
    const check = async () => (await h.client.call('host.readiness', {})).checks.find((c) => c.title === 'QEMU of own-qemu')
    expect(await check()).toMatchObject({ status: 'ok', detail: `${build} ${version}` })
    await h.client.call('machines.start', { id })
    const guest = await watchConsole(h.client, id)
    await guest.waitFor(/guest# /)
    // The process that runs the guest is the build's binary.
    const runningBuild = readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && exe(pid) === build)
    expect(runningBuild.length).toBe(1)
    await h.client.call('machines.stop', { id, force: true })

    // The build removed since: the start is refused with the reason, and readiness says so.
    rmSync(build)
    await expect(h.client.call('machines.start', { id })).rejects.toMatchObject({ message: `${build} does not exist: choose another QEMU in the machine's settings` })
    expect(await check()).toMatchObject({ status: 'missing', detail: `${build} does not exist` })
  })
})

function exe(pid: string): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return null
  }
}
