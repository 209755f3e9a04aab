// From installation media to an installed system (real QEMU): the wizard's first choice. The test
// guest's installer ISO (labelled as a Debian 12 netinst) copies a system onto the VM's empty disk and
// restarts; Berth then ends the installation, ejects the disc and boots the disk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, waitForState, watchConsole, type Harness } from '../testing/harness'
import { requireTestGuest } from '../testing/guest'
import { osinfoArchive } from '../testing/osinfo-archive'
import type { QemuSpecInput } from '../../../shared/model/machine'
import { BerthError } from '../../../shared/errors'

let h: Harness
let work: string
beforeAll(async () => {
  h = await startHarness()
  work = mkdtempSync(join(h.home, 'media-'))
})
afterAll(async () => {
  await h?.cleanup()
})

/** A small ISO with this volume ID; bootable: with an El Torito boot record (a 2 KiB no-emulation image). */
function makeIso(name: string, volumeId: string, bootable: boolean): string {
  const dir = join(work, `${name}.d`)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'boot.img'), Buffer.alloc(2048))
  const iso = join(work, `${name}.iso`)
  execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', volumeId, ...(bootable ? ['-b', 'boot.img', '-no-emul-boot'] : []), '-o', iso, dir], { stdio: 'ignore' })
  return iso
}


const fieldOf = async (call: Promise<unknown>, field: string) => {
  const error = await call.then(() => null, (e: unknown) => e)
  expect(error).toBeInstanceOf(BerthError)
  return ((error as BerthError).details as { fields: Record<string, string> }).fields[field]
}

describe('detecting installation media (libosinfo)', () => {
  it('knows a Debian 11 netinst from the stock database and proposes its defaults', async () => {
    const info = await h.client.call('media.detect', { path: makeIso('debian11', 'Debian 11.7.0 amd64 n', true) })
    expect(info.os).toMatchObject({ shortId: 'debian11', name: 'Debian 11', family: 'linux', installer: true })
    expect(info.defaults).toMatchObject({ memoryMiB: 1024, diskSizeMiB: 20480, diskInterface: 'virtio', nicModel: 'virtio', chipset: 'q35', guestAgent: true, tpm: false })
    expect(info.reasons.join(' ')).toMatch(/Debian 11 recommends 1024 MiB of memory and a 20 GiB disk/)
    expect(info.database).toMatch(/^osinfo-db \d{8}$/)
  })

  it('recognises Debian 12 only once a newer database is imported into Berth’s own folder', async () => {
    const iso = requireTestGuest().installer
    const before = await h.client.call('media.detect', { path: iso })
    expect(before.os).toBeNull()
    expect(before.volumeId).toBe('Debian 12.0.0 amd64 n')
    expect(before.reasons[0]).toMatch(/does not know this system: generic defaults/)
    const { database } = await h.client.call('media.importDatabase', { path: osinfoArchive(work, join(work, 'archive')) })
    expect(database).toMatch(/Berth's own database 20230610 \(debian-12\)/)
    const after = await h.client.call('media.detect', { path: iso })
    expect(after.os).toMatchObject({ shortId: 'debian12', name: 'Debian 12', version: '12', vendor: 'Debian Project' })
    expect(after.defaults).toMatchObject({ memoryMiB: 2048, diskSizeMiB: 20480, diskInterface: 'virtio' })
  })

  it('refuses what is not installation media, saying what it is', async () => {
    expect(await fieldOf(h.client.call('media.detect', { path: makeIso('data', 'PHOTOS', false) }), 'path')).toMatch(/cannot boot a machine: it has no boot record/)
    const text = join(work, 'notes.iso')
    writeFileSync(text, 'not an image at all\n'.repeat(2000))
    expect(await fieldOf(h.client.call('media.detect', { path: text }), 'path')).toMatch(/is not an ISO image/)
    expect(await fieldOf(h.client.call('media.importDatabase', { path: text }), 'path')).toMatch(/not an osinfo-db archive/)
    // An unknown but bootable disc: generic defaults, and it says so.
    const unknown = await h.client.call('media.detect', { path: makeIso('unknown', 'MY SYSTEM', true) })
    expect(unknown.os).toBeNull()
    expect(unknown.defaults).toMatchObject({ memoryMiB: 2048, diskInterface: 'virtio' })
  })
})

describe('the file chooser of browser mode', () => {
  it('shows only folders and files inside the person’s home and Berth’s images, and remembers choices', async () => {
    const home = join(h.home, 'home')
    mkdirSync(join(home, 'Downloads'), { recursive: true })
    copyFileSync(requireTestGuest().installer, join(home, 'Downloads', 'debian-12.0.0-amd64-netinst.iso'))
    symlinkSync('/etc', join(home, 'system-config'))
    symlinkSync('/dev/null', join(home, 'Downloads', 'nothing'))
    writeFileSync(join(home, '.hidden'), '')
    const top = await h.client.call('files.list', {})
    expect(top.dir).toBe(home)
    expect(top.places.map((p) => p.label)).toEqual(['Home', 'Berth’s images'])
    // The link to /etc leads outside; dot files are hidden.
    expect(top.entries.map((e) => e.name)).toEqual(['Downloads'])
    const downloads = await h.client.call('files.list', { dir: join(home, 'Downloads') })
    expect(downloads.parent).toBe(home)
    // A device node (through a link) is not a file to choose.
    expect(downloads.entries.map((e) => [e.name, e.folder])).toEqual([['debian-12.0.0-amd64-netinst.iso', false]])
    await expect(h.client.call('files.list', { dir: '/etc' })).rejects.toThrow(/outside the folders Berth shows/)
    await expect(h.client.call('files.list', { dir: join(home, 'system-config') })).rejects.toThrow(/outside the folders Berth shows/)
    const { recent } = await h.client.call('files.remember', { path: downloads.entries[0]!.path })
    expect(recent).toEqual([downloads.entries[0]!.path])
    await expect(h.client.call('files.remember', { path: '/etc/passwd' })).rejects.toThrow(/outside/)
    // The next listing opens where the last choice was.
    expect((await h.client.call('files.list', {})).dir).toBe(join(home, 'Downloads'))
  })

  it('a folder of the person’s own can be added to the places; the system’s and other users’ cannot', async () => {
    const isos = mkdtempSync(join(work, 'isos-'))
    writeFileSync(join(isos, 'fedora.iso'), '')
    await h.client.call('files.addPlace', { path: isos })
    const listing = await h.client.call('files.list', { dir: isos })
    expect(listing.places.map((p) => p.path)).toContain(isos)
    expect(listing.entries.map((e) => e.name)).toEqual(['fedora.iso'])
    for (const system of ['/etc', '/', '/dev/shm', '/proc/self', '/usr'])
      await expect(h.client.call('files.addPlace', { path: system })).rejects.toThrow(/is a folder of the system/)
    const others = mkdtempSync(join(work, 'others-'))
    execFileSync('chown', ['65534:65534', others])
    await expect(h.client.call('files.addPlace', { path: others })).rejects.toThrow(/belongs to another user/)
    await expect(h.client.call('files.addPlace', { path: join(isos, 'fedora.iso') })).rejects.toThrow(/is a file/)
    // Two changes at once: neither is lost.
    const [a, b] = [mkdtempSync(join(work, 'a-')), mkdtempSync(join(work, 'b-'))]
    await Promise.all([h.client.call('files.addPlace', { path: a }), h.client.call('files.remember', { path: join(isos, 'fedora.iso') })])
    await h.client.call('files.addPlace', { path: b })
    const after = await h.client.call('files.list', {})
    expect(after.places.map((p) => p.path)).toEqual(expect.arrayContaining([isos, a, b]))
    expect(after.recent[0]).toBe(join(isos, 'fedora.iso'))
  })
})

type Firmware = Partial<QemuSpecInput>
const uefi: Firmware = { chipset: 'q35', firmware: { kind: 'efi', secureBoot: false }, memoryMiB: 512 }

describe('installing from the media (real QEMU)', () => {
  it.each([
    ['BIOS', {}],
    ['UEFI', uefi],
  ] as [string, Firmware][])('%s: the installer fills the empty disk and restarts; Berth ejects the disc and boots the disk', async (label, extra) => {
    const guest = requireTestGuest()
    const spec: QemuSpecInput = {
      kind: 'qemu',
      name: `install-${label.toLowerCase()}`,
      memoryMiB: 256,
      cores: 1,
      boot: { type: 'disk', install: { ejectAfterInstall: true } },
      disk: { sizeMiB: 128, interface: 'virtio' },
      cdrom: { file: guest.installer },
      ...extra,
    }
    const { id } = await h.client.call('machines.create', { spec }).catch((e: BerthError) => Promise.reject(new Error(`${e.message}: ${JSON.stringify(e.details)}`)))
    const { argv } = await h.client.call('machines.preview', { spec, id })
    expect(argv).toContain('-no-reboot')
    expect(argv.join(' ')).toMatch(/ide-cd,[^ ]*bootindex=1/)
    expect(argv.join(' ')).toMatch(/virtio-blk-pci,[^ ]*bootindex=2/)
    await h.client.call('machines.start', { id })
    try {
      const installing = await watchConsole(h.client, id)
      await installing.waitFor('BERTH-INSTALLER-BOOT', 120_000)
      await installing.waitFor(/BERTH-INSTALLER: copied \d+ of \d+ MiB \(100%\)/, 180_000)
      // The guest restarts: QEMU ends, Berth records the end of the installation and starts it again.
      await installing.waitFor('BERTH-BOOTLOADER', 120_000)
      await installing.waitFor(/guest# /, 120_000)
      const { machines } = await h.client.call('machines.list', {})
      const machine = machines.find((m) => m.id === id)!
      expect(machine.state).toBe('running')
      expect(machine.spec.kind === 'qemu' && machine.spec.boot).toEqual({ type: 'disk', install: null })
      expect(machine.spec.kind === 'qemu' && machine.spec.cdrom).toEqual({ file: null })
      expect(machine.runtime.kind === 'qemu' && machine.runtime.cdrom).toEqual({ file: null })
      // Booted from the disk the installer wrote (GRUB's command line, no installer flag), with no disc.
      const shown = await installing.run('cat /proc/cmdline; ls /sys/block')
      expect(shown).toMatch(/BOOT_IMAGE=\/boot\/bzImage console=ttyS0 quiet panic=-1\r?\n/)
      expect(shown).not.toMatch(/berth\.install/)
      const { argv: after } = await h.client.call('machines.preview', { spec: machine.spec, id })
      expect(after).not.toContain('-no-reboot')
      expect(after.join(' ')).toMatch(/virtio-blk-pci,[^ ]*bootindex=1/)
    } finally {
      await h.client.call('machines.stop', { id, force: true }).catch(() => undefined)
      await waitForState(h.client, id, 'stopped').catch(() => undefined)
    }
  })

  it('refuses to install from a disc that cannot boot, or without a disc, before anything starts', async () => {
    const spec: QemuSpecInput = {
      kind: 'qemu',
      name: 'install-refused',
      memoryMiB: 256,
      cores: 1,
      boot: { type: 'disk', install: { ejectAfterInstall: true } },
      disk: { sizeMiB: 64 },
      cdrom: { file: makeIso('data2', 'PHOTOS', false) },
    }
    expect(await fieldOf(h.client.call('machines.create', { spec }), 'cdrom.file')).toMatch(/cannot boot a machine: it has no boot record/)
    // The schema refuses at the boundary (its fields are named from the request: spec.…).
    expect(await fieldOf(h.client.call('machines.create', { spec: { ...spec, cdrom: { file: null } } }), 'spec.cdrom.file')).toMatch(/Choose the installation media/)
  })
})
