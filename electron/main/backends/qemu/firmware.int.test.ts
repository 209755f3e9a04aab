// UEFI and the q35 chipset on the real test guest.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { qemuSpecSchema } from '../../../../shared/model/machine'
import { startHarness, tinyGuestSpec, waitForState, waitUntil, watchConsole, type Harness } from '../../testing/harness'
import { requireTestGuest } from '../../testing/guest'
import { findUefiFirmware } from './firmware'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

describe('firmware and chipset (real QEMU)', () => {
  it('a UEFI VM has OVMF drive its serial console and boots the kernel through the EFI stub; its variables can be reset', async () => {
    const guest = requireTestGuest()
    const spec = tinyGuestSpec('uefi', {
      firmware: { kind: 'efi' },
      boot: { type: 'kernel', kernel: guest.bzImage, initrd: guest.initrd, append: guest.append },
    })
    const { id } = await h.client.call('machines.create', { spec })
    await h.client.call('machines.start', { id })
    const console_ = await watchConsole(h.client, id)
    // OVMF sets up the serial terminal (clear screen, mode set) before it loads the kernel.
    await console_.waitFor('\x1b[2J\x1b[01;01H\x1b[=3h', 60_000)
    await console_.waitFor('BERTH-GUEST-EFI', 90_000) // printed by the guest when /sys/firmware/efi exists
    await console_.waitFor(/guest# /)
    // The machine's own variable store, made from the firmware's template, as a qcow2 (snapshots hold it).
    const vars = join(h.home, 'data', 'machines', id, 'efi-vars.qcow2')
    const template = (await findUefiFirmware()).find((f) => !f.secureBoot)!.varsTemplate
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', vars], { encoding: 'utf8' })) as { 'virtual-size': number }
    expect(info['virtual-size']).toBe(statSync(template).size)
    // Same content as the template: qemu-img compare exits 0, 1 when they differ.
    const sameAsTemplate = () => spawnSync('qemu-img', ['compare', '-q', '-f', 'qcow2', '-F', 'raw', vars, template]).status === 0
    // efiVars: while it runs QEMU holds the store; stopped, it is made anew from the template.
    const refused = await h.client.call('machines.resetFirmwareVars', { id }).catch((e: Error) => e.message)
    expect(refused).toBe('Stop uefi before changing its settings')
    await h.client.call('machines.stop', { id, force: true })
    await waitForState(h.client, id, 'stopped')
    // OVMF recorded its boot entries for this machine's devices in the store while it booted.
    expect(sameAsTemplate()).toBe(false)
    await h.client.call('machines.resetFirmwareVars', { id })
    expect(sameAsTemplate()).toBe(true)
  })

  it('TPM 2.0: the guest has one (swtpm), it answers after a Berth restart, its state stays with the machine and swtpm ends with the VM', async () => {
    // bzImage: under PVH (the ELF vmlinux) QEMU 7.2's guest finds no valid ACPI tables, and the TPM is an ACPI device.
    const { bzImage, initrd, append } = requireTestGuest()
    const spec = tinyGuestSpec('tpm', { chipset: 'q35', tpm: true, boot: { type: 'kernel', kernel: bzImage, initrd, append } })
    expect((await h.client.call('machines.preview', { spec })).argv).toEqual(expect.arrayContaining(['-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-crb,tpmdev=tpm0']))
    const { id } = await h.client.call('machines.create', { spec })
    await h.client.call('machines.start', { id })
    const swtpm = () => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((line) => line.startsWith('/usr/bin/swtpm') && line.includes(id))
    expect(swtpm()).toHaveLength(1)
    let guest = await watchConsole(h.client, id)
    await guest.waitFor('guest# ', 60_000)
    guest.type('echo tpm-$(cat /sys/class/tpm/tpm0/tpm_version_major); head -c 16 /sys/class/tpm/tpm0/pcr-sha256/0; echo; echo done-""reading\r')
    await guest.waitFor('done-reading', 20_000)
    expect(guest.text).toContain('tpm-2')
    expect(guest.text).toMatch(/^[0-9A-F]{16}\r?$/m) // PCR 0, read from the TPM
    // Berth goes away and comes back: QEMU kept swtpm's connection, the TPM still answers.
    await h.restart()
    guest = await watchConsole(h.client, id)
    guest.type('cat /sys/class/tpm/tpm0/pcr-sha256/7 >/dev/null && echo tpm-""answers\r')
    await guest.waitFor('tpm-answers', 20_000)
    await h.client.call('machines.stop', { id, force: true })
    await waitForState(h.client, id, 'stopped')
    expect(readdirSync(join(h.home, 'data', 'machines', id, 'tpm'))).toContain('tpm2-00.permall')
    await waitUntil('swtpm to end with the VM', async () => swtpm().length === 0, 10_000, () => swtpm().join('\n'))
  })

  it('Secure Boot picks the firmware with enrolled keys, and needs Q35', async () => {
    const spec = qemuSpecSchema.parse(tinyGuestSpec('secure', { chipset: 'q35', firmware: { kind: 'efi', secureBoot: true } }))
    const { argv } = await h.client.call('machines.preview', { spec })
    const secure = (await findUefiFirmware()).find((f) => f.secureBoot)!
    expect(argv).toContain(`if=pflash,format=raw,unit=0,readonly=on,file=${secure.code}`)
    expect(argv[argv.indexOf('-machine') + 1]).toBe('q35,smm=on')
    const refused = await h.client
      .call('machines.preview', { spec: { ...spec, chipset: 'pc' } })
      .catch((e: { details: unknown }) => e.details)
    expect(refused).toEqual({ fields: { 'spec.chipset': 'Secure Boot needs the Q35 chipset (its firmware requires SMM)' } })
  })

  it('a q35 VM takes a hot-plugged virtio disk in a free PCIe root port', async () => {
    const dir = join(h.home, 'q35-images')
    mkdirSync(dir)
    const disk = join(dir, 'pcie.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '40M'])
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('q35', { chipset: 'q35' }) })
    await h.client.call('machines.start', { id })
    const console_ = await watchConsole(h.client, id)
    await console_.waitFor(/guest# /, 60_000)
    await h.client.call('drives.attach', { id, path: disk, persist: false })
    for (let i = 0; i < 60; i++) {
      console_.type('grep vd /proc/partitions\r')
      await new Promise((r) => setTimeout(r, 500))
      if (/40960 vda/.test(console_.text)) break
    }
    expect(console_.text).toMatch(/40960 vda/)
    await h.client.call('machines.stop', { id, force: true })
  })
})
