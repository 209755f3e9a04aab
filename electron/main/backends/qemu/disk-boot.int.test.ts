// qemu-vm.nix's useBootLoader: a VM that boots from its own disk through the boot loader on it (GRUB,
// for BIOS and for UEFI), never from a kernel Berth passes to QEMU, on each disk interface.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { startHarness, watchConsole, type Harness } from '../../testing/harness'
import { requireTestGuest } from '../../testing/guest'
import type { QemuSpecInput } from '../../../../shared/model/machine'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

type DiskInterface = 'virtio' | 'scsi' | 'sata' | 'nvme' | 'ide'
// GRUB's EFI build needs more than 256 MiB to load the initramfs under OVMF.
const uefi: Partial<QemuSpecInput> = { chipset: 'q35', firmware: { kind: 'efi', secureBoot: false }, memoryMiB: 512 }
const cases: [string, Partial<QemuSpecInput>, DiskInterface][] = [
  ['BIOS, virtio', {}, 'virtio'],
  ['BIOS, SCSI', {}, 'scsi'],
  ['BIOS, SATA', {}, 'sata'],
  ['BIOS, NVMe', {}, 'nvme'],
  ['BIOS, IDE', {}, 'ide'],
  ['UEFI, virtio', uefi, 'virtio'],
  ['UEFI, NVMe', uefi, 'nvme'],
]
/** The disk's name in the guest's /proc/partitions on each interface. */
const guestDisk: Record<DiskInterface, RegExp> = { virtio: / vda\r?$/m, scsi: / sda\r?$/m, sata: / sda\r?$/m, nvme: / nvme0n1\r?$/m, ide: / sda\r?$/m }

describe('boot from the disk (useBootLoader, real QEMU)', () => {
  it.each(cases)('%s: the firmware starts GRUB on the disk, which boots the guest', async (_label, extra, diskInterface) => {
    const name = `diskboot-${diskInterface}-${extra.chipset ?? 'pc'}`
    const image = join(h.home, `${name}.qcow2`)
    execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', requireTestGuest().bootDisk, image])
    const spec: QemuSpecInput = {
      kind: 'qemu',
      name,
      memoryMiB: 256,
      cores: 1,
      boot: { type: 'disk' },
      disk: { image, sizeMiB: 64, interface: diskInterface },
      ...extra,
    }
    const { id } = await h.client.call('machines.create', { spec })
    // QEMU is given the disk and no kernel: what boots is on the disk.
    const { argv } = await h.client.call('machines.preview', { spec, id })
    expect(argv).not.toContain('-kernel')
    expect(argv.join(' ')).toContain('bootindex=1')
    await h.client.call('machines.start', { id })
    try {
      const guest = await watchConsole(h.client, id)
      await guest.waitFor('BERTH-BOOTLOADER', 120_000)
      await guest.waitFor(/guest# /, 120_000)
      guest.type('cat /proc/cmdline; echo; ls /sys/firmware | grep -c efi; cat /proc/partitions; echo booted-""from-disk\r')
      await guest.waitFor('booted-from-disk')
      // The guest's own driver for the interface found the disk it booted from.
      expect(guest.text).toMatch(guestDisk[diskInterface])
      // The kernel command line is GRUB's, from grub.cfg on the disk.
      expect(guest.text).toMatch(/BOOT_IMAGE=\/boot\/bzImage console=ttyS0/)
      expect(guest.text).toMatch(extra.firmware ? /\n1\r?\n/ : /\n0\r?\n/)
    } finally {
      await h.client.call('machines.stop', { id, force: true })
    }
  })
})
