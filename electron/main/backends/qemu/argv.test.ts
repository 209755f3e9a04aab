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
      '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
      '-display', 'none',
      '-S',
      '-qmp', 'unix:/run/berth/abc/qmp.sock,server=on,wait=off',
      '-chardev', 'socket,id=serial0,path=/run/berth/abc/serial.sock,server=on,wait=off',
      '-serial', 'chardev:serial0',
      '-pidfile', '/run/berth/abc/qemu.pid',
      '-kernel', '/k/vmlinux',
      '-initrd', '/k/initrd.gz',
      '-append', 'console=ttyS0 quiet',
      '-netdev', 'user,id=net0',
      '-device', 'virtio-net-pci,netdev=net0,id=net0-dev,mac=52:54:00:73:49:ef',
      '-chardev', 'socket,id=qga0,path=/run/berth/abc/qga.sock,server=on,wait=off',
      '-device', 'virtio-serial-pci,id=vser0',
      '-device', 'virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0',
      '-device', 'virtio-scsi-pci,id=scsi0',
      '-device', 'qemu-xhci,id=usb0',
      '-device', 'virtio-rng-pci',
      '-drive', 'if=none,id=cd0,media=cdrom,readonly=on',
      '-device', 'ide-cd,bus=ide.1,unit=0,drive=cd0,id=cd0-dev',
    ])
  })

  it('drives on each bus, read-only passed to both layers; a disc in the CD drive', () => {
    const argv = launch({
      drives: [
        { id: 'dvirt1', file: '/img/a.qcow2', format: 'qcow2', bus: 'virtio' },
        { id: 'dscsi1', file: '/img/b.raw', format: 'raw', bus: 'scsi', readOnly: true },
        { id: 'dusbs1', file: '/img/c.vmdk', format: 'vmdk', bus: 'usb' },
        { id: 'dide01', file: '/img/d,e.qcow2', format: 'qcow2', bus: 'ide' },
      ],
      cdrom: { file: '/iso/install.iso' },
    })
    const from = argv.indexOf('qemu-xhci,id=usb0') + 1
    expect(argv.slice(from)).toEqual([
      '-blockdev', '{"driver":"qcow2","node-name":"dvirt1","read-only":false,"cache":{"direct":false,"no-flush":false},"file":{"driver":"file","filename":"/img/a.qcow2","read-only":false,"discard":"unmap"},"backing":null,"discard":"unmap","detect-zeroes":"off"}',
      '-device', 'virtio-blk-pci,id=dvirt1-dev,drive=dvirt1',
      '-blockdev', '{"driver":"raw","node-name":"dscsi1","read-only":true,"cache":{"direct":false,"no-flush":false},"file":{"driver":"file","filename":"/img/b.raw","read-only":true,"discard":"unmap"},"discard":"unmap","detect-zeroes":"off"}',
      '-device', 'scsi-hd,bus=scsi0.0,id=dscsi1-dev,drive=dscsi1',
      '-blockdev', '{"driver":"vmdk","node-name":"dusbs1","read-only":false,"cache":{"direct":false,"no-flush":false},"file":{"driver":"file","filename":"/img/c.vmdk","read-only":false,"discard":"unmap"},"backing":null,"discard":"unmap","detect-zeroes":"off"}',
      '-device', 'usb-storage,bus=usb0.0,id=dusbs1-dev,drive=dusbs1',
      '-blockdev', '{"driver":"qcow2","node-name":"dide01","read-only":false,"cache":{"direct":false,"no-flush":false},"file":{"driver":"file","filename":"/img/d,e.qcow2","read-only":false,"discard":"unmap"},"backing":null,"discard":"unmap","detect-zeroes":"off"}',
      '-device', 'ide-hd,bus=ide.0,id=dide01-dev,drive=dide01',
      '-device', 'virtio-rng-pci',
      '-drive', 'if=none,id=cd0,media=cdrom,readonly=on,file=/iso/install.iso,format=raw',
      '-device', 'ide-cd,bus=ide.1,unit=0,drive=cd0,id=cd0-dev',
    ])
  })

  it('every network card is of the chosen model (qemu.networkingOptions), the vlans\' too', () => {
    const argv = launch({ nicModel: 'e1000e', vlans: [3] })
    expect(argv.filter((a) => /netdev=/.test(a))).toEqual([expect.stringMatching(/^e1000e,netdev=net0,id=net0-dev/), expect.stringMatching(/^e1000e,netdev=vlan3,/)])
    expect(launch({}).find((a) => a.includes('netdev=net0'))).toMatch(/^virtio-net-pci,/)
  })

  it('the guest agent channel is on by default (guestAgent.enable) and can be left out', () => {
    expect(launch({ guestAgent: false }).join(' ')).not.toMatch(/qga|virtio-serial/)
  })

  it('drive cache modes, write-error policy and boot order', () => {
    const argv = launch({
      drives: [
        { id: 'dnone1', file: '/img/a.qcow2', format: 'qcow2', cache: 'none', werror: 'stop', bootIndex: 1 },
        { id: 'dwt001', file: '/img/b.qcow2', format: 'qcow2', bus: 'scsi', cache: 'writethrough', werror: 'report' },
        { id: 'dunsf1', file: '/img/c.qcow2', format: 'qcow2', bus: 'ide', cache: 'unsafe', bootIndex: 2 },
        { id: 'ddsync', file: '/img/d.qcow2', format: 'qcow2', bus: 'usb', cache: 'directsync', werror: 'ignore' },
      ],
    })
    const options = argv.flatMap((a, i) => (argv[i - 1] === '-blockdev' || (argv[i - 1] === '-device' && a.includes('-dev,drive=')) ? [a] : []))
    expect(options).toEqual([
      '{"driver":"qcow2","node-name":"dnone1","read-only":false,"cache":{"direct":true,"no-flush":false},"file":{"driver":"file","filename":"/img/a.qcow2","read-only":false,"aio":"native","discard":"unmap"},"backing":null,"discard":"unmap","detect-zeroes":"off"}',
      'virtio-blk-pci,id=dnone1-dev,drive=dnone1,bootindex=1,werror=stop',
      '{"driver":"qcow2","node-name":"dwt001","read-only":false,"cache":{"direct":false,"no-flush":false},"file":{"driver":"file","filename":"/img/b.qcow2","read-only":false,"discard":"unmap"},"backing":null,"discard":"unmap","detect-zeroes":"off"}',
      'scsi-hd,bus=scsi0.0,id=dwt001-dev,drive=dwt001,write-cache=off,werror=report',
      '{"driver":"qcow2","node-name":"dunsf1","read-only":false,"cache":{"direct":false,"no-flush":true},"file":{"driver":"file","filename":"/img/c.qcow2","read-only":false,"discard":"unmap"},"backing":null,"discard":"unmap","detect-zeroes":"off"}',
      'ide-hd,bus=ide.0,id=dunsf1-dev,drive=dunsf1,bootindex=2',
      '{"driver":"qcow2","node-name":"ddsync","read-only":false,"cache":{"direct":true,"no-flush":false},"file":{"driver":"file","filename":"/img/d.qcow2","read-only":false,"aio":"native","discard":"unmap"},"backing":null,"discard":"unmap","detect-zeroes":"off"}',
      'usb-storage,bus=usb0.0,id=ddsync-dev,drive=ddsync,write-cache=off',
    ])
  })

  it('a VNC or SPICE screen on a unix socket, at the chosen resolution; none opens a TCP port', () => {
    const vnc = launch({ display: { protocol: 'vnc', width: 1280, height: 800 } })
    expect(vnc.join(' ')).toContain('-device VGA,xres=1280,yres=800 -vnc unix:/run/berth/abc/vnc.sock')
    const spice = launch({ display: { protocol: 'spice', width: 1024, height: 768 } })
    expect(spice.join(' ')).toContain(
      '-device qxl-vga,xres=1024,yres=768 -spice unix=on,addr=/run/berth/abc/spice.sock,disable-ticketing=on',
    )
    expect(launch({}).join(' ')).not.toMatch(/-vnc|-spice|VGA/)
  })

  it('user-mode networking with forwarded ports in both directions, no shell command', () => {
    const argv = launch({
      network: {
        forwardPorts: [
          { from: 'host', proto: 'tcp', host: { address: '127.0.0.1', port: 2222 }, guest: { address: '', port: 22 } },
          { from: 'host', proto: 'udp', host: { address: '', port: 5353 }, guest: { address: '', port: 53 } },
          { from: 'guest', proto: 'tcp', host: { address: '127.0.0.1', port: 8080 }, guest: { address: '10.0.2.10', port: 80 } },
        ],
      },
    })
    const at = argv.indexOf('-netdev')
    expect(argv.slice(at, at + 4)).toEqual([
      '-netdev',
      'user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-:53,guestfwd=tcp:10.0.2.10:80-tcp:127.0.0.1:8080',
      '-device',
      'virtio-net-pci,netdev=net0,id=net0-dev,mac=52:54:00:73:49:ef',
    ])
    expect(launch({ network: null })).not.toContain('-netdev')
  })

  it('a card on a host bridge and one per vlan: taps named after the machine, a stable MAC per card', () => {
    const argv = launch({ network: { bridge: 'br0' }, vlans: [5, 4094] }, { runtimeDir: '/run/berth/abcdefghijkl' })
    const netdevs = argv.flatMap((a, i) => (argv[i - 1] === '-netdev' ? [a] : []))
    expect(netdevs).toEqual([
      'tap,id=net0,ifname=bt-abcdefghijkl,script=no,downscript=no',
      'tap,id=vlan5,ifname=bv5-abcdefghijk,script=no,downscript=no',
      'tap,id=vlan4094,ifname=bv4094-abcdefgh,script=no,downscript=no',
    ])
    const macs = argv.filter((a) => a.startsWith('virtio-net-pci')).map((a) => /mac=([0-9a-f:]+)/.exec(a)?.[1])
    expect(macs.every((m) => /^52:54:00(:[0-9a-f]{2}){3}$/.test(m!))).toBe(true)
    expect(new Set(macs).size).toBe(3)
    // The same machine gets the same MACs every start; another machine gets others.
    expect(launch({ network: { bridge: 'br0' } }, { runtimeDir: '/run/berth/abcdefghijkl' }).join(' ')).toContain(`mac=${macs[0]}`)
    expect(launch({ network: { bridge: 'br0' } }, { runtimeDir: '/run/berth/zzzzzzzzzzzz' }).join(' ')).not.toContain(`mac=${macs[0]}`)
  })

  it('shared folders are 9p devices with their tag and security model', () => {
    const argv = launch({
      sharedDirectories: [
        { tag: 'data', source: '/srv/data', target: '/mnt/data' },
        { tag: 'home', source: '/home/a,b', target: '/home', securityModel: 'mapped-xattr', msize: 262144 },
      ],
    })
    const at = argv.indexOf('-fsdev')
    expect(argv.slice(at, at + 8)).toEqual([
      '-fsdev', 'local,id=fs0,path=/srv/data,security_model=none',
      '-device', 'virtio-9p-pci,fsdev=fs0,mount_tag=data',
      '-fsdev', 'local,id=fs1,path=/home/a,,b,security_model=mapped-xattr',
      '-device', 'virtio-9p-pci,fsdev=fs1,mount_tag=home',
    ])
  })

  it("UEFI: read-only firmware code and the VM's own variable store as pflash", () => {
    const argv = launch({ firmware: { kind: 'efi' } }, { uefi: { code: '/fw/OVMF_CODE_4M.fd', vars: '/data/abc/efi-vars.qcow2' } })
    expect(argv).toContain('pc')
    const at = argv.indexOf('-drive')
    expect(argv.slice(at, at + 4)).toEqual([
      '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/fw/OVMF_CODE_4M.fd',
      '-drive', 'if=pflash,format=qcow2,unit=1,file=/data/abc/efi-vars.qcow2',
    ])
  })

  it('Secure Boot: q35 with SMM, secure flash, hot-plug root ports', () => {
    const argv = launch(
      { chipset: 'q35', firmware: { kind: 'efi', secureBoot: true } },
      { uefi: { code: '/fw/OVMF_CODE_4M.ms.fd', vars: '/data/abc/efi-vars.qcow2' } },
    )
    expect(argv[argv.indexOf('-machine') + 1]).toBe('q35,smm=on')
    expect(argv.join(' ')).toContain('-global driver=cfi.pflash01,property=secure,value=on -drive if=pflash')
    expect(argv).toContain('pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1')
    expect(argv).toContain('pcie-root-port,id=rp4,bus=pcie.0,chassis=4,slot=4')
  })

  it('an alternate BIOS file', () => {
    expect(launch({ firmware: { kind: 'bios', file: '/opt/bios.bin' } }).join(' ')).toContain('-bios /opt/bios.bin')
    expect(launch({}).join(' ')).not.toContain('-bios')
  })

  it('consoles become console= parameters after the kernel parameters', () => {
    const argv = launch({ boot: { type: 'kernel', kernel: '/k', append: 'quiet', consoles: ['tty0', 'ttyS0,115200n8'] } })
    expect(argv[argv.indexOf('-append') + 1]).toBe('quiet console=tty0 console=ttyS0,115200n8')
  })

  it('usb tablet with a screen, virtio-rng unless turned off, extra arguments last and verbatim', () => {
    const withScreen = launch({ display: { protocol: 'vnc', width: 1024, height: 768 } })
    expect(withScreen).toContain('usb-tablet,bus=usb0.0')
    expect(launch({})).not.toContain('usb-tablet,bus=usb0.0') // no screen, no pointer
    expect(launch({ rng: false })).not.toContain('virtio-rng-pci')
    const extra = launch({ extraArgs: ['-overcommit', 'mem-lock=off', '-rtc', 'base=localtime'] })
    expect(extra.slice(-4)).toEqual(['-overcommit', 'mem-lock=off', '-rtc', 'base=localtime'])
  })

  it('installing: the disc boots first, the disk second, and QEMU exits at the guest\'s restart', () => {
    const argv = launch({ boot: { type: 'disk', install: { ejectAfterInstall: true } }, disk: { sizeMiB: 64 }, cdrom: { file: '/iso/debian.iso' } }, { disk: { path: '/img/a.qcow2', format: 'qcow2' } })
    expect(argv).toContain('-no-reboot')
    expect(argv).toContain('ide-cd,bus=ide.1,unit=0,drive=cd0,id=cd0-dev,bootindex=1')
    expect(argv.find((a) => a.startsWith('virtio-blk-pci'))).toMatch(/bootindex=2/)
    const installed = launch({ boot: { type: 'disk', install: null }, disk: { sizeMiB: 64 }, cdrom: { file: null } }, { disk: { path: '/img/a.qcow2', format: 'qcow2' } })
    expect(installed).not.toContain('-no-reboot')
    expect(installed.find((a) => a.startsWith('virtio-blk-pci'))).toMatch(/bootindex=1/)
  })

  it('a cloud-init seed is a read-only raw CD on the SCSI bus', () => {
    const argv = launch({}, { seed: '/data/m/cidata.iso' })
    expect(argv).toContain('{"driver":"raw","node-name":"cidata","read-only":true,"file":{"driver":"file","filename":"/data/m/cidata.iso","read-only":true}}')
    expect(argv).toContain('scsi-cd,bus=scsi0.0,drive=cidata,id=cidata-dev')
  })

  it('no CD drive when the spec says none', () => {
    expect(launch({ cdrom: null })).not.toContain('-drive')
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
    const at = argv.indexOf('-blockdev')
    expect(argv.slice(at, at + 4)).toEqual([
      '-blockdev', '{"driver":"raw","node-name":"disk0","read-only":false,"cache":{"direct":false,"no-flush":false},"file":{"driver":"file","filename":"/img/a.raw","read-only":false,"discard":"unmap"},"discard":"unmap","detect-zeroes":"off"}',
      '-device', 'virtio-blk-pci,drive=disk0,id=disk0-dev,bootindex=1',
    ])
    expect(argv).not.toContain('-kernel')
  })

  it('diskInterface puts the root disk and the empty disks on SCSI or IDE', () => {
    const scsi = launch({ disk: { sizeMiB: 64, interface: 'scsi' }, emptyDiskImages: [16] }, {
      disk: { path: '/img/root.qcow2', format: 'qcow2' },
      emptyDisks: ['/data/abc/empty0.qcow2'],
    })
    expect(scsi).toContain('scsi-hd,bus=scsi0.0,drive=disk0,id=disk0-dev')
    expect(scsi).toContain('{"driver":"qcow2","node-name":"disk1","read-only":false,"cache":{"direct":false,"no-flush":false},"file":{"driver":"file","filename":"/data/abc/empty0.qcow2","read-only":false,"discard":"unmap"},"backing":null,"discard":"unmap","detect-zeroes":"off"}')
    expect(scsi).toContain('scsi-hd,bus=scsi0.0,drive=disk1,id=disk1-dev')
    const ide = launch({ disk: { sizeMiB: 64, interface: 'ide' } }, { disk: { path: '/img/root.qcow2', format: 'qcow2' } })
    expect(ide).toContain('ide-hd,bus=ide.0,unit=0,drive=disk0,id=disk0-dev')
  })

  it('SATA: an AHCI controller of its own and a port per disk, root disk first, then the drives; none without a SATA disk', () => {
    const sata = launch(
      { disk: { sizeMiB: 64, interface: 'sata' }, emptyDiskImages: [16], drives: [{ id: 'dsata1', file: '/img/b.qcow2', format: 'qcow2', bus: 'sata' }] },
      { disk: { path: '/img/root.qcow2', format: 'qcow2' }, emptyDisks: ['/data/abc/empty0.qcow2'] },
    )
    expect(sata.filter((a) => a.startsWith('ahci'))).toEqual(['ahci,id=sata0'])
    expect(sata).toContain('ide-hd,bus=sata0.0,drive=disk0,id=disk0-dev')
    expect(sata).toContain('ide-hd,bus=sata0.1,drive=disk1,id=disk1-dev')
    expect(sata).toContain('ide-hd,bus=sata0.2,id=dsata1-dev,drive=dsata1')
    expect(launch({ disk: { sizeMiB: 64 } }, { disk: { path: '/img/root.qcow2', format: 'qcow2' } }).some((a) => a.startsWith('ahci'))).toBe(false)
  })

  it('NVMe: a controller per disk, with the serial number it needs (the one given, or the node name)', () => {
    const nvme = launch(
      { disk: { sizeMiB: 64, interface: 'nvme' }, boot: { type: 'disk' }, drives: [{ id: 'dnvme1', file: '/img/b.qcow2', format: 'qcow2', bus: 'nvme', serial: 'DATA1' }] },
      { disk: { path: '/img/root.qcow2', format: 'qcow2' } },
    )
    expect(nvme).toContain('nvme,drive=disk0,id=disk0-dev,bootindex=1,serial=disk0')
    expect(nvme).toContain('nvme,serial=DATA1,id=dnvme1-dev,drive=dnvme1')
    expect(launch({ drives: [{ id: 'dnvme2', file: '/img/c.qcow2', format: 'qcow2', bus: 'nvme' }] })).toContain('nvme,serial=dnvme2,id=dnvme2-dev,drive=dnvme2')
  })

  it('discard, zero detection, a serial number and I/O limits (a throttle group), for the root disk and for drives', () => {
    const argv = launch(
      {
        disk: { sizeMiB: 64, discard: false, detectZeroes: true, serial: 'ROOT-1', iopsLimit: 200 },
        drives: [{ id: 'dlim01', file: '/img/a.qcow2', format: 'qcow2', detectZeroes: true, serial: 'DATA.2', mbpsLimit: 5 }],
      },
      { disk: { path: '/img/root.qcow2', format: 'qcow2' } },
    )
    const objects = argv.flatMap((a, i) => (argv[i - 1] === '-object' ? [JSON.parse(a)] : []))
    expect(objects).toEqual([
      { 'qom-type': 'throttle-group', id: 'tg-disk0', limits: { 'iops-total': 200 } },
      { 'qom-type': 'throttle-group', id: 'tg-dlim01', limits: { 'bps-total': 5 * 1024 * 1024 } },
    ])
    const [root, drive] = argv.flatMap((a, i) => (argv[i - 1] === '-blockdev' ? [JSON.parse(a)] : []))
    // The throttle node carries the disk's name; its image node below it, discard passed to the file.
    expect(root).toMatchObject({ driver: 'throttle', 'node-name': 'disk0', 'throttle-group': 'tg-disk0', file: { 'node-name': 'disk0-img', discard: 'ignore', 'detect-zeroes': 'on', file: { discard: 'ignore' } } })
    expect(drive).toMatchObject({ driver: 'throttle', 'node-name': 'dlim01', file: { 'node-name': 'dlim01-img', discard: 'unmap', 'detect-zeroes': 'unmap', file: { discard: 'unmap' } } })
    expect(argv).toContain('virtio-blk-pci,drive=disk0,id=disk0-dev,serial=ROOT-1')
    expect(argv).toContain('virtio-blk-pci,id=dlim01-dev,drive=dlim01,serial=DATA.2')
    // Every -object comes before the -blockdev that names its group.
    expect(argv.indexOf('-object')).toBeLessThan(argv.indexOf('-blockdev'))
  })

  it('a data disk next to a kernel boot has no bootindex', () => {
    const argv = launch({ disk: { sizeMiB: 64 } }, { disk: { path: '/img/d.qcow2', format: 'qcow2' } })
    expect(argv).toContain('virtio-blk-pci,drive=disk0,id=disk0-dev')
  })

  it('a backing chain is stated link by link, read-only, the last with no backing: QEMU reads no name from a header', () => {
    const backing = [
      { file: '/img/mid.qcow2', format: 'qcow2' as const },
      { file: '/img/base.raw', format: 'raw' as const },
    ]
    const argv = launch(
      { disk: { sizeMiB: 64 }, drives: [{ id: 'dover1', file: '/img/o.qcow2', format: 'qcow2', backing: [{ file: '/img/b.qcow2', format: 'qcow2' }] }] },
      { disk: { path: '/img/top.qcow2', format: 'qcow2', backing } },
    )
    const nodes = argv.flatMap((a, i) => (argv[i - 1] === '-blockdev' ? [JSON.parse(a)] : []))
    const chain = (node: { 'node-name': string; driver: string; 'read-only': boolean; file: { filename: string }; backing?: unknown }): unknown[] => [
      [node['node-name'], node.driver, node.file.filename, node['read-only']],
      ...(node.backing ? chain(node.backing as typeof node) : [node.backing === null ? 'no backing' : 'unstated']),
    ]
    expect(nodes.map(chain)).toEqual([
      [['disk0', 'qcow2', '/img/top.qcow2', false], ['disk0-b1', 'qcow2', '/img/mid.qcow2', true], ['disk0-b2', 'raw', '/img/base.raw', true], 'unstated'],
      [['dover1', 'qcow2', '/img/o.qcow2', false], ['dover1-b1', 'qcow2', '/img/b.qcow2', true], 'no backing'],
    ])
  })

  it('doubles commas in paths so they cannot inject QEMU options; a disk is one JSON argument', () => {
    const argv = launch({}, { disk: { path: '/img/a,file=/etc/shadow', format: 'raw' }, runtimeDir: '/run/x,y' })
    expect(argv).toContain('{"driver":"raw","node-name":"disk0","read-only":false,"cache":{"direct":false,"no-flush":false},"file":{"driver":"file","filename":"/img/a,file=/etc/shadow","read-only":false,"discard":"unmap"},"discard":"unmap","detect-zeroes":"off"}')
    expect(argv).toContain('unix:/run/x,,y/qmp.sock,server=on,wait=off')
    expect(qemuOptionValue('a,b,,c')).toBe('a,,b,,,,c')
  })

  it('passes kernel parameters as one argument, never through a shell', () => {
    const argv = launch({ boot: { type: 'kernel', kernel: '/k', append: 'a=1 $(reboot); b="x y"' } })
    expect(argv[argv.indexOf('-append') + 1]).toBe('a=1 $(reboot); b="x y"')
  })
})
