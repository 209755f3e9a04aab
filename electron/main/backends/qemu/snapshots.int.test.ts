// Snapshots of the real test guest: a running VM's disk, memory (a shell variable) and TPM (a PCR)
// come back on revert and its console goes on; a stopped VM's snapshot brings back its settings and
// TPM state; deleting gives the space back; bad names and a second job at once are refused.
import { describe, expect, it } from 'vitest'
import { useHarness } from '../../testing/use-harness'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import type { QemuSpec } from '../../../../shared/model/machine'
import { tinyGuestSpec, waitForState, watchConsole } from '../../testing/harness'
import { requireTestGuest } from '../../testing/guest'

const t = useHarness()

/** A 64 MiB qcow2 disk holding an ext4 filesystem (no partition table), for the guest to mount. */
function ext4Disk(name: string): string {
  const raw = join(t.files, `${name}.raw`)
  execFileSync('truncate', ['-s', '64M', raw])
  execFileSync('mkfs.ext4', ['-q', '-F', raw])
  const disk = join(t.files, `${name}.qcow2`)
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk])
  return disk
}

// TPM2_PCR_Extend of PCR 16 (the debug PCR) with a SHA-256 digest of 0x42 bytes, under the password
// session, written to the kernel's TPM device as one command; the response's code is printed.
const extendPcr16 =
  "exec 3<>/dev/tpm0; printf '\\x80\\x02\\x00\\x00\\x00\\x41\\x00\\x00\\x01\\x82\\x00\\x00\\x00\\x10\\x00\\x00\\x00\\x09\\x40\\x00\\x00\\x09\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01\\x00\\x0b" +
  '\\x42'.repeat(32) +
  "' >&3; dd bs=64 count=1 <&3 2>/dev/null | od -An -tx1 | head -1; exec 3>&-"
const readPcr16 = async (guest: Awaited<ReturnType<typeof watchConsole>>) =>
  /PCR16=([0-9A-F]{64})/.exec(await guest.run('echo PCR16=$(cat /sys/class/tpm/tpm0/pcr-sha256/16)', 30_000))?.[1]

const allocated = (file: string) => statSync(file).blocks * 512

describe('snapshots of VMs (real QEMU, swtpm)', () => {
  it('a running VM: the disk’s marker and a shell variable come back on revert and the console goes on; names and a second job are refused; deleting frees space', async () => {
    const disk = ext4Disk('running')
    const vm = await t.h.client.call('machines.create', { spec: tinyGuestSpec('snap-running', { disk: { image: disk, sizeMiB: 64 } }) })
    expect(await t.h.client.call('snapshots.list', { id: vm.id })).toEqual({ snapshots: [], current: null, problem: null })
    await t.h.client.call('machines.start', { id: vm.id })
    const guest = await watchConsole(t.h.client, vm.id)
    await guest.waitFor(/guest# /, 60_000)
    await guest.run('mkdir -p /mnt && mount /dev/vda /mnt && echo one > /mnt/marker && sync; X=one', 30_000)

    const size = allocated(disk)
    const before = await t.h.client.call('snapshots.take', { id: vm.id, name: 'before', description: 'marker one, X=one' })
    expect(before).toMatchObject({ name: 'before', description: 'marker one, X=one', memory: true, parent: null })
    expect(before.sizeBytes).toBeGreaterThan(0)
    expect(allocated(disk) - size).toBe(before.sizeBytes)
    expect((await t.h.client.call('machines.list', {})).machines.find((m) => m.id === vm.id)?.state).toBe('running')
    await guest.run('echo two > /mnt/marker && sync; X=two', 30_000)

    // Bad names, a name taken (case aside), and a second job while one runs: refused, each saying why.
    const refusal = (name: string) =>
      t.h.client.call('snapshots.take', { id: vm.id, name, description: '' }).then(
        () => null,
        (e: BerthError) => `${e.message} ${(e.details as { fields?: Record<string, string> } | undefined)?.fields?.name ?? ''}`.trim(),
      )
    expect(await refusal('123')).toContain('a name of digits only reads as a snapshot number')
    expect(await refusal('../x')).toContain('Letters, digits, spaces, dots, dashes and underscores')
    expect(await refusal('Before')).toBe('A snapshot named “before” exists already “before” is taken: choose another name')
    const second = t.h.client.call('snapshots.take', { id: vm.id, name: 'second', description: '' })
    const busy = await t.h.client.call('snapshots.revert', { id: vm.id, name: 'before' }).then(() => null, (e: BerthError) => e.message)
    expect(busy).toBe('snap-running is busy taking the snapshot “second”: try again when that is done')
    expect((await second).parent).toBe('before')

    const reverted = await t.h.client.call('snapshots.revert', { id: vm.id, name: 'before' })
    expect(reverted.state).toBe('running')
    const after = await guest.run('echo "X is $X"; cat /mnt/marker', 30_000)
    expect(after).toContain('X is one')
    expect(after).toMatch(/\r?\none\r?\n/)
    expect(after).not.toMatch(/\r?\ntwo\r?\n/)
    const list = await t.h.client.call('snapshots.list', { id: vm.id })
    expect(list.current).toBe('before')
    expect(list.snapshots.map((s) => [s.name, s.parent])).toEqual([['before', null], ['second', 'before']])

    // A deleted snapshot's clusters go back to the host (the disk discards: unmap).
    const withBoth = allocated(disk)
    const left = await t.h.client.call('snapshots.delete', { id: vm.id, name: 'second' })
    expect(left.snapshots.map((s) => s.name)).toEqual(['before'])
    expect(withBoth - allocated(disk)).toBeGreaterThan(0.5 * (list.snapshots[1]!.sizeBytes ?? 0))
    await guest.run('echo still here', 30_000) // the console goes on after all that
    await t.h.client.call('machines.stop', { id: vm.id, force: true })
    await waitForState(t.h.client, vm.id, 'stopped')
  })

  it('a UEFI VM with a TPM: a PCR extended before the snapshot reads back after revert, live and from a stopped VM; a stopped snapshot brings back settings and TPM state', async () => {
    // bzImage: the TPM is an ACPI device, and under PVH QEMU 7.2's guest finds no valid ACPI tables.
    const { bzImage, initrd, append } = requireTestGuest()
    const disk = ext4Disk('uefi')
    const spec = tinyGuestSpec('snap-uefi', { chipset: 'q35', firmware: { kind: 'efi' }, tpm: true, disk: { image: disk, sizeMiB: 64 }, boot: { type: 'kernel', kernel: bzImage, initrd, append } })
    const vm = await t.h.client.call('machines.create', { spec })
    await t.h.client.call('machines.start', { id: vm.id })
    let guest = await watchConsole(t.h.client, vm.id)
    await guest.waitFor(/guest# /, 120_000)
    expect(await guest.run(extendPcr16, 30_000)).toMatch(/80 02 00 00 00 13 00 00 00 00/) // TPM_RC_SUCCESS
    const extended = await readPcr16(guest)
    expect(extended).toMatch(/^[0-9A-F]{64}$/)
    expect(extended).not.toBe('0'.repeat(64))
    await guest.run('Y=warm', 30_000)
    const warm = await t.h.client.call('snapshots.take', { id: vm.id, name: 'warm', description: '' })
    expect(warm.memory).toBe(true)
    await guest.run(`${extendPcr16}; Y=changed`, 30_000)
    expect(await readPcr16(guest)).not.toBe(extended)

    await t.h.client.call('snapshots.revert', { id: vm.id, name: 'warm' })
    expect(await readPcr16(guest)).toBe(extended)
    expect(await guest.run('echo "Y is $Y"', 30_000)).toContain('Y is warm')

    // Stopped: a disk-only snapshot with a copy of the TPM's state and the settings as they are.
    await t.h.client.call('machines.stop', { id: vm.id, force: true })
    await waitForState(t.h.client, vm.id, 'stopped')
    const cold = await t.h.client.call('snapshots.take', { id: vm.id, name: 'cold', description: 'stopped' })
    expect(cold).toMatchObject({ memory: false, parent: 'warm' })
    const tpmDir = join(t.h.home, 'data', 'machines', vm.id, 'tpm')
    const tpmFiles = readdirSync(tpmDir).sort()
    writeFileSync(join(tpmDir, 'changed-since'), 'x')
    await t.h.client.call('machines.update', { id: vm.id, spec: { ...(vm.spec as QemuSpec), memoryMiB: 384 } })
    const back = await t.h.client.call('snapshots.revert', { id: vm.id, name: 'cold' })
    expect(back.spec).toMatchObject({ memoryMiB: 256, tpm: true })
    expect(back.state).toBe('stopped')
    expect(readdirSync(tpmDir).sort()).toEqual(tpmFiles)

    // A memory snapshot reverted while stopped: the machine starts again from it.
    const started = await t.h.client.call('snapshots.revert', { id: vm.id, name: 'warm' })
    expect(started.state).toBe('running')
    guest = await watchConsole(t.h.client, vm.id)
    expect(await readPcr16(guest)).toBe(extended)
    expect(await guest.run('echo "Y is $Y"', 30_000)).toContain('Y is warm')
    const running = await t.h.client.call('snapshots.revert', { id: vm.id, name: 'cold' }).then(() => null, (e: BerthError) => e.message)
    expect(running).toBe('“cold” was taken while snap-uefi was stopped, so it holds no memory: stop snap-uefi, then revert')
    await t.h.client.call('machines.stop', { id: vm.id, force: true })
    await waitForState(t.h.client, vm.id, 'stopped')
    expect((await t.h.client.call('snapshots.delete', { id: vm.id, name: 'cold' })).snapshots.map((s) => s.name)).toEqual(['warm'])
  })

  it('a disk whose filesystem fills up during a snapshot: the machine runs on, nothing of the snapshot is kept, the message says why', async () => {
    const small = join(t.files, 'small')
    mkdirSync(small)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', small])
    try {
      const disk = join(small, 'full.qcow2')
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M'])
      const vm = await t.h.client.call('machines.create', { spec: tinyGuestSpec('snap-full', { disk: { image: disk, sizeMiB: 64 } }) })
      await t.h.client.call('machines.start', { id: vm.id })
      const guest = await watchConsole(t.h.client, vm.id)
      await guest.waitFor(/guest# /, 60_000)
      // 256 MiB of memory cannot fit in what is left (about 8 MiB).
      execFileSync('fallocate', ['-l', '40M', join(small, 'filler')])
      const failed = await t.h.client.call('snapshots.take', { id: vm.id, name: 'too-big', description: '' }).then(() => null, (e: BerthError) => e.message)
      // QEMU says only "Input/output error"; Berth says where room is missing.
      expect(failed).toMatch(new RegExp(`^The snapshot could not be taken: .*\\. ${small} has \\d+ MiB free, and a snapshot of a running machine needs room for its memory \\(up to 256 MiB\\): free some space there\\. snap-full runs on; nothing of the snapshot was kept\\.$`, 's'))
      expect((await t.h.client.call('snapshots.list', { id: vm.id })).snapshots).toEqual([])
      expect((await t.h.client.call('machines.list', {})).machines.find((m) => m.id === vm.id)?.state).toBe('running')
      expect(await guest.run('echo still running', 30_000)).toContain('still running')
      await t.h.client.call('machines.stop', { id: vm.id, force: true })
      await waitForState(t.h.client, vm.id, 'stopped')
      expect(execFileSync('qemu-img', ['snapshot', '-l', disk], { encoding: 'utf8' })).not.toContain('too-big')
    } finally {
      execFileSync('umount', ['-l', small])
    }
  })

  it('a raw disk or a disk attached only while running: snapshots are refused, saying what to do', async () => {
    const raw = join(t.files, 'plain.raw')
    execFileSync('truncate', ['-s', '16M', raw])
    const vm = await t.h.client.call('machines.create', { spec: tinyGuestSpec('snap-raw', { disk: { image: raw, sizeMiB: 16 } }) })
    const list = await t.h.client.call('snapshots.list', { id: vm.id })
    expect(list.problem).toBe(`${raw} is a raw image: snapshots live inside qcow2 images. Convert it (qemu-img convert -O qcow2) and use the copy, or attach it read-only`)
    const refused = await t.h.client.call('snapshots.take', { id: vm.id, name: 'a', description: '' }).then(() => null, (e: BerthError) => e.message)
    expect(refused).toBe(list.problem)
  })
})
