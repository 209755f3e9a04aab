import { describe, expect, it } from 'vitest'
import { qemuSpecSchema } from '../../../shared/model/machine'
import { applyDefaults, blank, checkLocally, chooseSource, editedSpec, errorsForStep, fromSpec, stepOfField, toSpec, type WizardForm } from './wizard-form'

const form = (over: Partial<WizardForm> = {}): WizardForm => ({
  ...blank(),
  name: 'web',
  source: 'kernel',
  memoryMiB: 512,
  diskSizeMiB: 8192,
  kernel: '/boot/vmlinuz',
  display: 'none',
  ...over,
})

describe('wizard form', () => {
  it('turns the form into a spec: empty optional paths are left out', () => {
    expect(toSpec(form({ diskMode: 'new' }))).toEqual({
      kind: 'qemu',
      name: 'web',
      memoryMiB: 512,
      cores: 1,
      chipset: 'pc',
      firmware: { kind: 'bios' },
      boot: { type: 'kernel', kernel: '/boot/vmlinuz', initrd: undefined, append: 'console=ttyS0', consoles: [] },
      disk: { image: undefined, sizeMiB: 8192, interface: 'virtio' },
      cloudInit: null,
      emptyDiskImages: [],
      vlans: [],
      vlanNumber: null,
      nicModel: 'virtio',
      display: null,
      usbTablet: true,
      rng: true,
      tpm: false,
      guestAgent: true,
      extraArgs: [],
      qemuBinary: null,
      sharedDirectories: [],
      network: { bridge: null, forwardPorts: [] },
    })
  })

  it("editing keeps the drives, the CD drive and how the root disk is served (set on the Drives tab)", () => {
    const previous = qemuSpecSchema.parse({
      ...toSpec(form({ diskMode: 'new' })),
      disk: { sizeMiB: 64, discard: false, serial: 'ROOT', iopsLimit: 100 },
      drives: [{ id: 'dkeep1', file: '/img/a.qcow2', format: 'qcow2', serial: 'A' }],
      cdrom: { file: '/img/d.iso' },
    })
    const edited = qemuSpecSchema.parse(editedSpec(fromSpec(previous), previous))
    expect(edited.disk).toMatchObject({ sizeMiB: 64, discard: false, serial: 'ROOT', iopsLimit: 100 })
    expect(edited.drives).toEqual(previous.drives)
    expect(edited.cdrom).toEqual(previous.cdrom)
    expect(editedSpec({ ...fromSpec(previous), diskMode: 'none' }, previous).disk).toBeNull()
  })

  it('names each bad field with a message a person can act on', () => {
    const errors = checkLocally(form({ name: '-bad name', memoryMiB: 4, cores: null, kernel: 'relative/path' }))
    expect(errors).toMatchObject({
      name: expect.stringMatching(/starting with a letter or digit/),
      memoryMiB: 'At least 16 MiB',
      cores: 'Enter a number of cores',
      'boot.kernel': 'Use an absolute path (starting with /)',
    })
  })

  it('Secure Boot on the pc chipset is refused on the chipset field', () => {
    expect(checkLocally(form({ firmware: 'efi-secure' }))).toEqual({ chipset: 'Secure Boot needs the Q35 chipset (its firmware requires SMM)' })
    expect(checkLocally(form({ firmware: 'efi-secure', chipset: 'q35' }))).toEqual({})
    expect(stepOfField('chipset')).toBe('boot')
  })

  it('booting from disk needs an existing image', () => {
    expect(checkLocally(form({ source: 'disk', diskMode: 'none' }))).toEqual({ disk: 'Booting from disk needs a disk image' })
  })

  it('installation media: the disc boots first onto a new disk, and is named when missing', () => {
    const media = blank()
    expect(media.source).toBe('media')
    Object.assign(media, { name: 'deb', media: '/home/a/debian.iso' })
    expect(toSpec(media)).toMatchObject({ boot: { type: 'disk', install: { ejectAfterInstall: true } }, cdrom: { file: '/home/a/debian.iso' }, disk: { sizeMiB: 20480 } })
    expect(checkLocally({ ...media, media: '' })).toEqual({ 'cdrom.file': 'Choose the installation media (an ISO image)' })
    expect(stepOfField('cdrom.file')).toBe('source')
    // Round trip: an edit while still installing keeps the media; after it, the disc is the Drives tab's.
    const spec = qemuSpecSchema.parse(toSpec(media))
    expect(fromSpec(spec)).toMatchObject({ source: 'media', media: '/home/a/debian.iso', ejectAfterInstall: true })
    const installed = qemuSpecSchema.parse({ ...spec, boot: { type: 'disk', install: null }, cdrom: { file: '/img/other.iso' } })
    expect(fromSpec(installed).source).toBe('disk')
    expect(qemuSpecSchema.parse(editedSpec(fromSpec(installed), installed)).cdrom).toEqual({ file: '/img/other.iso' })
  })

  it('an imported disk is chosen in the first step; changing the source sets what the disk is', () => {
    const f = form()
    chooseSource(f, 'disk')
    expect(f.diskMode).toBe('existing')
    expect(stepOfField('disk.image', f)).toBe('source')
    expect(stepOfField('disk.image')).toBe('disk')
    chooseSource(f, 'media')
    expect(f.diskMode).toBe('new')
  })

  it('a cloud image: Berth’s disk on top of it (or a copy), grown, and cloud-init’s settings; a round trip keeps them', () => {
    const f = form()
    chooseSource(f, 'disk')
    Object.assign(f, { diskImage: '/home/a/debian-12-genericcloud.qcow2', diskSizeMiB: 4096, cloudInit: true, ciHostname: 'web1', ciUser: 'ann', ciKeys: 'ssh-ed25519 AAAAC3Nza you@host\n\n' })
    const spec = qemuSpecSchema.parse(toSpec(f))
    expect(spec.disk).toMatchObject({ base: { file: '/home/a/debian-12-genericcloud.qcow2', copy: false }, sizeMiB: 4096 })
    expect(spec.disk?.image).toBeUndefined()
    expect(spec.cloudInit).toEqual({ hostname: 'web1', user: 'ann', passwordHash: null, sshKeys: ['ssh-ed25519 AAAAC3Nza you@host'], userData: null })
    expect(fromSpec(spec)).toMatchObject({ source: 'disk', diskUse: 'base', diskImage: '/home/a/debian-12-genericcloud.qcow2', cloudInit: true, ciUser: 'ann' })
    expect(qemuSpecSchema.parse(toSpec({ ...f, diskUse: 'copy' })).disk?.base?.copy).toBe(true)
    expect(qemuSpecSchema.parse(toSpec({ ...f, diskUse: 'in-place' })).disk).toMatchObject({ image: '/home/a/debian-12-genericcloud.qcow2', base: null })
    expect(checkLocally({ ...f, ciKeys: '' })).toEqual({ 'cloudInit.sshKeys': 'Give ann a password or an SSH key, or nobody can log in' })
    expect(stepOfField('cloudInit.sshKeys')).toBe('source')
    expect(stepOfField('disk.sizeMiB', f)).toBe('source')
  })

  it('the detected system’s defaults go into the form, and a name when there is none', () => {
    const f = blank()
    const defaults = { memoryMiB: 2048, cores: 2, diskSizeMiB: 30720, firmware: 'efi-secure', chipset: 'q35', diskInterface: 'sata', nicModel: 'e1000e', tpm: true, guestAgent: true } as const
    applyDefaults(f, { path: '/x.iso', volumeId: 'W11', os: { shortId: 'win11', name: 'Microsoft Windows 11', version: '11', family: 'winnt', vendor: 'Microsoft', installer: true }, defaults, reasons: [], database: 'osinfo-db 1' })
    expect(f).toMatchObject({ ...defaults, name: 'win11' })
    f.name = 'mine'
    applyDefaults(f, { path: '/x.iso', volumeId: null, os: null, defaults, reasons: [], database: 'osinfo-db 1' })
    expect(f.name).toBe('mine')
  })

  it('forwarded ports: the module rules and empty ports are named on their fields', () => {
    const errors = checkLocally(
      form({
        forwards: [
          { from: 'guest', proto: 'udp', hostAddress: '127.0.0.1', hostPort: 53, guestAddress: '10.0.2.3', guestPort: 53 },
          { from: 'host', proto: 'tcp', hostAddress: '127.0.0.1', hostPort: null, guestAddress: '', guestPort: 22 },
        ],
      }),
    )
    expect(errors).toEqual({
      'network.forwardPorts.0.proto': 'Guest forwarding supports only TCP connections',
      'network.forwardPorts.1.host.port': 'Enter a port number',
    })
    expect(stepOfField('network.forwardPorts.1.host.port')).toBe('network')
  })

  it('extra QEMU arguments: one per line; options that open files, sockets or programs are refused', () => {
    expect(toSpec(form({ extraArgs: '-rtc\n base=utc \n\n' })).extraArgs).toEqual(['-rtc', 'base=utc'])
    expect(checkLocally(form({ extraArgs: '-qmp\ntcp:0:4444' })).extraArgs).toMatch(/^-qmp is not allowed in extra arguments/)
    expect(checkLocally(form({ extraArgs: '-device\nloader,file=/etc/shadow' }))).toEqual({
      extraArgs: '"loader,file=/etc/shadow" is not a value Berth allows for -device in extra arguments (no files, sockets, programs or host devices)',
    })
  })

  it("a machine's settings come back into the wizard unchanged (editing a stopped machine)", () => {
    const spec = qemuSpecSchema.parse({
      kind: 'qemu',
      name: 'round',
      memoryMiB: 768,
      cores: 2,
      chipset: 'q35',
      firmware: { kind: 'efi', secureBoot: true },
      boot: { type: 'kernel', kernel: '/k', initrd: '/i', append: 'quiet', consoles: ['tty0'] },
      disk: { sizeMiB: 100, interface: 'scsi' },
      emptyDiskImages: [10, 20],
      display: { protocol: 'spice', width: 1280, height: 800 },
      network: { forwardPorts: [{ host: { address: '127.0.0.1', port: 2222 }, guest: { port: 22 } }] },
      sharedDirectories: [{ tag: 'd', source: '/s', target: '/t', securityModel: 'mapped-xattr', msize: 65536 }],
      usbTablet: false,
      rng: false,
      extraArgs: ['-rtc', 'base=utc'],
      qemuBinary: '/opt/qemu/bin/qemu-system-x86_64',
    })
    expect(qemuSpecSchema.parse(toSpec(fromSpec(spec)))).toEqual(spec)
  })

  it('maps fields to the step that shows them', () => {
    expect(stepOfField('name')).toBe('general')
    expect(stepOfField('boot.initrd')).toBe('source')
    expect(stepOfField('disk.image')).toBe('disk')
    expect(errorsForStep({ name: 'x', 'boot.kernel': 'y' }, 'source')).toEqual({ 'boot.kernel': 'y' })
  })
})
