import { describe, expect, it } from 'vitest'
import { qemuSpecSchema, type QemuSpecInput } from '../../../../shared/model/machine'
import { buildQemuArgv, qemuOptionValue, type QemuLaunch } from './argv'

const launch = (spec: Partial<QemuSpecInput>, extra: Partial<QemuLaunch> = {}): string[] =>
  buildQemuArgv({
    spec: qemuSpecSchema.parse({
      kind: 'qemu',
      name: 'tiny',
      memoryMiB: 256,
      cores: 2,
      boot: { type: 'kernel', kernel: '/k/vmlinux', initrd: '/k/initrd.gz', append: 'console=ttyS0 quiet' },
      ...spec,
    }),
    binary: 'qemu-system-x86_64',
    accelerator: 'tcg',
    runtimeDir: '/run/berth/abc',
    serialLog: '/data/logs/abc/serial.log',
    disk: null,
    ...extra,
  })

describe('buildQemuArgv', () => {
  it('direct kernel boot under TCG (golden)', () => {
    expect(launch({})).toEqual([
      'qemu-system-x86_64',
      '-name', 'tiny',
      '-machine', 'pc',
      '-accel', 'tcg',
      '-m', '256',
      '-smp', '2',
      '-nodefaults',
      '-no-user-config',
      '-display', 'none',
      '-S',
      '-qmp', 'unix:/run/berth/abc/qmp.sock,server=on,wait=off',
      '-chardev', 'socket,id=serial0,path=/run/berth/abc/serial.sock,server=on,wait=off,logfile=/data/logs/abc/serial.log,logappend=on',
      '-serial', 'chardev:serial0',
      '-pidfile', '/run/berth/abc/qemu.pid',
      '-kernel', '/k/vmlinux',
      '-initrd', '/k/initrd.gz',
      '-append', 'console=ttyS0 quiet',
    ])
  })

  it('KVM adds the host CPU model', () => {
    const argv = launch({}, { accelerator: 'kvm' })
    expect(argv.slice(5, 9)).toEqual(['-accel', 'kvm', '-cpu', 'host'])
  })

  it('leaves out an empty initrd and empty kernel parameters', () => {
    const argv = launch({ boot: { type: 'kernel', kernel: '/k/vmlinux' } })
    expect(argv).not.toContain('-initrd')
    expect(argv).not.toContain('-append')
  })

  it('a disk is a virtio-blk device with its format stated; boot from disk gets bootindex', () => {
    const argv = launch({ boot: { type: 'disk' }, disk: { sizeMiB: 1024 } }, { disk: { path: '/img/a.raw', format: 'raw' } })
    expect(argv.slice(-6)).toEqual([
      '-blockdev', 'driver=file,node-name=disk0-file,filename=/img/a.raw',
      '-blockdev', 'driver=raw,node-name=disk0,file=disk0-file',
      '-device', 'virtio-blk-pci,drive=disk0,id=disk0-dev,bootindex=1',
    ])
    expect(argv).not.toContain('-kernel')
  })

  it('a data disk next to a kernel boot has no bootindex', () => {
    const argv = launch({ disk: { sizeMiB: 64 } }, { disk: { path: '/img/d.qcow2', format: 'qcow2' } })
    expect(argv.at(-1)).toBe('virtio-blk-pci,drive=disk0,id=disk0-dev')
  })

  it('doubles commas in paths so they cannot inject QEMU options', () => {
    const argv = launch({}, { disk: { path: '/img/a,file=/etc/shadow', format: 'raw' }, runtimeDir: '/run/x,y' })
    expect(argv).toContain('driver=file,node-name=disk0-file,filename=/img/a,,file=/etc/shadow')
    expect(argv).toContain('unix:/run/x,,y/qmp.sock,server=on,wait=off')
    expect(qemuOptionValue('a,b,,c')).toBe('a,,b,,,,c')
  })

  it('passes kernel parameters as one argument, never through a shell', () => {
    const argv = launch({ boot: { type: 'kernel', kernel: '/k', append: 'a=1 $(reboot); b="x y"' } })
    expect(argv.at(-1)).toBe('a=1 $(reboot); b="x y"')
  })
})
