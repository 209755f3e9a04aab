// Attaching images to the real test guest: hot-plug, unplug, media change, and the refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdirSync, openSync, readSync, closeSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import type { Machine } from '../../../../shared/model/machine'
import { startHarness, tinyGuestSpec, watchConsole, type Harness } from '../../testing/harness'
import { vmRuntime } from '../../../../shared/model/machine'

let h: Harness
let vm: Machine
let console_: Awaited<ReturnType<typeof watchConsole>>
let dir: string

const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { encoding: 'utf8' })
const failure = (call: Promise<unknown>) =>
  call.then(
    () => {
      throw new Error('expected the call to fail')
    },
    (e: unknown) => e as BerthError,
  )

/** Runs a command in the test VM's console and waits for it to end. */
const guest = (command: string, timeoutMs = 30_000) => console_.run(command, timeoutMs)

/** Asks the guest again until its answer matches (devices appear a moment after the hot-plug). */
async function until(command: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const out = await guest(command)
    if (pattern.test(out)) return out
    if (Date.now() > deadline) throw new Error(`The guest never answered ${pattern} to ${command}; last:\n${out}`)
    await new Promise((r) => setTimeout(r, 300))
  }
}

beforeAll(async () => {
  h = await startHarness()
  dir = join(h.home, 'files')
  mkdirSync(dir)
  vm = await h.client.call('machines.create', { spec: tinyGuestSpec('drives') })
  await h.client.call('machines.start', { id: vm.id })
  console_ = await watchConsole(h.client, vm.id)
  await console_.waitFor(/guest# /)
})
afterAll(async () => {
  await h?.cleanup()
})

describe('drives on a running VM (real QEMU)', () => {
  it('hot-plugs a qcow2 on virtio and a raw image on SCSI; the guest sees both; detach removes them', async () => {
    const qcow2 = join(dir, 'data.qcow2')
    const raw = join(dir, 'data.img')
    qemuImg('create', '-q', '-f', 'qcow2', qcow2, '32M')
    qemuImg('create', '-q', '-f', 'raw', raw, '16M')

    const inspected = await h.client.call('images.inspect', { path: qcow2 })
    expect(inspected).toMatchObject({ format: 'qcow2', kind: 'disk', virtualSize: 32 * 1024 * 1024, backingChain: [] })

    let machine = await h.client.call('drives.attach', { id: vm.id, path: qcow2, persist: false })
    machine = await h.client.call('drives.attach', { id: vm.id, path: raw, bus: 'scsi', persist: false })
    expect(vmRuntime(machine).drives.map((d) => [d.file, d.format, d.bus, d.state, d.persistent])).toEqual([
      [qcow2, 'qcow2', 'virtio', 'attached', false],
      [raw, 'raw', 'scsi', 'attached', false],
    ])
    const seen = await until('cat /proc/partitions', /^(?=[\s\S]*16384 sd[a-z])(?=[\s\S]*32768 vda)/)

    // Write through the guest, detach, read the bytes on the host.
    const sd = /16384 (sd[a-z])/.exec(seen)![1]
    await guest(`echo -n written-by-the-guest > /dev/${sd}; sync`)
    const scsi = vmRuntime(machine).drives.find((d) => d.bus === 'scsi')!
    machine = await h.client.call('drives.detach', { id: vm.id, driveId: scsi.id })
    expect(vmRuntime(machine).drives.map((d) => d.file)).toEqual([qcow2])
    const fd = openSync(raw, 'r')
    const head = Buffer.alloc(20)
    readSync(fd, head, 0, 20, 0)
    closeSync(fd)
    expect(head.toString()).toBe('written-by-the-guest')

    const virtio = vmRuntime(machine).drives[0]!
    machine = await h.client.call('drives.detach', { id: vm.id, driveId: virtio.id })
    expect(vmRuntime(machine).drives).toEqual([])
    const after = await until('cat /proc/partitions', /major/)
    expect(after).not.toMatch(/vda/)
    expect(after).not.toMatch(new RegExp(`${sd}\\b`))
  })

  it('puts an ISO in the CD drive; the guest reads a file from it; eject empties the drive', async () => {
    const content = join(dir, 'iso-content')
    mkdirSync(content)
    writeFileSync(join(content, 'hello.txt'), 'hello from the disc\n')
    const iso = join(dir, 'disc.iso')
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, content])
    expect(await h.client.call('images.inspect', { path: iso })).toMatchObject({ format: 'raw', kind: 'iso' })

    let machine = await h.client.call('drives.attach', { id: vm.id, path: iso, persist: false })
    expect(vmRuntime(machine).cdrom).toEqual({ file: iso })
    await guest('mkdir -p /cd')
    await until('mount -t iso9660 -o ro /dev/sr0 /cd 2>&1; cat /cd/hello.txt; umount /cd', /hello from the disc/)
    machine = await h.client.call('drives.eject', { id: vm.id })
    expect(vmRuntime(machine).cdrom).toEqual({ file: null })
  })

  it('refuses what cannot be attached, with a clear reason, and changes nothing', async () => {
    const text = join(dir, 'notes.txt')
    writeFileSync(text, 'a shopping list\n'.repeat(64))
    const zip = join(dir, 'photos.zip')
    writeFileSync(zip, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(4096)]))
    const attach = (path: string, extra = {}) => failure(h.client.call('drives.attach', { id: vm.id, path, ...extra }))

    expect((await attach(text)).message).toMatch(/looks like a text file, not a disk image/)
    expect((await attach(zip)).message).toMatch(/looks like a ZIP archive, not a disk image/)
    expect((await attach(dir)).message).toMatch(/is a folder, not a disk image/)
    expect((await attach('/dev/null')).message).toMatch(/is a device node/)
    expect((await attach(join(dir, 'missing.qcow2'))).message).toMatch(/does not exist/)

    const disk = join(dir, 'once.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', disk, '8M')
    for (const bus of ['ide', 'sata', 'nvme'] as const)
      expect((await attach(disk, { bus })).details).toEqual({
        fields: { bus: 'IDE, SATA and NVMe disks cannot be added while the machine runs: choose virtio, SCSI or USB, or stop the machine first' },
      })
    await h.client.call('drives.attach', { id: vm.id, path: disk, persist: false })
    expect((await attach(disk)).message).toMatch(/is already attached to drives/)

    // Another running VM holding the image.
    const other = await h.client.call('machines.create', { spec: tinyGuestSpec('other') })
    await h.client.call('machines.start', { id: other.id })
    const inUse = await failure(h.client.call('drives.attach', { id: other.id, path: disk }))
    expect(inUse.message).toMatch(/is in use by drives, which is running/)
    await h.client.call('machines.stop', { id: other.id, force: true })
    // On a stopped machine the image goes into its definition, attached at its next start.
    const spare = join(dir, 'spare.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', spare, '8M')
    const stopped = await h.client.call('drives.attach', { id: other.id, path: spare, persist: false })
    expect(vmRuntime(stopped).drives).toMatchObject([{ file: spare, state: 'defined', persistent: true }])

    const { machines } = await h.client.call('machines.list', {})
    expect(vmRuntime(machines.find((m) => m.id === vm.id)!).drives.map((d) => d.file)).toEqual([disk])
    await h.client.call('drives.detach', { id: vm.id, driveId: vmRuntime(machines.find((m) => m.id === vm.id)!).drives[0]!.id })
  })

  it('asks before using backing files outside the allowed folders', async () => {
    const elsewhere = join(h.home, 'elsewhere')
    mkdirSync(elsewhere)
    const base = join(elsewhere, 'base.qcow2')
    const overlay = join(dir, 'overlay.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', base, '8M')
    qemuImg('create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay)
    const info = await h.client.call('images.inspect', { path: overlay })
    expect(info.backingChain).toEqual([{ file: base, format: 'qcow2' }])
    expect(info.backingOutsideAllowed).toEqual([base])
    const refused = await failure(h.client.call('drives.attach', { id: vm.id, path: overlay, persist: false }))
    expect(refused).toMatchObject({ code: 'conflict', details: { needsConfirmation: 'backing', files: [base] } })
    const machine = await h.client.call('drives.attach', { id: vm.id, path: overlay, persist: false, allowOutsideBacking: true })
    const drive = vmRuntime(machine).drives.find((d) => d.file === overlay)!
    await h.client.call('drives.detach', { id: vm.id, driveId: drive.id })
  })

  it('a drive kept in the definition is attached at the next start and survives a Berth restart', async () => {
    const disk = join(dir, 'kept.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', disk, '24M')
    let machine = await h.client.call('drives.attach', { id: vm.id, path: disk, bus: 'usb', persist: true })
    expect(vmRuntime(machine).drives.find((d) => d.file === disk)).toMatchObject({ persistent: true, state: 'attached', bus: 'usb' })
    await until('cat /proc/partitions', /24576 sd[a-z]/)
    await h.client.call('machines.stop', { id: vm.id, force: true })
    machine = (await h.client.call('machines.list', {})).machines.find((m) => m.id === vm.id)!
    expect(vmRuntime(machine).drives.find((d) => d.file === disk)).toMatchObject({ state: 'defined' })

    await h.client.call('machines.start', { id: vm.id })
    console_ = await watchConsole(h.client, vm.id)
    await console_.waitFor(/guest# $|guest# \x1b\[6n$/)
    await h.restart()
    console_ = await watchConsole(h.client, vm.id)
    machine = (await h.client.call('machines.list', {})).machines.find((m) => m.id === vm.id)!
    expect(vmRuntime(machine).drives.find((d) => d.file === disk)).toMatchObject({ state: 'attached', persistent: true })
    await until('cat /proc/partitions', /24576 sd[a-z]/)
  })
})

describe('drive settings on a stopped VM (real QEMU)', () => {
  it('cache modes, write-error policy, boot order and order are kept in the definition and QEMU runs with them', async () => {
    const files = ['first', 'second'].map((name, i) => {
      const file = join(dir, `settings-${name}.qcow2`)
      qemuImg('create', '-q', '-f', 'qcow2', file, `${20 + i}M`)
      return file
    })
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('drive-settings') })
    for (const file of files) await h.client.call('drives.attach', { id, path: file, bus: 'virtio', persist: true })
    let machine = (await h.client.call('machines.list', {})).machines.find((m) => m.id === id)!
    if (machine.spec.kind !== 'qemu') throw new Error('not a VM')
    // What the Drives panel does: reorder, and change the options, through machines.update.
    const [first, second] = machine.spec.drives
    const drives = [
      { ...second!, cache: 'none' as const, werror: 'stop' as const, bootIndex: 1 },
      { ...first!, bus: 'scsi' as const, cache: 'writethrough' as const, werror: 'report' as const },
    ]
    machine = await h.client.call('machines.update', { id, spec: { ...machine.spec, drives } })
    const { argv } = await h.client.call('machines.preview', { spec: machine.spec, id })
    expect(argv.join(' ')).toMatch(/"direct":true.*settings-second.*bootindex=1,werror=stop.*settings-first.*scsi-hd.*write-cache=off,werror=report/)
    await h.client.call('machines.start', { id })
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor('guest# ')
    viewer.type('cat /proc/partitions; echo parts-""done\r')
    await viewer.waitFor('parts-done')
    expect(viewer.text).toMatch(/21504 vda/) // the second image, now first, on virtio
    expect(viewer.text).toMatch(/20480 sd[a-z]/) // the first, on SCSI
    await h.client.call('machines.stop', { id, force: true })
  })
})

describe('how a disk is served: discard, zero detection, serial numbers, I/O limits (real QEMU)', () => {
  it('fstrim in the guest shrinks the qcow2; zeroes are not stored; the guest reads the serials; a limited disk is slower', async () => {
    const image = join(dir, 'tuned-root.qcow2')
    const zeroes = join(dir, 'tuned-zeroes.qcow2')
    const limited = join(dir, 'tuned-limited.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', zeroes, '32M')
    qemuImg('create', '-q', '-f', 'qcow2', limited, '16M')
    const { id } = await h.client.call('machines.create', {
      spec: tinyGuestSpec('tuned', { disk: { image, sizeMiB: 64, serial: 'BERTH-ROOT' } }),
    })
    for (const file of [zeroes, limited]) await h.client.call('drives.attach', { id, path: file, bus: 'virtio', persist: true })
    let machine = (await h.client.call('machines.list', {})).machines.find((m) => m.id === id)!
    if (machine.spec.kind !== 'qemu') throw new Error('not a VM')
    const [zeroDrive, limitedDrive] = machine.spec.drives
    machine = await h.client.call('machines.update', {
      id,
      spec: { ...machine.spec, drives: [{ ...zeroDrive!, detectZeroes: true }, { ...limitedDrive!, serial: 'SLOW.1', mbpsLimit: 1 }] },
    })
    await h.client.call('machines.start', { id })
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor('guest# ')
    const allocatedMiB = (file: string) => (statSync(file).blocks * 512) / 1024 / 1024

    const serials = await viewer.run('for d in vda vdc; do echo serial-$d-$(cat /sys/block/$d/serial); done')
    expect(serials).toContain('serial-vda-BERTH-ROOT')
    expect(serials).toContain('serial-vdc-SLOW.1')

    // Discard: a file written and deleted in an ext4 on the root disk, then fstrim: the image shrinks.
    await viewer.run('mke2fs -q /dev/vda && mount -t ext4 /dev/vda /mnt && dd if=/dev/urandom of=/mnt/junk bs=1M count=24 && sync')
    const written = allocatedMiB(image)
    expect(written).toBeGreaterThan(24)
    expect(await viewer.run('rm /mnt/junk && sync && fstrim -v /mnt && sync')).toMatch(/trimmed/)
    expect(allocatedMiB(image)).toBeLessThan(written - 20)

    // Zero detection: 16 MiB of zeroes written to the disk take no room in its image.
    const before = allocatedMiB(zeroes)
    await viewer.run('dd if=/dev/zero of=/dev/vdb bs=1M count=16 && sync')
    expect(allocatedMiB(zeroes)).toBeLessThan(before + 2)

    // 1 MiB/s: reading 4 MiB from the limited disk takes at least 3 s (the limit allows a short burst).
    const timed = await viewer.run('s=$(date +%s); dd if=/dev/vdc of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null; echo took-$(( $(date +%s) - s ))-s')
    expect(Number(/took-(\d+)-s/.exec(timed)?.[1])).toBeGreaterThanOrEqual(3)

    await h.client.call('machines.stop', { id, force: true })
  })
})
