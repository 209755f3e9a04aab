// spec → QEMU argv: a pure function, golden-tested. No shell ever sees these strings.
import { basename } from 'node:path'
import { join } from 'node:path'
import type { QemuSpec } from '../../../../shared/model/machine'
import { diskTuningSchema, layeredFormats, type DiskTuning, type Drive, type ImageLink } from '../../../../shared/model/drives'
import { backingNode, CDROM_DEVICE, CDROM_ID, controllers, deviceId, diskNode, HOTPLUG_ROOT_PORTS, macAddress, rootPort, tapName, vlanMac, vlanTapName } from './ids'
import { tpmArgv } from './tpm'

export type Accelerator = 'kvm' | 'tcg'

export interface QemuLaunch {
  spec: QemuSpec
  binary: string
  accelerator: Accelerator
  /** Holds qmp.sock, serial.sock and qemu.pid while the VM runs. */
  runtimeDir: string
  /** The VM's disk with its recorded format and backing chain; both always stated, never read by QEMU. */
  disk: { path: string; format: ImageLink['format']; backing?: ImageLink[] } | null
  /** The blank disks made for emptyDiskImages, in order. */
  emptyDisks?: string[]
  /** UEFI: the firmware's code (read-only) and this VM's own copy of the variable store. */
  uefi?: { code: string; vars: string } | null
  /** cloud-init's NoCloud seed (an ISO Berth wrote), read by the guest as a CD on the SCSI bus. */
  seed?: string | null
}

export const runtimeFiles = {
  qmp: 'qmp.sock',
  serial: 'serial.sock',
  vnc: 'vnc.sock',
  spice: 'spice.sock',
  agent: 'qga.sock',
  /** swtpm's control socket (tpm.ts). */
  tpm: 'swtpm.sock',
  pid: 'qemu.pid',
  /** The serial keeper's console socket, which viewers use (serial-keeper.ts). */
  console: 'console.sock',
} as const

/** QEMU's device for each network card model. */
const nicDevice = { virtio: 'virtio-net-pci', e1000: 'e1000', e1000e: 'e1000e', rtl8139: 'rtl8139' } as const

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
    '-machine', machineOption(spec),
    '-accel', launch.accelerator,
    ...(launch.accelerator === 'kvm' ? ['-cpu', 'host'] : []),
    '-m', String(spec.memoryMiB),
    '-smp', String(spec.cores),
    '-nodefaults',
    '-no-user-config',
    // seccomp: whatever a guest manages to do to QEMU, QEMU cannot start programs, raise its
    // privileges or use obsolete system calls.
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
    '-display', 'none',
    // Start paused: Berth's serial keeper connects first (it logs every byte), then Berth resumes.
    '-S',
    '-qmp', `unix:${at(runtimeFiles.qmp)},server=on,wait=off`,
    '-chardev', `socket,id=serial0,path=${at(runtimeFiles.serial)},server=on,wait=off`,
    '-serial', 'chardev:serial0',
    '-pidfile', join(runtimeDir, runtimeFiles.pid),
  ]
  // While installing, QEMU exits when the guest restarts: Berth ends the installation (ejects the
  // disc) and starts it again from its disk. A reboot inside QEMU would boot the disc again.
  if (installing(spec)) argv.push('-no-reboot')
  if (spec.firmware.kind === 'bios' && spec.firmware.file) argv.push('-bios', spec.firmware.file)
  if (spec.firmware.kind === 'efi') {
    if (!launch.uefi) throw new Error('A UEFI machine needs its firmware files resolved')
    if (spec.firmware.secureBoot) argv.push('-global', 'driver=cfi.pflash01,property=secure,value=on')
    argv.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${qemuOptionValue(launch.uefi.code)}`)
    argv.push('-drive', `if=pflash,format=qcow2,unit=1,file=${qemuOptionValue(launch.uefi.vars)}`)
  }
  if (spec.chipset === 'q35')
    for (let n = 1; n <= HOTPLUG_ROOT_PORTS; n++)
      argv.push('-device', `pcie-root-port,id=${rootPort(n)},bus=pcie.0,chassis=${n},slot=${n}`)
  if (spec.boot.type === 'kernel') {
    argv.push('-kernel', spec.boot.kernel)
    if (spec.boot.initrd) argv.push('-initrd', spec.boot.initrd)
    const append = [spec.boot.append, ...spec.boot.consoles.map((c) => `console=${c}`)].filter(Boolean).join(' ')
    if (append) argv.push('-append', append)
  }
  spec.sharedDirectories.forEach((share, i) => {
    const path = qemuOptionValue(share.source)
    argv.push('-fsdev', `local,id=fs${i},path=${path},security_model=${share.securityModel}`)
    argv.push('-device', `virtio-9p-pci,fsdev=fs${i},mount_tag=${share.tag}`)
  })
  const id = basename(launch.runtimeDir)
  if (spec.network?.bridge) {
    argv.push('-netdev', `tap,id=net0,ifname=${tapName(id)},script=no,downscript=no`)
    argv.push('-device', `${nicDevice[spec.nicModel]},netdev=net0,id=net0-dev,mac=${macAddress(id, 'net0')}`)
  } else if (spec.network) {
    // guestfwd goes to a chardev (tcp:ADDR:PORT), never to "cmd:", which QEMU would run in a shell.
    const rules = spec.network.forwardPorts.map(({ from, proto, host, guest }) =>
      from === 'host'
        ? `hostfwd=${proto}:${host.address}:${host.port}-${guest.address}:${guest.port}`
        : `guestfwd=${proto}:${guest.address}:${guest.port}-tcp:${host.address || '127.0.0.1'}:${host.port}`,
    )
    argv.push('-netdev', ['user', 'id=net0', ...rules].join(','), '-device', `${nicDevice[spec.nicModel]},netdev=net0,id=net0-dev,mac=${macAddress(id, 'net0')}`)
  }
  if (spec.guestAgent) {
    argv.push('-chardev', `socket,id=qga0,path=${at(runtimeFiles.agent)},server=on,wait=off`)
    argv.push('-device', 'virtio-serial-pci,id=vser0', '-device', 'virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0')
  }
  for (const vlan of spec.vlans) {
    argv.push('-netdev', `tap,id=vlan${vlan},ifname=${vlanTapName(id, vlan)},script=no,downscript=no`)
    argv.push('-device', `${nicDevice[spec.nicModel]},netdev=vlan${vlan},id=vlan${vlan}-dev,mac=${vlanMac(id, vlan, spec.vlanNumber)}`)
  }
  // Controllers that take disks while the guest runs: SCSI and USB hot-plug need their bus present.
  argv.push('-device', `virtio-scsi-pci,id=${controllers.scsi}`, '-device', `qemu-xhci,id=${controllers.usb}`)
  const diskBus = spec.disk?.interface ?? 'virtio'
  // SATA: an AHCI controller of Berth's own (on pc and q35 alike), a port per disk in order.
  let sataPorts = 0
  if (((launch.disk || launch.emptyDisks?.length) && diskBus === 'sata') || spec.drives.some((d) => d.bus === 'sata'))
    argv.push('-device', `ahci,id=${controllers.sata}`)
  const disks = [
    ...(launch.disk ? [{ ...launch.disk, boot: spec.boot.type === 'disk' }] : []),
    ...(launch.emptyDisks ?? []).map((path) => ({ path, format: 'qcow2' as const, backing: [], boot: false })),
  ]
  disks.forEach((disk, i) => {
    const node = diskNode(i)
    // The root disk as the person tuned it; the empty disks with the defaults.
    const tuning = i === 0 && launch.disk && spec.disk ? spec.disk : defaultTuning
    const { throttleGroup, blockdev } = tunedNode(node, { file: disk.path, format: disk.format }, disk.backing ?? [], { readOnly: false, direct: false, noFlush: false }, tuning)
    if (throttleGroup) argv.push('-object', JSON.stringify(throttleGroup))
    argv.push('-blockdev', JSON.stringify(blockdev))
    const bus = {
      virtio: 'virtio-blk-pci',
      scsi: `scsi-hd,bus=${controllers.scsi}.0`,
      sata: `ide-hd,bus=${controllers.sata}.${sataPorts++}`,
      nvme: 'nvme',
      ide: `ide-hd,bus=ide.0,unit=${i}`,
    }[diskBus]
    // An NVMe controller needs a serial number: the person's, or the disk's node name.
    const serial = tuning.serial ? `,serial=${tuning.serial}` : diskBus === 'nvme' ? `,serial=${node}` : ''
    const bootIndex = disk.boot ? `,bootindex=${installing(spec) ? 2 : 1}` : ''
    argv.push('-device', `${bus},drive=${node},id=${deviceId(node)}${bootIndex}${serial}`)
  })
  for (const drive of spec.drives) {
    const { throttleGroup, blockdev, device } = driveOptions(drive, drive.bus === 'sata' ? sataPorts++ : 0)
    if (throttleGroup) argv.push('-object', JSON.stringify(throttleGroup))
    argv.push('-blockdev', JSON.stringify(blockdev), '-device', deviceOption(device))
  }
  if (spec.display) {
    // The screen is served on a unix socket only; Berth proxies it to the window with a ticket.
    const { protocol, width, height } = spec.display
    if (protocol === 'vnc') argv.push('-device', `VGA,xres=${width},yres=${height}`, '-vnc', `unix:${at(runtimeFiles.vnc)}`)
    else
      argv.push(
        '-device', `qxl-vga,xres=${width},yres=${height}`,
        '-spice', `unix=on,addr=${at(runtimeFiles.spice)},disable-ticketing=on`,
      )
  }
  if (spec.rng) argv.push('-device', 'virtio-rng-pci')
  if (spec.tpm) argv.push(...tpmArgv(join(launch.runtimeDir, runtimeFiles.tpm)))
  if (spec.usbTablet && spec.display) argv.push('-device', `usb-tablet,bus=${controllers.usb}.0`)
  if (launch.seed) {
    argv.push('-blockdev', JSON.stringify({ driver: 'raw', 'node-name': 'cidata', 'read-only': true, file: { driver: 'file', filename: launch.seed, 'read-only': true } }))
    argv.push('-device', `scsi-cd,bus=${controllers.scsi}.0,drive=cidata,id=cidata-dev`)
  }
  if (spec.cdrom) {
    const medium = spec.cdrom.file ? `,file=${qemuOptionValue(spec.cdrom.file)},format=raw` : ''
    argv.push('-drive', `if=none,id=${CDROM_ID},media=cdrom,readonly=on${medium}`)
    argv.push('-device', `ide-cd,bus=ide.1,unit=0,drive=${CDROM_ID},id=${CDROM_DEVICE}${installing(spec) ? ',bootindex=1' : ''}`)
  }
  argv.push(...spec.extraArgs)
  return argv
}

/** Installing from the disc in the CD drive (boot.install): the disc boots first. */
export function installing(spec: QemuSpec): boolean {
  return spec.boot.type === 'disk' && spec.boot.install !== null && !!spec.cdrom?.file
}

function machineOption(spec: QemuSpec): string {
  if (spec.chipset === 'pc') return 'pc'
  // Secure Boot firmware keeps its variables safe with SMM
  return spec.firmware.kind === 'efi' && spec.firmware.secureBoot ? 'q35,smm=on' : 'q35'
}


type Options = Record<string, string | number | boolean>
type BlockNode = { [key: string]: string | number | boolean | null | BlockNode }

/**
 * A disk's block node (one JSON argument) with its backing chain stated link by link (file, format,
 * read-only), the last with backing null: QEMU never follows a name or guesses a format from a
 * header. Node names: the disk's, then -b1, -b2... for its backing files.
 */
export function imageNode(
  node: string,
  image: ImageLink,
  backing: ImageLink[],
  options: { readOnly: boolean; direct: boolean; noFlush: boolean },
): BlockNode {
  const cache = { direct: options.direct, 'no-flush': options.noFlush }
  const links = [image, ...backing]
  // Built from the bottom of the chain up: each node holds the one below it.
  let below: BlockNode | null = null
  for (let depth = links.length - 1; depth >= 0; depth--) {
    const { file, format } = links[depth]!
    const readOnly = depth > 0 || options.readOnly
    const current: BlockNode = {
      driver: format,
      'node-name': depth === 0 ? node : backingNode(node, depth),
      'read-only': readOnly,
      cache,
      file: { driver: 'file', filename: file, 'read-only': readOnly, ...(options.direct ? { aio: 'native' } : {}) },
    }
    // A format that can name a backing file is told the chain, or that there is none.
    if (below || layeredFormats.has(format)) current.backing = below
    below = current
  }
  return below!
}

const defaultTuning: DiskTuning = diskTuningSchema.parse({})

/** The throttle group that carries a disk's I/O limits (one per disk). */
export const throttleGroupId = (node: string) => `tg-${node}`

/**
 * A disk's nodes as the person tuned it: discard passed down to the file (a trimmed qcow2 shrinks),
 * zero detection, and I/O limits as a throttle node named like the disk above its image node
 * (NODE-img), with the throttle group QEMU needs created first (-object, or object-add).
 */
export function tunedNode(
  node: string,
  image: ImageLink,
  backing: ImageLink[],
  options: { readOnly: boolean; direct: boolean; noFlush: boolean },
  tuning: DiskTuning,
): { throttleGroup: BlockNode | null; blockdev: BlockNode } {
  const limited = tuning.iopsLimit !== null || tuning.mbpsLimit !== null
  const top = imageNode(limited ? `${node}-img` : node, image, backing, options)
  const discard = tuning.discard ? 'unmap' : 'ignore'
  top.discard = discard
  ;(top.file as BlockNode).discard = discard
  top['detect-zeroes'] = tuning.detectZeroes ? (tuning.discard ? 'unmap' : 'on') : 'off'
  if (!limited) return { throttleGroup: null, blockdev: top }
  const limits: BlockNode = {}
  if (tuning.iopsLimit !== null) limits['iops-total'] = tuning.iopsLimit
  if (tuning.mbpsLimit !== null) limits['bps-total'] = tuning.mbpsLimit * 1024 * 1024
  return {
    throttleGroup: { 'qom-type': 'throttle-group', id: throttleGroupId(node), limits },
    blockdev: { driver: 'throttle', 'node-name': node, 'throttle-group': throttleGroupId(node), file: top },
  }
}

/**
 * One description of a drive for both paths: `-object`/`-blockdev`/`-device` at launch and the QMP
 * object-add/blockdev-add/device_add arguments of a hot-plug. The node name is the drive id; the
 * device id is the drive id + "-dev".
 */
export function driveOptions(drive: Drive, sataPort = 0): { throttleGroup: BlockNode | null; blockdev: BlockNode; device: Options } {
  const readOnly = drive.readOnly
  // The cache modes as blockdev options (QEMU's -drive cache= shorthand) and the device's write cache.
  const direct = drive.cache === 'none' || drive.cache === 'directsync'
  const { throttleGroup, blockdev } = tunedNode(drive.id, { file: drive.file, format: drive.format }, drive.backing, {
    readOnly,
    direct,
    noFlush: drive.cache === 'unsafe',
  }, drive)
  const device: Options = {
    id: deviceId(drive.id),
    drive: drive.id,
    ...(drive.cache === 'writethrough' || drive.cache === 'directsync' ? { 'write-cache': 'off' } : {}),
    ...(drive.bootIndex !== null ? { bootindex: drive.bootIndex } : {}),
    ...(drive.serial ? { serial: drive.serial } : {}),
  }
  // USB storage has no error policy of its own.
  const errors: Options = drive.werror === 'enospc' ? {} : { werror: drive.werror }
  const on = (device: Options) => ({ throttleGroup, blockdev, device })
  switch (drive.bus) {
    case 'virtio':
      return on({ driver: 'virtio-blk-pci', ...device, ...errors })
    case 'scsi':
      return on({ driver: 'scsi-hd', bus: `${controllers.scsi}.0`, ...device, ...errors })
    case 'sata':
      return on({ driver: 'ide-hd', bus: `${controllers.sata}.${sataPort}`, ...device, ...errors })
    case 'nvme':
      // An NVMe controller needs a serial number (the person's, or the drive's id) and has no error policy.
      return on({ driver: 'nvme', serial: drive.id, ...device })
    case 'usb':
      return on({ driver: 'usb-storage', bus: `${controllers.usb}.0`, ...device })
    case 'ide':
      return on({ driver: 'ide-hd', bus: 'ide.0', ...device, ...errors })
  }
}

const flat = (value: string | number | boolean) =>
  typeof value === 'boolean' ? (value ? 'on' : 'off') : typeof value === 'number' ? String(value) : qemuOptionValue(value)

function deviceOption(options: Options): string {
  const { driver, ...rest } = options
  return [String(driver), ...Object.entries(rest).map(([k, v]) => `${k}=${flat(v as string | number | boolean)}`)].join(',')
}
