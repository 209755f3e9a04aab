// spec → QEMU argv: a pure function, golden-tested. No shell ever sees these strings.
import { join } from 'node:path'
import type { QemuSpec } from '../../../../shared/model/machine'

export type Accelerator = 'kvm' | 'tcg'

export interface QemuLaunch {
  spec: QemuSpec
  binary: string
  accelerator: Accelerator
  /** Holds qmp.sock, serial.sock and qemu.pid while the VM runs. */
  runtimeDir: string
  /** Appended to by QEMU: the serial console's scrollback across runs and app restarts. */
  serialLog: string
  /** The VM's disk with its detected format; the format is always stated, never guessed by QEMU. */
  disk: { path: string; format: string } | null
}

export const runtimeFiles = {
  qmp: 'qmp.sock',
  serial: 'serial.sock',
  pid: 'qemu.pid',
} as const

/** QEMU's option parser splits on commas; a literal comma in a value is written twice. */
export function qemuOptionValue(value: string): string {
  return value.replaceAll(',', ',,')
}

export function buildQemuArgv(launch: QemuLaunch): string[] {
  const { spec, runtimeDir } = launch
  const at = (file: string) => qemuOptionValue(join(runtimeDir, file))
  const argv = [
    launch.binary,
    '-name', qemuOptionValue(spec.name),
    '-machine', 'pc',
    '-accel', launch.accelerator,
    ...(launch.accelerator === 'kvm' ? ['-cpu', 'host'] : []),
    '-m', String(spec.memoryMiB),
    '-smp', String(spec.cores),
    '-nodefaults',
    '-no-user-config',
    '-display', 'none',
    // Start paused: Berth attaches to the serial socket first, then resumes, so no byte is missed.
    '-S',
    '-qmp', `unix:${at(runtimeFiles.qmp)},server=on,wait=off`,
    '-chardev',
    `socket,id=serial0,path=${at(runtimeFiles.serial)},server=on,wait=off,` +
      `logfile=${qemuOptionValue(launch.serialLog)},logappend=on`,
    '-serial', 'chardev:serial0',
    '-pidfile', join(runtimeDir, runtimeFiles.pid),
  ]
  if (spec.boot.type === 'kernel') {
    argv.push('-kernel', spec.boot.kernel)
    if (spec.boot.initrd) argv.push('-initrd', spec.boot.initrd)
    if (spec.boot.append) argv.push('-append', spec.boot.append)
  }
  if (launch.disk) {
    const file = qemuOptionValue(launch.disk.path)
    argv.push('-blockdev', `driver=file,node-name=disk0-file,filename=${file}`)
    argv.push('-blockdev', `driver=${launch.disk.format},node-name=disk0,file=disk0-file`)
    const bootIndex = spec.boot.type === 'disk' ? ',bootindex=1' : ''
    argv.push('-device', `virtio-blk-pci,drive=disk0,id=disk0-dev${bootIndex}`)
  }
  return argv
}
