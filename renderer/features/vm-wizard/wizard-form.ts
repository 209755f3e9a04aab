// The create wizard's values, as typed, and how they become a spec.
import { reactive } from 'vue'
import type { nicModels } from '../../../shared/model/network'
import { qemuSpecSchema, type QemuSpec, type QemuSpecInput } from '../../../shared/model/machine'
import { zodFieldErrors } from '../../../shared/model/zod-fields'
import { diskTuningShape, type DiskTuning } from '../../../shared/model/drives'
import type { FieldErrors } from '../../../shared/errors'
import type { MediaInfo } from '../../../shared/model/os-info'

export interface WizardForm {
  name: string
  memoryMiB: number | null
  cores: number | null
  chipset: 'pc' | 'q35'
  firmware: 'seabios' | 'bios-file' | 'efi' | 'efi-secure'
  biosFile: string
  /** Where the system comes from: installation media (an ISO), an existing disk image, or a kernel. */
  source: 'media' | 'disk' | 'kernel'
  /** The installation media (an ISO) while installing. */
  media: string
  /** Eject the media when the installer first restarts the machine. */
  ejectAfterInstall: boolean
  kernel: string
  initrd: string
  append: string
  diskMode: 'none' | 'new' | 'existing'
  diskImage: string
  /** An imported image: written in place, or the base of Berth's new disk (on top of it, or a copy). */
  diskUse: 'in-place' | 'base' | 'copy'
  /** A cloud image's first boot with cloud-init (NoCloud seed). */
  cloudInit: boolean
  ciHostname: string
  ciUser: string
  /** The password's SHA-512 crypt hash (the main process hashes what is typed; the form keeps no password). */
  ciPasswordHash: string | null
  /** SSH public keys, one per line. */
  ciKeys: string
  /** The person's own user-data instead of Berth's (empty: Berth's). */
  ciUserData: string
  diskSizeMiB: number | null
  diskInterface: 'virtio' | 'scsi' | 'sata' | 'nvme' | 'ide'
  /** Sizes in MiB, space-separated. */
  emptyDisks: string
  display: 'none' | 'vnc' | 'spice'
  displayWidth: number | null
  displayHeight: number | null
  network: boolean
  /** A host bridge for the NIC; empty: user-mode NAT. */
  bridge: string
  /** Vlan numbers, space-separated: one more card each; VMs that share a number reach each other. */
  vlans: string
  /** M of the module's 192.168.N.M on every vlan N; empty: an address of the vlan's pool. */
  vlanNumber: number | null
  /** The model of every network card. */
  nicModel: (typeof nicModels)[number]
  forwards: ForwardRow[]
  shares: ShareRow[]
  consoles: string
  usbTablet: boolean
  rng: boolean
  /** A TPM 2.0 (swtpm). */
  tpm: boolean
  guestAgent: boolean
  /** One argument per line. */
  extraArgs: string
  /** Another QEMU build's qemu-system-x86_64; empty: the system's. */
  qemuBinary: string
}

export interface ShareRow {
  tag: string
  source: string
  target: string
  securityModel: 'none' | 'mapped-xattr' | 'passthrough'
  msize: number | null
}

export const newShare = (n: number): ShareRow => ({
  tag: `share${n}`,
  source: '',
  target: `/mnt/share${n}`,
  securityModel: 'none',
  msize: 16384,
})

export interface ForwardRow {
  from: 'host' | 'guest'
  proto: 'tcp' | 'udp'
  hostAddress: string
  hostPort: number | null
  guestAddress: string
  guestPort: number | null
}

export const newForward = (): ForwardRow => ({
  from: 'host',
  proto: 'tcp',
  hostAddress: '127.0.0.1',
  hostPort: null,
  guestAddress: '',
  guestPort: null,
})

export const steps = [
  { id: 'source', title: 'Operating system', fields: ['boot', 'cdrom', 'cloudInit', 'disk.base'] },
  { id: 'general', title: 'General', fields: ['name', 'memoryMiB', 'cores', 'display', 'usbTablet', 'rng', 'guestAgent', 'extraArgs', 'qemuBinary'] },
  { id: 'boot', title: 'Boot & firmware', fields: ['firmware', 'chipset', 'tpm'] },
  { id: 'disk', title: 'Disk', fields: ['disk', 'emptyDiskImages'] },
  { id: 'shares', title: 'Shared folders', fields: ['sharedDirectories'] },
  { id: 'network', title: 'Network', fields: ['network', 'vlans', 'vlanNumber', 'nicModel'] },
  { id: 'review', title: 'Review', fields: [] },
] as const
export type StepId = (typeof steps)[number]['id']

export const blank = (): WizardForm => ({
  name: '',
  memoryMiB: 512,
  cores: 1,
  chipset: 'pc',
  firmware: 'seabios',
  biosFile: '',
  source: 'media',
  media: '',
  ejectAfterInstall: true,
  kernel: '',
  initrd: '',
  append: 'console=ttyS0',
  diskMode: 'new',
  diskImage: '',
  diskUse: 'base',
  cloudInit: false,
  ciHostname: '',
  ciUser: '',
  ciPasswordHash: null,
  ciKeys: '',
  ciUserData: '',
  diskSizeMiB: 20 * 1024,
  diskInterface: 'virtio',
  emptyDisks: '',
  display: 'vnc',
  displayWidth: 1024,
  displayHeight: 768,
  network: true,
  bridge: '',
  vlans: '',
  vlanNumber: null,
  nicModel: 'virtio',
  forwards: [],
  shares: [],
  consoles: '',
  usbTablet: true,
  rng: true,
  tpm: false,
  guestAgent: true,
  extraArgs: '',
  qemuBinary: '',
})

/** Kept while the app is open: leaving the wizard, or a failed create, loses nothing. */
export const draft = reactive<WizardForm>(blank())

export function resetDraft(): void {
  Object.assign(draft, blank())
}

/** Numbers left empty stay empty, so the schema says "Enter a port number" instead of a NaN error. */
const number = (value: number | null | string) => (value === '' || value === null ? undefined : value)

const optional = (value: string) => (value.trim() ? value.trim() : undefined)

export function toSpec(form: WizardForm): QemuSpecInput {
  return {
    kind: 'qemu',
    name: form.name.trim(),
    memoryMiB: form.memoryMiB as number,
    cores: form.cores as number,
    chipset: form.chipset,
    firmware:
      form.firmware === 'seabios'
        ? { kind: 'bios' }
        : form.firmware === 'bios-file'
          ? { kind: 'bios', file: form.biosFile.trim() }
          : { kind: 'efi', secureBoot: form.firmware === 'efi-secure' },
    boot:
      form.source === 'kernel'
        ? {
            type: 'kernel',
            kernel: form.kernel.trim(),
            initrd: optional(form.initrd),
            append: form.append.trim(),
            consoles: form.consoles.split(/\s+/).filter(Boolean),
          }
        : { type: 'disk', install: form.source === 'media' ? { ejectAfterInstall: form.ejectAfterInstall } : null },
    ...(form.source === 'media' ? { cdrom: { file: optional(form.media) ?? null } } : {}),
    disk:
      form.diskMode === 'none'
        ? null
        : form.source === 'disk' && form.diskMode === 'existing' && form.diskUse !== 'in-place'
          ? { base: { file: form.diskImage.trim(), copy: form.diskUse === 'copy' }, sizeMiB: form.diskSizeMiB as number, interface: form.diskInterface }
          : {
              image: form.diskMode === 'existing' ? form.diskImage.trim() : optional(form.diskImage),
              sizeMiB: form.diskSizeMiB as number,
              interface: form.diskInterface,
            },
    cloudInit:
      form.source === 'disk' && form.cloudInit
        ? {
            hostname: form.ciHostname.trim(),
            user: form.ciUser.trim(),
            passwordHash: form.ciPasswordHash,
            sshKeys: form.ciKeys.split('\n').map((k) => k.trim()).filter(Boolean),
            userData: form.ciUserData.trim() ? form.ciUserData : null,
          }
        : null,
    emptyDiskImages: form.emptyDisks.split(/\s+/).filter(Boolean).map(Number),
    vlans: form.vlans.split(/[\s,]+/).filter(Boolean).map(Number),
    vlanNumber: (number(form.vlanNumber) as number | undefined) ?? null,
    nicModel: form.nicModel,
    display:
      form.display === 'none'
        ? null
        : { protocol: form.display, width: form.displayWidth as number, height: form.displayHeight as number },
    usbTablet: form.usbTablet,
    rng: form.rng,
    tpm: form.tpm,
    guestAgent: form.guestAgent,
    extraArgs: form.extraArgs.split('\n').map((a) => a.trim()).filter(Boolean),
    qemuBinary: form.qemuBinary.trim() || null,
    sharedDirectories: form.shares.map((share) => ({
      tag: share.tag.trim(),
      source: share.source.trim(),
      target: share.target.trim(),
      securityModel: share.securityModel,
      msize: number(share.msize) as number,
    })),
    network: form.network
      ? {
          bridge: optional(form.bridge) ?? null,
          forwardPorts: (form.bridge.trim() ? [] : form.forwards).map((f) => ({
            from: f.from,
            proto: f.proto,
            host: { address: f.hostAddress.trim(), port: number(f.hostPort) as number },
            guest: { address: f.guestAddress.trim(), port: number(f.guestPort) as number },
          })),
        }
      : null,
  }
}

/** The checks that need no host: the same schema the main process enforces. */
export function checkLocally(form: WizardForm): FieldErrors {
  const result = qemuSpecSchema.safeParse(toSpec(form))
  return result.success ? {} : zodFieldErrors(result.error)
}

export function stepOfField(field: string, form?: WizardForm): StepId {
  // An imported disk is chosen with the operating system (and, when it is a base, the new disk's size).
  if (form?.source === 'disk' && (field.startsWith('disk.image') || (form.diskUse !== 'in-place' && field === 'disk.sizeMiB'))) return 'source'
  const step = steps.find((s) => s.fields.some((f) => field === f || field.startsWith(`${f}.`)))
  return step?.id ?? 'general'
}

export function errorsForStep(errors: FieldErrors, step: StepId, form?: WizardForm): FieldErrors {
  return Object.fromEntries(Object.entries(errors).filter(([field]) => stepOfField(field, form) === step))
}

/** How the form changes when the source changes: media install onto a new disk; an import boots its image. */
export function chooseSource(form: WizardForm, source: WizardForm['source']): void {
  form.source = source
  if (source === 'media') form.diskMode = 'new'
  if (source === 'disk') form.diskMode = 'existing'
  // A directly booted kernel usually runs from its initramfs: a disk is added on purpose.
  if (source === 'kernel') form.diskMode = 'none'
}

/** The defaults Berth proposes for the detected system, put into the form (each can still be changed). */
export function applyDefaults(form: WizardForm, info: MediaInfo): void {
  const d = info.defaults
  Object.assign(form, {
    memoryMiB: d.memoryMiB,
    cores: d.cores,
    diskSizeMiB: d.diskSizeMiB,
    firmware: d.firmware,
    chipset: d.chipset,
    diskInterface: d.diskInterface,
    nicModel: d.nicModel,
    tpm: d.tpm,
    guestAgent: d.guestAgent,
  })
  // A name from the system, when the person has not given one.
  if (!form.name.trim() && info.os) form.name = info.os.shortId
}

/** A machine's settings as the wizard shows them, for editing a stopped machine. */
export function fromSpec(spec: QemuSpec): WizardForm {
  const base = blank()
  const { boot, firmware, display, network, disk } = spec
  return {
    ...base,
    name: spec.name,
    memoryMiB: spec.memoryMiB,
    cores: spec.cores,
    chipset: spec.chipset,
    firmware: firmware.kind === 'efi' ? (firmware.secureBoot ? 'efi-secure' : 'efi') : firmware.file ? 'bios-file' : 'seabios',
    biosFile: firmware.kind === 'bios' ? (firmware.file ?? '') : '',
    source: boot.type === 'kernel' ? 'kernel' : boot.install ? 'media' : 'disk',
    media: boot.type === 'disk' && boot.install ? (spec.cdrom?.file ?? '') : '',
    ejectAfterInstall: boot.type === 'disk' && boot.install ? boot.install.ejectAfterInstall : true,
    kernel: boot.type === 'kernel' ? boot.kernel : '',
    initrd: boot.type === 'kernel' ? (boot.initrd ?? '') : '',
    append: boot.type === 'kernel' ? boot.append : base.append,
    consoles: boot.type === 'kernel' ? boot.consoles.join(' ') : '',
    diskMode: disk ? (disk.image || disk.base ? 'existing' : 'new') : 'none',
    diskImage: disk?.image ?? disk?.base?.file ?? '',
    diskUse: disk?.base ? (disk.base.copy ? 'copy' : 'base') : disk?.image ? 'in-place' : base.diskUse,
    cloudInit: spec.cloudInit !== null,
    ciHostname: spec.cloudInit?.hostname ?? '',
    ciUser: spec.cloudInit?.user ?? '',
    ciPasswordHash: spec.cloudInit?.passwordHash ?? null,
    ciKeys: spec.cloudInit?.sshKeys.join('\n') ?? '',
    ciUserData: spec.cloudInit?.userData ?? '',
    diskSizeMiB: disk?.sizeMiB ?? base.diskSizeMiB,
    diskInterface: disk?.interface ?? base.diskInterface,
    emptyDisks: spec.emptyDiskImages.join(' '),
    display: display ? display.protocol : 'none',
    displayWidth: display?.width ?? base.displayWidth,
    displayHeight: display?.height ?? base.displayHeight,
    network: network !== null,
    bridge: network?.bridge ?? '',
    vlans: spec.vlans.join(' '),
    vlanNumber: spec.vlanNumber,
    nicModel: spec.nicModel,
    forwards: (network?.forwardPorts ?? []).map((f) => ({
      from: f.from,
      proto: f.proto,
      hostAddress: f.host.address,
      hostPort: f.host.port,
      guestAddress: f.guest.address,
      guestPort: f.guest.port,
    })),
    shares: spec.sharedDirectories.map((share) => ({ ...share })),
    usbTablet: spec.usbTablet,
    rng: spec.rng,
    tpm: spec.tpm,
    guestAgent: spec.guestAgent,
    extraArgs: spec.extraArgs.join('\n'),
    qemuBinary: spec.qemuBinary ?? '',
  }
}

/** The edited spec keeps what the wizard does not show: attached drives and the disc. */
export function editedSpec(form: WizardForm, previous: QemuSpec): QemuSpecInput {
  const spec = toSpec(form)
  // How the root disk is served is set on the Drives tab: the wizard keeps it.
  const tuning = previous.disk ? pick(previous.disk, Object.keys(diskTuningShape) as (keyof DiskTuning)[]) : {}
  // The disc is the media while installing; otherwise what the Drives tab put in.
  return { ...spec, disk: spec.disk && { ...tuning, ...spec.disk }, drives: previous.drives, cdrom: form.source === 'media' ? spec.cdrom : previous.cdrom }
}

const pick = <T extends object, K extends keyof T>(value: T, keys: K[]): Pick<T, K> =>
  Object.fromEntries(keys.map((key) => [key, value[key]])) as Pick<T, K>
