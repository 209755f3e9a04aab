import { describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildQemuArgv } from '../electron/main/backends/qemu/argv'
import { qemuSpecSchema } from '../shared/model/machine'
import { berthMachineFolders, rawArgv } from './raw-qemu'

describe("the baseline's command line", () => {
  it('moves every path in a machine folder of Berth into its own folder, whatever Berth names there', () => {
    const home = '/home/someone/berth'
    const [runtime, files] = berthMachineFolders(home)
    const id = 'abcdefabcdef'
    const spec = qemuSpecSchema.parse({
      kind: 'qemu', name: 'all', memoryMiB: 256, cores: 1, chipset: 'q35', firmware: { kind: 'efi', secureBoot: false },
      boot: { type: 'kernel', kernel: '/guest/vmlinuz', initrd: '/guest/initrd' },
      display: { protocol: 'spice' }, guestAgent: true, sharedDirectories: [{ source: '/srv/share', tag: 'share', target: '/mnt/share' }],
      cdrom: { file: '/images/disc.iso' }, emptyDiskImages: [64],
    })
    const argv = buildQemuArgv({
      spec, binary: 'qemu-system-x86_64', accelerator: 'tcg', runtimeDir: join(runtime!, id),
      disk: null, emptyDisks: [join(files!, id, 'empty0.qcow2')], uefi: { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: join(files!, id, 'efi-vars.qcow2') },
    })
    expect(argv.join(' ')).toContain(home) // the test means something only if Berth's argv names its folders
    const dir = mkdtempSync(join(tmpdir(), 'berth-raw-'))
    try {
      const raw = rawArgv(argv, dir, [runtime!, files!])
      expect(raw.filter((a) => a.includes(home))).toEqual([])
      expect(raw.join(' ')).toContain(`${dir}/qga.sock`)
      expect(raw).not.toContain('-S')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
