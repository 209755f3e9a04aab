import { describe, expect, it } from 'vitest'
import { proposeDefaults, type OsinfoOs } from './detect'

const host = { memoryMiB: 24 * 1024, cores: 2 }
const GiB = 1024 ** 3
const os = (over: Partial<OsinfoOs>): OsinfoOs => ({
  shortId: 'debian12',
  name: 'Debian 12',
  version: '12',
  family: 'linux',
  vendor: 'Debian Project',
  installer: true,
  recommended: { ramBytes: 2 * GiB, storageBytes: 20 * GiB, cpus: null },
  minimum: { ramBytes: 1 * GiB, storageBytes: 10 * GiB, cpus: 1 },
  devices: ['virtio-block', 'virtio-net', 'qemu-x86-q35'],
  ...over,
})

describe('the defaults proposed for a detected system', () => {
  it('a Linux with virtio drivers: its recommended resources, virtio disk and card, Q35, BIOS, no TPM', () => {
    const { defaults, reasons } = proposeDefaults(os({}), host)
    expect(defaults).toEqual({ memoryMiB: 2048, cores: 1, diskSizeMiB: 20480, firmware: 'seabios', chipset: 'q35', diskInterface: 'virtio', nicModel: 'virtio', tpm: false, guestAgent: true })
    expect(reasons[0]).toBe('Debian 12 recommends 2048 MiB of memory and a 20 GiB disk.')
  })

  it('Windows 11: UEFI with Secure Boot and a TPM 2.0 on Q35, SATA and e1000e, and why (virtio-win)', () => {
    const win = os({ shortId: 'win11', name: 'Microsoft Windows 11', family: 'winnt', recommended: null, minimum: { ramBytes: 4 * GiB, storageBytes: 64 * GiB, cpus: 2 }, devices: ['e1000e', 'qemu-x86-q35'] })
    const { defaults, reasons } = proposeDefaults(win, host)
    expect(defaults).toEqual({ memoryMiB: 4096, cores: 2, diskSizeMiB: 65536, firmware: 'efi-secure', chipset: 'q35', diskInterface: 'sata', nicModel: 'e1000e', tpm: true, guestAgent: true })
    expect(reasons.join(' ')).toMatch(/needs at least 4096 MiB.*no virtio drivers of its own.*virtio-win.*requires UEFI with Secure Boot and a TPM 2\.0/)
  })

  it('never more than half the host’s memory, and says so', () => {
    const { defaults, reasons } = proposeDefaults(os({ recommended: { ramBytes: 16 * GiB, storageBytes: 20 * GiB, cpus: 4 } }), { memoryMiB: 8192, cores: 2 })
    expect(defaults.memoryMiB).toBe(4096)
    expect(defaults.cores).toBe(2)
    expect(reasons).toContain('This host has 8192 MiB: the machine gets 4096 MiB, half of it.')
  })

  it('an unknown system: generic defaults, and it says so', () => {
    const { defaults, reasons } = proposeDefaults(null, host)
    expect(defaults).toMatchObject({ memoryMiB: 2048, diskSizeMiB: 20480, diskInterface: 'virtio', tpm: false })
    expect(reasons[0]).toMatch(/does not know this system: generic defaults/)
  })
})
