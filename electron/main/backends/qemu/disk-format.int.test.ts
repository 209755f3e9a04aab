// A guest, or an image someone hands over, never chooses how a file on this host is opened. Real
// QEMU: the guest writes a qcow2 header naming a host file (as backing file, as data file) onto its
// own raw disk; Berth then refuses to start it and the host files are untouched. Dropped images with
// a data file or a network/json: backing file are refused before anything opens them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import { startHarness, tinyGuestSpec, waitForState, watchConsole, type Harness } from '../../testing/harness'
import { vmRuntime } from '../../../../shared/model/machine'

let h: Harness
let dir: string

const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { encoding: 'utf8' })
const formatOf = (path: string) => (JSON.parse(qemuImg('info', '--output=json', '--force-share', path)) as { format: string }).format
const failure = (call: Promise<unknown>) => call.then(() => null as never, (e: unknown) => e as BerthError)

/** Every process that has `path` open right now. */
function openers(path: string): string[] {
  const found = []
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let fds: string[] = []
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue // gone, or not ours to read
    }
    for (const fd of fds) if ((() => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`) } catch { return '' } })() === path) found.push(pid)
  }
  return found
}

/** A qcow2 whose header names its backing file but not its format, as older qemu-img wrote them: QEMU would guess the format. */
function overlayWithoutBackingFormat(path: string, backing: string): void {
  qemuImg('create', '-q', '-f', 'qcow2', '-b', backing, '-F', 'raw', path, '16M')
  const header = readFileSync(path).subarray(0, 4096)
  const at = header.indexOf(Buffer.from('e2792aca', 'hex')) // the backing format extension, made the end of extensions
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.alloc(4), 0, 4, at)
  closeSync(fd)
  expect(JSON.parse(qemuImg('info', '--output=json', path))['backing-filename-format']).toBeUndefined()
}

/** A raw file the guest can read as a disk, holding `image` from byte 512 on (so it is raw, not qcow2, to qemu-img). */
function carrier(name: string, image: string): string {
  const path = join(dir, `${name}.img`)
  qemuImg('create', '-q', '-f', 'raw', path, '1M')
  const fd = openSync(path, 'r+')
  writeSync(fd, readFileSync(image), 0, undefined, 512)
  closeSync(fd)
  return path
}

beforeAll(async () => {
  h = await startHarness()
  dir = join(h.home, 'images')
  mkdirSync(dir)
})
afterAll(async () => {
  await h?.cleanup()
})

describe('disk formats are recorded, never probed (real QEMU)', () => {
  const secret = () => join(h.home, 'host-secret')
  const target = () => join(h.home, 'host-file-to-overwrite')

  const attacks: [string, (header: string) => void][] = [
    ['a backing file', (header) => qemuImg('create', '-q', '-f', 'qcow2', '-b', secret(), '-F', 'raw', header, '16M')],
    [
      'an external raw data file',
      (header) => {
        qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${target()},data_file_raw=on`, header, '16M')
        writeFileSync(target(), 'ORIGINAL CONTENT OF A HOST FILE\n') // qemu-img made it empty
      },
    ],
  ]

  it.each(attacks)('a guest that writes a qcow2 header with %s onto its raw disk cannot make QEMU open it', async (label, makeHeader) => {
    writeFileSync(secret(), 'HOST-SECRET '.repeat(1000))
    const slug = label.replace(/\W+/g, '-')
    const disk = join(dir, `${slug}-root.img`)
    qemuImg('create', '-q', '-f', 'raw', disk, '32M')
    const header = join(dir, `${slug}.qcow2`)
    makeHeader(header)
    const before = readFileSync(target(), { flag: 'a+' }).toString()

    // The caller's word on the format is not taken: Berth reads it from the file.
    const spec = tinyGuestSpec(`victim-${slug}`.slice(0, 30), { disk: { image: disk, sizeMiB: 32, interface: 'virtio', format: 'qcow2' } })
    const vm = await h.client.call('machines.create', { spec })
    expect(vm.spec.kind === 'qemu' && vm.spec.disk?.format).toBe('raw')
    await h.client.call('drives.attach', { id: vm.id, path: carrier(slug, header), persist: true })
    await h.client.call('machines.start', { id: vm.id })
    const guest = await watchConsole(h.client, vm.id)
    await guest.waitFor('guest# ')
    guest.type('dd if=/dev/vdb of=/dev/vda bs=512 skip=1 && sync && echo header-""written\r')
    await guest.waitFor('header-written')
    await h.client.call('machines.stop', { id: vm.id, force: true, timeoutSec: 0 })
    await waitForState(h.client, vm.id, 'stopped')
    expect(formatOf(disk)).toBe('qcow2') // what the guest wrote is really there

    const refused = await failure(h.client.call('machines.start', { id: vm.id }))
    expect(refused.code).toBe('conflict')
    expect(refused.message).toContain(`${disk} was recorded as a raw image but now reads as qcow2`)
    const [machine] = (await h.client.call('machines.list', {})).machines.filter((m) => m.id === vm.id)
    expect(machine!.state).toBe('stopped')
    expect(readFileSync(secret(), 'utf8')).toBe('HOST-SECRET '.repeat(1000))
    expect(readFileSync(target(), { flag: 'a+' }).toString()).toBe(before)
  })

  it('refuses dropped images with a data file or a network or json: backing file, before opening them', async () => {
    const withData = join(dir, 'with-data.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', '-o', `data_file=${target()}`, withData, '16M')
    writeFileSync(target(), 'ORIGINAL\n')
    const vm = await h.client.call('machines.create', { spec: tinyGuestSpec('dropped') })

    const dataRefusal = await failure(h.client.call('images.inspect', { path: withData }))
    expect(dataRefusal.message).toBe(`${withData} keeps its data in another file (${target()}): Berth does not open images with an external data file`)
    expect((await failure(h.client.call('drives.attach', { id: vm.id, path: withData, persist: true }))).message).toBe(dataRefusal.message)

    for (const backing of ['nbd://127.0.0.1:9/export', 'json:{"file.driver":"file","file.filename":"/etc/hostname"}']) {
      const image = join(dir, 'network-backed.qcow2')
      qemuImg('create', '-q', '-f', 'qcow2', '-u', '-b', backing, '-F', 'raw', image, '16M')
      const refused = await failure(h.client.call('images.inspect', { path: image }))
      expect(refused.message).toContain(`names ${backing} as its backing file: only plain files are allowed`)
    }
    const machine = (await h.client.call('machines.list', {})).machines.find((m) => m.id === vm.id)!
    expect(vmRuntime(machine).drives).toEqual([])
    expect(readFileSync(target(), 'utf8')).toBe('ORIGINAL\n')
  })

  it("asks before trusting another machine's disk as a backing file, even in Berth's image folder", async () => {
    const images = join(h.home, 'data', 'images')
    mkdirSync(images, { recursive: true })
    const theirs = join(images, 'theirs.img')
    qemuImg('create', '-q', '-f', 'raw', theirs, '16M')
    await h.client.call('machines.create', { spec: tinyGuestSpec('owner', { disk: { image: theirs, sizeMiB: 16, interface: 'virtio' } }) })
    const overlay = join(images, 'overlay.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', '-b', theirs, '-F', 'raw', overlay, '16M')
    expect((await h.client.call('images.inspect', { path: overlay })).backingOutsideAllowed).toEqual([theirs])
    const vm = await h.client.call('machines.create', { spec: tinyGuestSpec('borrower') })
    const refused = await failure(h.client.call('drives.attach', { id: vm.id, path: overlay, persist: true }))
    expect(refused).toMatchObject({ code: 'conflict', details: { needsConfirmation: 'backing', files: [theirs] } })
  })

  it("pins a backing file's format: another guest's raw disk under an overlay stays raw, and a changed chain is refused", async () => {
    writeFileSync(secret(), 'HOST-SECRET '.repeat(1000))
    const images = join(h.home, 'data', 'images')
    mkdirSync(images, { recursive: true })
    const shared = join(images, 'shared-base.img')
    qemuImg('create', '-q', '-f', 'raw', shared, '16M')
    const overlay = join(images, 'pinned-overlay.qcow2')
    overlayWithoutBackingFormat(overlay, shared)
    const vm = await h.client.call('machines.create', { spec: tinyGuestSpec('pinned') })
    const attached = await h.client.call('drives.attach', { id: vm.id, path: overlay, persist: true, allowOutsideBacking: true })
    expect(vmRuntime(attached).drives[0]).toMatchObject({ format: 'qcow2', backing: [{ file: shared, format: 'raw' }] })

    // The guest that owns the raw base disk writes a qcow2 header into it, naming a host file as its backing file.
    const header = join(dir, 'planted.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', '-b', secret(), '-F', 'raw', header, '16M')
    const fd = openSync(shared, 'r+')
    writeSync(fd, readFileSync(header), 0, undefined, 0)
    closeSync(fd)
    expect(formatOf(shared)).toBe('qcow2')

    await h.client.call('machines.start', { id: vm.id })
    const guest = await watchConsole(h.client, vm.id)
    await guest.waitFor('guest# ')
    // The overlay's guest reads the base's raw bytes (the planted header's magic) and QEMU never opened the host file.
    guest.type('od -A n -t x1 -N 4 /dev/vda; echo read-""done\r')
    await guest.waitFor('read-done')
    expect(guest.text).toMatch(/51 46 49 fb/)
    expect(openers(secret())).toEqual([])
    await h.client.call('machines.stop', { id: vm.id, force: true, timeoutSec: 0 })
    await waitForState(h.client, vm.id, 'stopped')

    // Someone rebases the overlay onto another file: Berth does not open it with a chain it did not check.
    const other = join(images, 'other-base.img')
    qemuImg('create', '-q', '-f', 'raw', other, '16M')
    qemuImg('rebase', '-u', '-b', other, '-F', 'raw', overlay)
    const refused = await failure(h.client.call('machines.start', { id: vm.id }))
    expect(refused.code).toBe('conflict')
    expect(refused.message).toContain(`${overlay} now names ${other} as its backing file, not ${shared} as when it was added`)
  })
})
