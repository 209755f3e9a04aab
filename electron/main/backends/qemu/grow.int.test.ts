// Growing disks of the real test guest: a running VM's partitioned ext4 disk grows in the guest too
// (block_resize, then growpart and resize2fs through the guest agent); a stopped VM's root disk grows
// with qemu-img; shrinking is refused.
import { describe, expect, it } from 'vitest'
import { useHarness } from '../../testing/use-harness'
import { execFileSync } from 'node:child_process'
import { closeSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import type { GrowStep } from '../../../../shared/model/drives'
import { vmRuntime, type QemuSpec } from '../../../../shared/model/machine'
import { tinyGuestSpec, watchConsole } from '../../testing/harness'

const t = useHarness()
const MiB = 1024 * 1024
const qemuImg = (...args: string[]) => execFileSync('qemu-img', args, { encoding: 'utf8' })

/** A qcow2 disk of sizeMiB with an MBR whose one partition (from 1 MiB to the end) holds ext4. */
function partitionedDisk(name: string, sizeMiB: number): string {
  const raw = join(t.files, `${name}.raw`)
  const sectors = (sizeMiB * MiB) / 512
  const table = Buffer.alloc(512)
  table[446 + 4] = 0x83 // Linux
  table.writeUInt32LE(2048, 446 + 8) // first sector
  table.writeUInt32LE(sectors - 2048, 446 + 12) // sectors
  table[510] = 0x55
  table[511] = 0xaa
  const fd = openSync(raw, 'w')
  writeSync(fd, table)
  closeSync(fd)
  execFileSync('truncate', ['-s', `${sizeMiB}M`, raw])
  execFileSync('mkfs.ext4', ['-q', '-F', '-E', `offset=${MiB}`, raw, `${(sectors - 2048) / 2}k`])
  const disk = join(t.files, `${name}.qcow2`)
  qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, disk)
  return disk
}

/** Grows through the stream the window uses; the steps as last sent, and the error it closed with. */
async function grow(id: string, disk: string, sizeMiB: number): Promise<{ steps: GrowStep[]; done: boolean; error: BerthError | null }> {
  let steps: GrowStep[] = []
  let done = false
  const error = await new Promise<BerthError | null>((resolve) => {
    t.h.client
      .openStream('drives.grow', { id, disk, sizeMiB }, {
        onControl: (message) => ('steps' in message ? (steps = message.steps) : (done = message.done)),
        onClose: (e) => resolve(e ? (e as BerthError) : null),
      })
      .catch((e: BerthError) => resolve(e))
  })
  return { steps, done, error }
}

describe('growing disks (real QEMU, guest agent)', () => {
  it('a running VM’s disk grows from 64 to 128 MiB: the guest sees it, growpart and resize2fs grow its ext4 (df before and after)', async () => {
    const disk = partitionedDisk('data', 64)
    const vm = await t.h.client.call('machines.create', { spec: tinyGuestSpec('grow') })
    await t.h.client.call('machines.start', { id: vm.id })
    const guest = await watchConsole(t.h.client, vm.id)
    await guest.waitFor(/guest# /, 60_000)
    const machine = await t.h.client.call('drives.attach', { id: vm.id, path: disk, persist: true })
    const drive = vmRuntime(machine).drives[0]!
    await guest.waitFor(/vda1/, 1).catch(() => undefined)
    const mounted = await guest.run('sleep 1; mkdir -p /mnt && mount /dev/vda1 /mnt && df -k /mnt | tail -1', 30_000)
    const blocks = (text: string) => Number(/\/dev\/vda1\s+(\d+)/.exec(text)?.[1])
    const before = blocks(mounted)
    expect(before).toBeGreaterThan(50_000)
    expect(before).toBeLessThan(64 * 1024)

    expect(await t.h.client.call('drives.size', { id: vm.id, disk: drive.id })).toMatchObject({ virtualSize: 64 * MiB, format: 'qcow2', growable: null })
    const shrink = await grow(vm.id, drive.id, 32)
    expect(shrink.error?.message).toBe('The disk is 64 MiB; it cannot shrink to 32 MiB (that would cut off what the guest keeps at its end). Berth only grows disks.')
    expect(shrink.steps).toEqual([])

    const grown = await grow(vm.id, drive.id, 128)
    expect(grown.error).toBeNull()
    expect(grown.done).toBe(true)
    expect(grown.steps.map((s) => [s.title, s.state])).toEqual([
      ['Grow the image from 64 MiB to 128 MiB (block_resize, while it runs)', 'done'],
      ['Find the disk’s filesystems in the guest', 'done'],
      ['Grow partition 1 of /dev/vda', 'done'],
      ['Grow the ext4 filesystem on /mnt', 'done'],
    ])
    expect(grown.steps[1]!.detail).toBe('ext4 on /mnt (/dev/vda1)')
    // The agent counts what df counts (ext4's own tables and reserved blocks left out).
    const [, fsBefore, fsAfter] = /^(\d+) MiB → (\d+) MiB$/.exec(grown.steps[3]!.detail ?? '') ?? []
    expect(Number(fsAfter) - Number(fsBefore)).toBeGreaterThan(55)
    const after = blocks(await guest.run('cat /sys/block/vda/size; df -k /mnt | tail -1', 30_000))
    expect(guest.text).toContain('262144') // 128 MiB in sectors
    expect(after).toBeGreaterThan(before + 60_000)
    expect(await t.h.client.call('drives.size', { id: vm.id, disk: drive.id })).toMatchObject({ virtualSize: 128 * MiB })
    await t.h.client.call('machines.stop', { id: vm.id, force: true })
  })

  it('a stopped VM’s root disk grows with qemu-img and the definition records the size; shrinking or the same size is refused', async () => {
    const image = join(t.files, 'root.qcow2')
    qemuImg('create', '-q', '-f', 'qcow2', image, '64M')
    const vm = await t.h.client.call('machines.create', { spec: tinyGuestSpec('grow-root', { disk: { image, sizeMiB: 64 } }) })
    const same = await grow(vm.id, 'root', 64)
    expect(same.error?.message).toBe('The disk is already 64 MiB')
    const grown = await grow(vm.id, 'root', 96)
    expect(grown.error).toBeNull()
    expect(grown.steps).toEqual([{ title: 'Grow the image from 64 MiB to 96 MiB', state: 'done', detail: image }])
    expect(JSON.parse(qemuImg('info', '--output=json', image))['virtual-size']).toBe(96 * MiB)
    const stored = (await t.h.client.call('machines.list', {})).machines.find((m) => m.id === vm.id)!
    expect((stored.spec as QemuSpec).disk?.sizeMiB).toBe(96)
  })
})
