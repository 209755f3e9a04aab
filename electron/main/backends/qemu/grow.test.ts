import { describe, expect, it } from 'vitest'
import { GrowSteps, growableProblem, partitionOf, sizeRefusal } from './grow'
import type { GrowStep } from '../../../../shared/model/drives'

const MiB = 1024 * 1024

describe('growing a disk', () => {
  it('finds the partition number of a filesystem on its disk, and refuses what is no partition of it', () => {
    expect(partitionOf('vda', 'vda')).toBeNull()
    expect(partitionOf('vda1', 'vda')).toEqual({ disk: 'vda', partition: 1 })
    expect(partitionOf('sdb12', 'sdb')).toEqual({ disk: 'sdb', partition: 12 })
    expect(partitionOf('nvme0n1p2', 'nvme0n1')).toEqual({ disk: 'nvme0n1', partition: 2 })
    expect(() => partitionOf('dm-0', 'vda')).toThrow('dm-0 is not a partition of vda (LVM or RAID?): grow it in the guest')
    // Without udev in the guest the agent names no disk: the kernel's names tell.
    expect(partitionOf('vda1', null)).toEqual({ disk: 'vda', partition: 1 })
    expect(partitionOf('nvme0n1p2', null)).toEqual({ disk: 'nvme0n1', partition: 2 })
    expect(partitionOf('mmcblk0p1', null)).toEqual({ disk: 'mmcblk0', partition: 1 })
    expect(partitionOf('vdb', null)).toBeNull()
    expect(partitionOf('nvme0n1', null)).toBeNull()
    expect(() => partitionOf('dm-0', null)).toThrow('dm-0 is not a partition of a disk (LVM or RAID?): grow it in the guest')
  })

  it('refuses to shrink or to keep the size, with the field to fix', () => {
    expect(sizeRefusal(64 * MiB, 128)).toBeNull()
    const shrink = sizeRefusal(64 * MiB, 32)!
    expect(shrink.message).toBe('The disk is 64 MiB; it cannot shrink to 32 MiB (that would cut off what the guest keeps at its end). Berth only grows disks.')
    expect(shrink.details).toEqual({ fields: { sizeMiB: 'At least 64 MiB: disks only grow' } })
    expect(sizeRefusal(64 * MiB, 64)!.message).toBe('The disk is already 64 MiB')
    expect(sizeRefusal(20 * 1024 * MiB, 10)!.message).toContain('The disk is 20.0 GiB')
  })

  it('grows raw, qcow2 and qed images that are not read-only', () => {
    expect(growableProblem({ file: '/i/a.qcow2', format: 'qcow2', readOnly: false })).toBeNull()
    expect(growableProblem({ file: '/i/a.img', format: 'raw', readOnly: true })).toBe('/i/a.img is attached read-only')
    expect(growableProblem({ file: '/i/a.vmdk', format: 'vmdk', readOnly: false })).toContain('convert it to qcow2 first')
  })

  it('hands the watcher every state of every step, and a failure ends on its step', async () => {
    const seen: GrowStep[][] = []
    const steps = new GrowSteps((list) => seen.push(list))
    const one = steps.add('one')
    await steps.run(one, async () => 5, (n) => `got ${n}`)
    const two = steps.add('two')
    await expect(steps.run(two, () => Promise.reject(new Error('no room')))).rejects.toThrow('no room')
    expect(seen.map((list) => list.map((s) => `${s.title}:${s.state}`).join(' '))).toEqual([
      'one:waiting',
      'one:running',
      'one:done',
      'one:done two:waiting',
      'one:done two:running',
      'one:done two:failed',
    ])
    expect(seen.at(-1)).toEqual([
      { title: 'one', state: 'done', detail: 'got 5' },
      { title: 'two', state: 'failed', detail: 'no room' },
    ])
  })
})
