// QEMU machines: detached processes with QMP and serial sockets in a per-VM runtime directory.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, writeSync } from 'node:fs'
import { access, constants, cp, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { lastLines, TAIL_BYTES } from '../../consoles/log-tail'
import { basename, dirname, join } from 'node:path'
import { createServer } from 'node:net'
import { createSocket } from 'node:dgram'
import { BerthError, fieldErrors, type FieldErrors } from '../../../../shared/errors'
import type { Capability, DefinitionOf, MachineRuntime, MachineState, QemuSpec } from '../../../../shared/model/machine'

type QemuDefinition = DefinitionOf<QemuSpec>
import type { BerthPaths } from '../../paths'
import { commonTransitions, type Backend, type ConsoleStream, type LiveDrive, type MachineStatus, type Preview, type QemuFeatures, type SnapshotFeatures, type CloneFeatures } from '../backend'
import { driveSchema, type Drive, type DriveView, type ImageLink } from '../../../../shared/model/drives'
import { networkInterfaces, totalmem } from 'node:os'
import { SerialConsole } from '../../consoles/serial-console'
import { chooseAccelerator, hostProbe, type AcceleratorChoice } from './accel'
import { isoBootable } from '../../os-info/iso'
import { buildQemuArgv, driveOptions, installing, runtimeFiles, throttleGroupId, type Accelerator } from './argv'
import { CDROM_DEVICE, deviceId, diskNode, HOTPLUG_ROOT_PORTS, macAddress, rootPort, tapName, vlanAddress, vlanAddressing, vlanBridgeName, vlanSubnet, vlanTapName } from './ids'
import type { PrivilegedHelper } from '../../privileged'
import { programCommand } from '../../programs'
import { existsSync, readdirSync } from 'node:fs'
import { chooseUefi, findUefiFirmware } from './firmware'
import { emulatorProblem } from './emulator'
import { machineTraffic, processCounters } from '../host-counters'
import { withTimeout } from '../with-timeout'
import type { Counters } from '../../../../shared/model/metrics'
import { chainProblem, createQcow2, imageOpts, imageProblem, inspectImage, probeFormat, qemuImgInfo } from './image'
import { writeSeed } from './cloud-init'
import type { CloudInit } from '../../../../shared/model/cloud-init'
import { QmpClient, QmpError, type QmpEvent } from './qmp'
import { guestTraffic, queryGuestAgent } from './guest-agent'
import { startSwtpm, swtpmProblem } from './tpm'
import { checkGrowth, growableProblem, growImage, growInGuest, sizeText, type GrowSteps } from './grow'
import { allocatedBytes, dropTpmState, imageSnapshot, keepTpmState, readSnapshots, restoreTpmState, roomProblem, tpmCopy, writeSnapshots, type RecordedSnapshot } from './snapshots'
import { findSnapshot, nameTaken, publicSnapshot, snapshotList, withoutSnapshot } from '../snapshot-record'
import type { Snapshot, SnapshotList } from '../../../../shared/model/snapshots'
import { exec } from '../../exec'
import { copyImage, linkImage, newIdentity, type CloneOptions } from './clone'
import { isDeepStrictEqual } from 'node:util'
import type { GuestInfo } from '../../../../shared/model/guest-agent'
import { Emitter, type Disposable } from '../../../../shared/rpc/transport'

export interface QemuBackendOptions {
  paths: BerthPaths
  qemuBinary?: string
  qemuImg?: string
  /** Fixed choice for tests; probed from the host otherwise. */
  accelerator?: AcceleratorChoice
  /** Makes and removes the taps of bridged and vlan NICs (and the vlans' bridges). */
  privileged: PrivilegedHelper
}

/** Ways a QEMU process can end that are not a crash. */
const cleanShutdownReasons = new Set(['guest-shutdown', 'host-qmp-quit', 'host-qmp-system-reset', 'host-signal', 'host-ui', 'guest-reset', 'guest-panic'])

interface Run {
  state: MachineState
  accelerator: Accelerator | null
  lastError: string | null
  qmp: QmpClient | null
  child: ChildProcess | null
  childExit: string | null
  /** SHUTDOWN event reason, when QEMU said why it is going away. */
  shutdownReason: string | null
  stopping: { how: string; quitsAt: string | null } | null
  stopRequested: boolean
  closed: Promise<void>
  drives: Map<string, LiveDrive>
  cdrom: string | null | undefined
  /** Its 192.168.N.M addresses on its vlans (a number two running VMs cannot share), and its name. */
  vlanAddresses: string[]
  name: string
  /** Started to install from its disc (boot.install): the guest's first restart or power-off ends that, a Stop from Berth does not. */
  installing: boolean
}

const idle = (): Run => ({
  state: 'stopped',
  accelerator: null,
  lastError: null,
  qmp: null,
  child: null,
  childExit: null,
  shutdownReason: null,
  stopping: null,
  stopRequested: false,
  closed: Promise.resolve(),
  drives: new Map(),
  cdrom: undefined,
  vlanAddresses: [],
  name: '',
  installing: false,
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Why Berth does not act on a root disk yet: it opens an image only with the format it recorded. */
const unrecordedFormat = (path: string, machine: string) => `The format of ${path} is not recorded yet: open ${machine}'s settings and save them once`

export class QemuBackend implements Backend<QemuSpec>, QemuFeatures, SnapshotFeatures<QemuSpec>, CloneFeatures<QemuSpec> {
  readonly kind = 'qemu' as const
  readonly transitions = commonTransitions
  readonly qemuBinary: string
  readonly qemuImg: string
  private readonly runs = new Map<string, Run>()
  private readonly consoles = new Map<string, SerialConsole>()
  private readonly changes = new Emitter<string>()
  private readonly installsEnded = new Emitter<{ id: string; restart: boolean }>()
  private acceleratorChoice: Promise<AcceleratorChoice> | null
  private disposed = false

  constructor(private readonly options: QemuBackendOptions) {
    this.qemuBinary = options.qemuBinary ?? 'qemu-system-x86_64'
    this.qemuImg = options.qemuImg ?? 'qemu-img'
    this.acceleratorChoice = options.accelerator ? Promise.resolve(options.accelerator) : null
  }

  accelerator(): Promise<AcceleratorChoice> {
    this.acceleratorChoice ??= chooseAccelerator(hostProbe(this.qemuBinary))
    return this.acceleratorChoice
  }

  onDidChange(listener: (id: string) => void): Disposable {
    return this.changes.on(listener)
  }

  onInstallEnded(listener: (ended: { id: string; restart: boolean }) => void): Disposable {
    return this.installsEnded.on(listener)
  }

  status(id: string): MachineStatus {
    const run = this.runs.get(id) ?? idle()
    return { state: run.state, lastError: run.lastError, stopping: run.stopping }
  }

  liveDrives(id: string): Map<string, LiveDrive> {
    return (this.runs.get(id) ?? idle()).drives
  }

  capabilities(spec: QemuSpec): Capability[] {
    return ['drives', 'pause', 'metrics', 'snapshots', 'clone', ...(spec.display ? (['display'] as const) : []), ...(spec.guestAgent ? (['guestAgent'] as const) : [])]
  }

  /** The accelerator, the definition's drives with their live state and the ones attached live only, and the disc in the drive now. */
  runtime(definition: QemuDefinition): MachineRuntime {
    const run = this.runs.get(definition.id) ?? idle()
    const running = run.state === 'running' || run.state === 'paused'
    const drives: DriveView[] = definition.spec.drives.map((drive) => {
      const now = run.drives.get(drive.id)
      return { ...drive, persistent: true, state: running && now ? now.state : 'defined', error: now?.error ?? null }
    })
    for (const { drive, persistent, state, error } of run.drives.values()) if (!persistent) drives.push({ ...drive, persistent, state, error })
    const cdrom = definition.spec.cdrom ? { file: run.cdrom !== undefined ? run.cdrom : definition.spec.cdrom.file } : null
    return { kind: 'qemu', accelerator: run.accelerator, drives, cdrom }
  }

  bridgesOf(spec: QemuSpec): string[] {
    return spec.network?.bridge ? [spec.network.bridge] : []
  }

  linksOf(): { field: string; name: string }[] {
    return []
  }

  hostOf(): string {
    return 'local'
  }

  startsWithBerth(): boolean {
    return false
  }

  async preview(definition: QemuDefinition): Promise<Preview> {
    return { argv: await this.commandLine(definition) }
  }

  private runtimeDir(id: string) {
    return join(this.options.paths.runtime, id)
  }
  private filesDir(id: string) {
    return join(this.options.paths.machineFiles, id)
  }
  private defaultImage(id: string) {
    return join(this.options.paths.images, `${id}.qcow2`)
  }
  /** The NoCloud seed of a machine with cloud-init settings, written at each start. */
  private seedPath(id: string) {
    return join(this.filesDir(id), 'cidata.iso')
  }
  private diskPath(definition: QemuDefinition): string | null {
    const disk = definition.spec.disk
    return disk ? (disk.image ?? this.defaultImage(definition.id)) : null
  }
  /** The blank disks made for emptyDiskImages, kept with the machine, in order. */
  private emptyDisks(id: string, spec: QemuSpec): string[] {
    return spec.emptyDiskImages.map((_, i) => join(this.filesDir(id), `empty${i}.qcow2`))
  }
  private varsPath(id: string) {
    return join(this.filesDir(id), 'efi-vars.qcow2')
  }
  private tpmState(id: string) {
    return join(this.filesDir(id), 'tpm')
  }

  console(id: string): SerialConsole {
    let serial = this.consoles.get(id)
    if (!serial) {
      serial = new SerialConsole(join(this.filesDir(id), 'serial.log'))
      this.consoles.set(id, serial)
    }
    return serial
  }

  private update(id: string, change: Partial<Run>): Run {
    const run = { ...(this.runs.get(id) ?? idle()), ...change }
    this.runs.set(id, run)
    this.changes.emit(id)
    return run
  }

  /**
   * The spec with the format and backing chain of every image recorded: read once from the file the
   * person chose (an image Berth will make is a plain qcow2) and kept while the file stays the same;
   * never taken from the caller.
   */
  async record(spec: QemuSpec, previous: QemuSpec | null, id?: string): Promise<QemuSpec> {
    const drives = []
    for (const drive of spec.drives) {
      const kept = previous?.drives.find((d) => d.id === drive.id && d.file === drive.file)
      if (kept) drives.push({ ...drive, format: kept.format, backing: kept.backing })
      else {
        const found = await inspectImage(this.qemuImg, drive.file)
        drives.push({ ...drive, format: found.format, backing: found.backingChain })
      }
    }
    if (!spec.disk) return { ...spec, drives }
    const old = previous?.disk?.image === spec.disk.image ? previous?.disk : null
    // A format once recorded is kept: a raw disk's header is the guest's to write, never read again.
    if (old?.format && (old.backing || old.format === 'raw'))
      return { ...spec, drives, disk: { ...spec.disk, format: old.format, backing: old.backing ?? [] } }
    // A disk Berth makes in its own folder may exist already: a clone's copy or overlay.
    const path = spec.disk.image ?? (id ? this.defaultImage(id) : undefined)
    let exists = path ? await stat(path).then(() => true, () => false) : false
    if (!exists && path && spec.disk.base) {
      await this.makeFromBase(spec.disk.base, path, spec.disk.sizeMiB)
      exists = true
    }
    const image = exists ? await inspectImage(this.qemuImg, path!) : null
    return { ...spec, drives, disk: { ...spec.disk, format: image?.format ?? 'qcow2', backing: image?.backingChain ?? [] } }
  }

  /**
   * Berth's disk made from a base image the person chose (a cloud image): a qcow2 on top of it, or a
   * copy, grown to sizeMiB. The base's format and chain are read by Berth and stated to qemu-img.
   */
  private async makeFromBase(base: { file: string; copy: boolean }, target: string, sizeMiB: number): Promise<void> {
    const found = await inspectImage(this.qemuImg, base.file)
    if (found.kind === 'iso') throw fieldErrors({ 'disk.base.file': `${base.file} is an ISO image: install from it instead` })
    const baseMiB = Math.ceil(found.virtualSize / 1024 / 1024)
    if (sizeMiB < baseMiB) throw fieldErrors({ 'disk.sizeMiB': `${base.file} is a ${baseMiB} MiB disk already: choose at least ${baseMiB} MiB` })
    const link: ImageLink = { file: base.file, format: found.format }
    await mkdir(dirname(target), { recursive: true, mode: 0o700 })
    const made = `${target}.new`
    try {
      if (base.copy) await copyImage(this.qemuImg, link, found.backingChain, made)
      else await linkImage(this.qemuImg, link, made)
      if (sizeMiB > baseMiB) {
        const chain = base.copy ? [] : [link, ...found.backingChain]
        await exec([this.qemuImg, 'resize', '-q', '--image-opts', imageOpts({ file: made, format: 'qcow2' }, chain), `${sizeMiB}M`], { timeoutMs: 60_000 })
      }
      await rename(made, target)
    } finally {
      await rm(made, { force: true })
    }
  }

  /** The NoCloud seed written from the settings (a disc QEMU opens read-only as raw). */
  private async writeSeed(id: string, config: CloudInit): Promise<string> {
    const path = this.seedPath(id)
    await writeSeed(path, id, config)
    return path
  }

  /**
   * Makes a missing disk, or checks that an existing one still reads as the format recorded for it.
   * A raw disk is the guest's to write: if it now starts with an image header, the guest may have
   * written it to make QEMU open host files as backing or data files. Nothing is opened then.
   */
  private async checkDisk(disk: string, format: ImageLink['format'], backing: ImageLink[], sizeMiB: number): Promise<void> {
    if (!(await stat(disk).then(() => true, () => false))) {
      if (format !== 'qcow2') throw new BerthError('failed', `The disk image ${disk} is missing`)
      await mkdir(this.options.paths.images, { recursive: true, mode: 0o700 })
      await createQcow2(this.qemuImg, disk, sizeMiB)
      return
    }
    const found = await probeFormat(this.qemuImg, disk, format)
    if (found !== format)
      throw new BerthError(
        'conflict',
        `${disk} was recorded as a ${format} image but now reads as ${found}: something wrote an image header into it, possibly the guest itself. ` +
          `Berth will not open it as ${found}, since that could let it reach other files on this host. Look at the image; if you changed it yourself, remove the disk in the machine's settings and add it again.`,
      )
    await this.checkChain({ file: disk, format }, backing)
  }

  /** An image whose backing chain changed since it was recorded is not opened: its data would be read from the wrong files. */
  private async checkChain(image: ImageLink, backing: ImageLink[]): Promise<void> {
    const problem = await chainProblem(this.qemuImg, image, backing).catch((error: Error) => error.message)
    if (problem)
      throw new BerthError('conflict', `${problem}. Berth opens an image only with the backing files it checked: remove the disk in the machine's settings and add it again to check the new ones.`)
  }

  /** The QEMU that runs this VM: its own build, or the system's. */
  binaryOf(spec: QemuSpec): string {
    return spec.qemuBinary ?? this.qemuBinary
  }

  async validate(spec: QemuSpec, id?: string): Promise<FieldErrors> {
    const fields: FieldErrors = {}
    if (spec.qemuBinary) {
      const problem = await emulatorProblem(spec.qemuBinary)
      if (problem) fields.qemuBinary = problem
    }
    const tpm = spec.tpm ? swtpmProblem() : null
    if (tpm) fields.tpm = tpm
    const hostMiB = Math.floor(totalmem() / 1024 / 1024)
    if (spec.memoryMiB > hostMiB) fields.memoryMiB = `This host has ${hostMiB} MiB of memory: give the machine less`
    const checkFile = async (field: string, path: string, what: string) => {
      try {
        const info = await stat(path)
        if (!info.isFile()) fields[field] = `${path} is not a file: choose the ${what} file itself`
        else await access(path, constants.R_OK)
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code
        fields[field] = code === 'ENOENT' ? `${path} does not exist` : `${path} cannot be read (${code})`
      }
    }
    if (spec.boot.type === 'kernel') {
      await checkFile('boot.kernel', spec.boot.kernel, 'kernel')
      if (spec.boot.initrd) await checkFile('boot.initrd', spec.boot.initrd, 'initrd')
    }
    if (spec.disk?.image) {
      const problem = await imageProblem(this.qemuImg, spec.disk.image)
      if (problem) fields['disk.image'] = problem
      else if (spec.boot.type === 'disk' && !spec.boot.install) {
        const exists = await stat(spec.disk.image).then(() => true, () => false)
        if (!exists) fields['disk.image'] = `${spec.disk.image} does not exist: a new blank disk cannot boot`
      }
    } else if (spec.disk?.base) {
      const problem = await imageProblem(this.qemuImg, spec.disk.base.file)
      if (problem) fields['disk.base.file'] = problem
    } else if (spec.boot.type === 'disk' && !spec.boot.install && !(id && existsSync(this.defaultImage(id)))) {
      // Berth's own disk of the machine boots once something (an installation) has written it.
      fields['disk.image'] = 'Choose an existing disk image to boot from'
    }
    for (const [index, drive] of spec.drives.entries()) {
      const problem = await inspectImage(this.qemuImg, drive.file).then(
        (image) =>
          image.kind === 'iso'
            ? 'This is an ISO image: put it in the CD drive'
            : image.format !== drive.format
              ? `${drive.file} is ${image.format}, not ${drive.format}`
              : null,
        (error: Error) => error.message,
      )
      if (problem) fields[`drives.${index}.file`] = problem
    }
    if (spec.firmware.kind === 'efi') {
      try {
        chooseUefi(await findUefiFirmware(), spec.firmware.secureBoot, spec.chipset)
      } catch (error) {
        fields.firmware = (error as Error).message
      }
    } else if (spec.firmware.file) {
      const info = await stat(spec.firmware.file).catch(() => null)
      if (!info?.isFile()) fields['firmware.file'] = `${spec.firmware.file} is not a BIOS file on this host`
    }
    for (const [index, share] of spec.sharedDirectories.entries()) {
      const info = await stat(share.source).catch(() => null)
      if (!info) fields[`sharedDirectories.${index}.source`] = `${share.source} does not exist`
      else if (!info.isDirectory()) fields[`sharedDirectories.${index}.source`] = `${share.source} is a file: share a folder`
    }
    for (const [index, rule] of (spec.network?.forwardPorts ?? []).entries()) {
      if (rule.from !== 'host') continue
      const busy = await portTaken(rule.proto, rule.host.address, rule.host.port)
      if (busy) fields[`network.forwardPorts.${index}.host.port`] = `${busy}: choose another host port`
    }
    const bridge = spec.network?.bridge
    if (bridge && !existsSync(join('/sys/class/net', bridge, 'bridge')))
      fields['network.bridge'] = `There is no bridge ${bridge} on this host: create it on the Networks page first`
    if (spec.cdrom?.file) {
      const problem = await inspectImage(this.qemuImg, spec.cdrom.file).then(
        (image) => (image.kind === 'iso' ? null : `${spec.cdrom!.file} is not an ISO image`),
        (error: Error) => error.message,
      )
      if (problem) fields['cdrom.file'] = problem
      else if (installing(spec) && !(await isoBootable(spec.cdrom.file)))
        fields['cdrom.file'] = `${spec.cdrom.file} cannot boot a machine: it has no boot record. Choose installation media (the ISO an OS offers for download).`
    }
    return fields
  }

  private async commandLine(definition: QemuDefinition): Promise<string[]> {
    const disk = this.diskPath(definition)
    const format = definition.spec.disk?.format ?? 'qcow2'
    const backing = definition.spec.disk?.backing ?? []
    return buildQemuArgv({
      spec: definition.spec,
      binary: this.binaryOf(definition.spec),
      accelerator: (await this.accelerator()).accelerator,
      runtimeDir: this.runtimeDir(definition.id),
      disk: disk ? { path: disk, format, backing } : null,
      emptyDisks: this.emptyDisks(definition.id, definition.spec),
      uefi: await this.uefi(definition, false),
      seed: definition.spec.cloudInit ? this.seedPath(definition.id) : null,
    })
  }

  async reattach(definition: QemuDefinition): Promise<void> {
    const id = definition.id
    const dir = this.runtimeDir(id)
    const qmpPath = join(dir, runtimeFiles.qmp)
    if (!(await stat(qmpPath).then(() => true, () => false))) return
    let qmp: QmpClient
    try {
      qmp = await QmpClient.connect(qmpPath, 1500)
    } catch {
      const pid = await this.readPid(id)
      if (pid && isQemuAlive(pid)) {
        this.update(id, { state: 'unknown', lastError: `QEMU (pid ${pid}) runs but another program holds its QMP socket` })
        return
      }
      await rm(dir, { recursive: true, force: true }) // left over from a VM that ended while Berth was away
      return
    }
    const status = await qmp.execute<{ status: string }>('query-status')
    const kvm = await qmp.execute<{ enabled: boolean }>('query-kvm').catch(() => ({ enabled: false }))
    // The keeper kept logging while Berth was away; a keeper that is gone is started again.
    const consoleSocket = join(dir, runtimeFiles.console)
    await this.console(id)
      .attach(consoleSocket, { offsetHeader: true })
      .catch(async () => {
        await this.startKeeper(id)
        await this.console(id).attach(consoleSocket, { offsetHeader: true })
      })
      .catch(() => undefined)
    this.watch(id, qmp, null)
    const cdrom = definition.spec.cdrom ? await this.insertedDisc(qmp) : undefined
    this.update(id, {
      vlanAddresses: addressesOnVlans(definition.spec),
      name: definition.spec.name,
      installing: installing(definition.spec),
      state: qemuStatusToState(status.status),
      accelerator: kvm.enabled ? 'kvm' : 'tcg',
      lastError: null,
      drives: await this.attachedDrives(qmp, definition),
      cdrom,
    })
  }

  /** beforeResume: work on the paused, not yet started guest (a snapshot's memory loaded into it). */
  async start(definition: QemuDefinition, beforeResume?: (qmp: QmpClient) => Promise<void>): Promise<void> {
    const id = definition.id
    const vlanAddresses = addressesOnVlans(definition.spec)
    const taken = [...this.runs.entries()].find(([other, run]) => other !== id && !['stopped', 'crashed'].includes(run.state) && run.vlanAddresses.some((a) => vlanAddresses.includes(a)))
    if (taken) {
      const address = taken[1].vlanAddresses.find((a) => vlanAddresses.includes(a))
      throw fieldErrors({ vlanNumber: `${address} is taken by ${taken[1].name}, which is running: give this machine another number` }, `${address} is taken by ${taken[1].name}`)
    }
    this.update(id, { ...idle(), state: 'starting', vlanAddresses, name: definition.spec.name, installing: installing(definition.spec) })
    let child: ChildProcess | null = null
    let tpm: ChildProcess | null = null
    try {
      const spec = definition.spec
      const dir = this.runtimeDir(id)
      await rm(dir, { recursive: true, force: true })
      await mkdir(dir, { recursive: true, mode: 0o700 })
      await mkdir(this.filesDir(id), { recursive: true, mode: 0o700 })
      // A QEMU build chosen earlier may have been replaced or removed since.
      const emulator = spec.qemuBinary ? await emulatorProblem(spec.qemuBinary) : null
      if (emulator) throw fieldErrors({ qemuBinary: emulator }, `${emulator}: choose another QEMU in the machine's settings`)
      const disk = this.diskPath(definition)
      const format = spec.disk?.format ?? 'qcow2'
      const backing = spec.disk?.backing ?? []
      if (disk && spec.disk) await this.checkDisk(disk, format, backing, spec.disk.sizeMiB)
      for (const drive of spec.drives) await this.checkChain({ file: drive.file, format: drive.format }, drive.backing)
      // emptyDiskImages: blank disks kept with the machine, made the first time it starts
      const emptyDisks = this.emptyDisks(id, spec)
      for (const [i, path] of emptyDisks.entries())
        if (!(await stat(path).then(() => true, () => false))) await createQcow2(this.qemuImg, path, spec.emptyDiskImages[i]!)
      const { accelerator } = await this.accelerator()
      await this.makeTaps(definition)
      const argv = buildQemuArgv({
        spec,
        emptyDisks,
        binary: this.binaryOf(spec),
        accelerator,
        runtimeDir: dir,
        disk: disk ? { path: disk, format, backing } : null,
        uefi: await this.uefi(definition, true),
        seed: spec.cloudInit ? await this.writeSeed(id, spec.cloudInit) : null,
      })
      if (spec.tpm) tpm = await startSwtpm({ socket: join(dir, runtimeFiles.tpm), state: this.tpmState(id), log: join(this.filesDir(id), 'swtpm.log') })
      child = this.spawnDetached(id, argv)
      const qmp = await this.waitForQmp(id, child, argv[0]!)
      await this.startKeeper(id)
      await this.console(id).attach(join(dir, runtimeFiles.console), { offsetHeader: true })
      this.watch(id, qmp, child)
      await beforeResume?.(qmp)
      await qmp.execute('cont')
      const drives = new Map(spec.drives.map((drive) => [drive.id, launched(drive)]))
      this.update(id, { state: 'running', accelerator, lastError: null, child, drives, cdrom: spec.cdrom ? spec.cdrom.file : undefined })
    } catch (error) {
      if (child && child.exitCode === null) child.kill('SIGKILL')
      if (tpm && tpm.exitCode === null) tpm.kill('SIGKILL')
      await this.removeTaps(id)
      const message = error instanceof Error ? error.message : String(error)
      this.update(id, { state: 'stopped', lastError: message, qmp: null, child: null })
      throw error instanceof BerthError ? error : new BerthError('failed', message)
    }
  }

  /**
   * A UEFI machine's firmware and its own variable store, kept with the machine: made from the
   * firmware's template the first time it starts (create: true), then reused, so boot entries stay.
   * The store is a qcow2, so that snapshots hold it too; a raw store of an older Berth becomes one.
   */
  private async uefi(definition: QemuDefinition, create: boolean): Promise<{ code: string; vars: string } | null> {
    const { firmware, chipset } = definition.spec
    if (firmware.kind !== 'efi') return null
    const chosen = chooseUefi(await findUefiFirmware(), firmware.secureBoot, chipset)
    const files = this.filesDir(definition.id)
    const vars = this.varsPath(definition.id)
    if (create && !existsSync(vars)) {
      await mkdir(files, { recursive: true, mode: 0o700 })
      const older = join(files, 'efi-vars.fd')
      await this.writeVars(existsSync(older) ? older : chosen.varsTemplate, vars)
      await rm(older, { force: true })
    }
    return { code: chosen.code, vars }
  }

  /** A variable store made from a raw one, whole or not at all (written beside, then renamed). */
  private async writeVars(raw: string, vars: string): Promise<void> {
    await exec([this.qemuImg, 'convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, `${vars}.new`], { timeoutMs: 60_000 })
    await rename(`${vars}.new`, vars)
  }

  async resetFirmwareVars(definition: QemuDefinition): Promise<void> {
    if (definition.spec.firmware.kind !== 'efi') throw new BerthError('conflict', `${definition.spec.name} boots with a BIOS: it has no UEFI variables`)
    const chosen = chooseUefi(await findUefiFirmware(), definition.spec.firmware.secureBoot, definition.spec.chipset)
    await mkdir(this.filesDir(definition.id), { recursive: true, mode: 0o700 })
    await this.writeVars(chosen.varsTemplate, this.varsPath(definition.id))
  }

  /** QEMU runs in its own session with stdout/stderr in qemu.log, so it outlives Berth. */
  private spawnDetached(id: string, argv: string[]): ChildProcess {
    const logFd = openSync(join(this.filesDir(id), 'qemu.log'), 'a', 0o600)
    try {
      writeSync(logFd, `--- ${new Date().toISOString()} ${JSON.stringify(argv)}\n`)
      const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', logFd, logFd] })
      child.unref()
      child.on('error', () => undefined) // reported through waitForQmp
      child.on('exit', (code, signal) => {
        const run = this.runs.get(id)
        if (run?.child === child) run.childExit = signal ? `killed by ${signal}` : `exited with code ${code}`
      })
      return child
    } finally {
      closeSync(logFd)
    }
  }

  /**
   * Starts the VM's serial keeper (serial-keeper.ts), detached like QEMU: QEMU's one serial client,
   * the writer of its log. Resolves once it is connected and serves viewers.
   */
  private async startKeeper(id: string): Promise<void> {
    const dir = this.runtimeDir(id)
    const { argv, env } = programCommand('serial-keeper')
    const errors = openSync(join(this.filesDir(id), 'qemu.log'), 'a', 0o600)
    try {
      const keeper = spawn(argv[0]!, [...argv.slice(1), join(dir, runtimeFiles.serial), this.console(id).logPath, join(dir, runtimeFiles.console)], {
        detached: true,
        stdio: ['ignore', 'pipe', errors],
        env: { ...process.env, ...env },
      })
      keeper.unref()
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new BerthError('failed', 'The serial console keeper did not start within 15 s')), 15_000)
        const ended = async (code: number | null) => {
          clearTimeout(timer)
          reject(new BerthError('failed', `The serial console keeper ended (exit code ${code}): ${await this.stderrTail(id, 2)}`))
        }
        keeper.once('exit', ended)
        keeper.stdout!.once('data', () => {
          clearTimeout(timer)
          keeper.off('exit', ended)
          resolve()
        })
      })
      keeper.stdout!.destroy()
    } finally {
      closeSync(errors)
    }
  }

  private async waitForQmp(id: string, child: ChildProcess, binary: string): Promise<QmpClient> {
    const path = join(this.runtimeDir(id), runtimeFiles.qmp)
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve))
    let failure: Error | null = null
    void spawnError.then((e) => (failure = e))
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (failure) throw new BerthError('unavailable', `Could not run ${binary}: ${(failure as Error).message}`)
      if (child.exitCode !== null || child.signalCode !== null)
        throw new BerthError('failed', `QEMU exited before it started: ${await this.stderrTail(id)}`)
      if (await stat(path).then(() => true, () => false)) {
        try {
          return await QmpClient.connect(path, 5000)
        } catch {
          // the socket exists but is not listening yet
        }
      }
      await sleep(5)
    }
    throw new BerthError('failed', 'QEMU did not open its QMP socket within 30 s')
  }

  private async stderrTail(id: string, lines = 5): Promise<string> {
    const text = await readFile(join(this.filesDir(id), 'qemu.log'), 'utf8').catch(() => '')
    const ownLines = text.split('\n').filter((l) => l && !l.startsWith('--- '))
    return ownLines.slice(-lines).join('\n') || '(no output)'
  }

  private async serialTail(id: string): Promise<string> {
    const file = await open(this.console(id).logPath, 'r').catch(() => null)
    if (!file) return ''
    try {
      const { size } = await file.stat()
      const length = Math.min(size, TAIL_BYTES)
      const { buffer, bytesRead } = await file.read(Buffer.alloc(length), 0, length, size - length)
      return lastLines(buffer.subarray(0, bytesRead).toString('utf8'), 3)
    } finally {
      await file.close()
    }
  }

  private watch(id: string, qmp: QmpClient, child: ChildProcess | null): void {
    let resolveClosed!: () => void
    const closed = new Promise<void>((r) => (resolveClosed = r))
    this.update(id, { qmp, child, closed })
    qmp.onEvent((event) => this.onQmpEvent(id, event))
    qmp.onClose(() => void this.onQemuGone(id, qmp).finally(resolveClosed))
  }

  private onQmpEvent(id: string, event: QmpEvent): void {
    const run = this.runs.get(id)
    if (!run) return
    switch (event.event) {
      case 'STOP':
        if (run.state === 'running') this.update(id, { state: 'paused' })
        return
      case 'RESUME':
        if (run.state === 'paused' || run.state === 'starting') this.update(id, { state: 'running' })
        return
      case 'SHUTDOWN':
        this.update(id, { state: 'stopping', shutdownReason: String(event.data?.reason ?? 'unknown'), stopping: { how: 'the guest is shutting down', quitsAt: null } })
        return
    }
  }

  private async onQemuGone(id: string, qmp: QmpClient): Promise<void> {
    const run = this.runs.get(id)
    if (this.disposed || !run || run.qmp !== qmp) return
    this.console(id).detach()
    // Give the child's exit status a moment to arrive, for the crash message.
    for (let i = 0; i < 20 && run.child && run.childExit === null; i++) await sleep(10)
    const clean = run.stopRequested || (run.shutdownReason !== null && cleanShutdownReasons.has(run.shutdownReason))
    let lastError: string | null = null
    if (!clean) {
      const how = run.childExit ?? 'ended without saying why'
      const consoleTail = await this.serialTail(id)
      lastError = `QEMU ${how}. Last output: ${await this.stderrTail(id, 3)}${consoleTail ? `. Last console lines: ${consoleTail}` : ''}`
    }
    await rm(this.runtimeDir(id), { recursive: true, force: true })
    await this.removeTaps(id)
    this.update(id, { state: clean ? 'stopped' : 'crashed', lastError, qmp: null, child: null, accelerator: null, drives: new Map(), cdrom: undefined })
    // The installer restarted the guest or powered it off: the installation is over.
    const guestEnded = run.shutdownReason === 'guest-reset' || run.shutdownReason === 'guest-shutdown'
    if (run.installing && guestEnded) this.installsEnded.emit({ id, restart: run.shutdownReason === 'guest-reset' })
  }

  /** Taps for a card on a host bridge and for each vlan (whose bridge is made when the first VM joins it). */
  private async makeTaps(definition: QemuDefinition): Promise<void> {
    const { id, spec } = definition
    const ask = this.options.privileged.request.bind(this.options.privileged)
    await this.removeTaps(id) // left by a crash
    if (spec.network?.bridge) await ask('tap.create', { name: tapName(id), bridge: spec.network.bridge })
    for (const vlan of spec.vlans) {
      const bridge = vlanBridgeName(vlan)
      if (!existsSync(join('/sys/class/net', bridge))) {
        await ask('bridge.create', { name: bridge })
        // The module's 192.168.N.M addresses, unless this host already uses that subnet elsewhere.
        if (vlan <= vlanAddressing.lastVlan && !subnetInUse(vlan)) await ask('vlan.serve', { vlan })
      }
      if (spec.vlanNumber !== null && !hasAddress(bridge, vlanAddress(vlan, vlanAddressing.host)))
        throw fieldErrors(
          { vlanNumber: `Vlan ${vlan} cannot have 192.168.${vlan}.M addresses: ${vlanSubnet(vlan)} is already used on this host (${subnetInUse(vlan) ?? bridge})` },
          `${vlanSubnet(vlan)} is already used on this host`,
        )
      await ask('tap.create', { name: vlanTapName(id, vlan), bridge })
    }
  }

  /** A VM's taps go with it; a vlan's bridge goes when no VM is left on it. */
  private async removeTaps(id: string): Promise<void> {
    const ask = this.options.privileged.request.bind(this.options.privileged)
    for (const link of readdirSync('/sys/class/net')) {
      const number = /^bv(\d+)-/.exec(link)?.[1]
      const vlan = number && vlanTapName(id, Number(number)) === link ? number : null
      if (link !== tapName(id) && !vlan) continue
      await ask('tap.delete', { name: link }).catch(() => undefined)
      const bridge = vlan ? vlanBridgeName(Number(vlan)) : null
      if (bridge && existsSync(join('/sys/class/net', bridge, 'brif')) && readdirSync(join('/sys/class/net', bridge, 'brif')).length === 0) {
        await ask('dhcp.stop', { bridge }).catch(() => undefined) // none on an unaddressed vlan
        await ask('bridge.delete', { name: bridge }).catch(() => undefined)
      }
    }
  }

  /**
   * QEMU's process (its vCPU threads included) from /proc, each disk's bytes from query-blockstats,
   * and the taps of bridged and vlan cards. A QMP that does not answer within timeoutMs leaves the
   * disk series out of this sample rather than holding it up.
   */
  async counters(definition: QemuDefinition, timeoutMs: number): Promise<Counters | null> {
    const run = this.runs.get(definition.id)
    const pid = run?.qmp && !run.qmp.isClosed ? await this.readPid(definition.id) : null
    const process = pid ? processCounters(pid) : null
    if (!run?.qmp || !process) return null
    const { spec } = definition
    const unmeasured: string[] = []
    // A user-mode card has no link on the host: only the guest (its agent) counts its traffic.
    const userMode = spec.network !== null && !spec.network.bridge
    const [stats, guestCounted] = await Promise.all([
      withTimeout(run.qmp.execute<{ stats: { rd_bytes: number; wr_bytes: number } }[]>('query-blockstats'), timeoutMs, 'no answer').catch(() => null),
      userMode && spec.guestAgent ? guestTraffic(join(this.runtimeDir(definition.id), runtimeFiles.agent), macAddress(definition.id, 'net0'), timeoutMs).catch(() => 'no answer' as const) : null,
    ])
    if (!stats) unmeasured.push('disk: QEMU did not answer in time')
    const taps = [...(spec.network?.bridge ? [tapName(definition.id)] : []), ...spec.vlans.map((vlan) => vlanTapName(definition.id, vlan))]
    const links = machineTraffic(taps)
    if (userMode && !spec.guestAgent) unmeasured.push('network: the user-mode card has no host-side link to count; turn on the guest agent to count it from inside the guest')
    else if (guestCounted === 'no answer') unmeasured.push('network: the user-mode card is counted by the guest agent, which did not answer (install and start qemu-guest-agent in the guest)')
    else if (userMode && !guestCounted) unmeasured.push('network: the guest agent counts the user-mode card once it has an address in the guest')
    const inGuest = guestCounted === 'no answer' ? null : guestCounted
    const traffic = links || inGuest ? { rxBytes: (links?.rxBytes ?? 0) + (inGuest?.rxBytes ?? 0), txBytes: (links?.txBytes ?? 0) + (inGuest?.txBytes ?? 0) } : null
    return {
      ...process,
      memoryLimitBytes: spec.memoryMiB * 1024 * 1024,
      readBytes: stats ? stats.reduce((sum, s) => sum + s.stats.rd_bytes, 0) : null,
      writeBytes: stats ? stats.reduce((sum, s) => sum + s.stats.wr_bytes, 0) : null,
      rxBytes: traffic?.rxBytes ?? null,
      txBytes: traffic?.txBytes ?? null,
      unmeasured,
    }
  }

  private requireQmp(definition: QemuDefinition): QmpClient {
    const run = this.runs.get(definition.id)
    if (!run?.qmp || run.qmp.isClosed) throw new BerthError('conflict', `${definition.spec.name} is not running`)
    return run.qmp
  }

  async stop(definition: QemuDefinition, options: { force: boolean; timeoutSec: number }): Promise<void> {
    const id = definition.id
    const qmp = this.requireQmp(definition)
    const quitsAt = options.force ? null : new Date(Date.now() + options.timeoutSec * 1000).toISOString()
    // The guest powering off after Berth's power button is a Stop, not the end of an installation.
    const run = this.update(id, { state: 'stopping', installing: false, stopping: { how: options.force ? 'quitting now' : 'ACPI power button sent', quitsAt } })
    const closed = run.closed
    const within = (ms: number) => Promise.race([closed.then(() => true), sleep(ms).then(() => false)])
    if (!options.force) {
      await qmp.execute('system_powerdown').catch(() => undefined)
      if (await within(options.timeoutSec * 1000)) return
    }
    this.update(id, { stopRequested: true, stopping: { how: 'quitting now', quitsAt: null } })
    await qmp.execute('quit').catch(() => undefined) // the connection may close before the reply
    if (await within(5000)) return
    const pid = await this.readPid(id)
    if (pid) process.kill(pid, 'SIGKILL')
    await within(5000)
  }

  async pause(definition: QemuDefinition): Promise<void> {
    await this.requireQmp(definition).execute('stop')
    this.update(definition.id, { state: 'paused' })
  }

  async resume(definition: QemuDefinition): Promise<void> {
    await this.requireQmp(definition).execute('cont')
    this.update(definition.id, { state: 'running' })
  }

  async attachDrive(definition: QemuDefinition, drive: Drive, options: { persistent: boolean }): Promise<void> {
    const qmp = this.requireQmp(definition)
    const { throttleGroup, blockdev, device } = driveOptions(drive)
    if (definition.spec.chipset === 'q35' && drive.bus === 'virtio') device.bus = this.freeRootPort(definition)
    // Undone in reverse when a later step fails: nothing half-added stays in QEMU.
    const added: (() => Promise<unknown>)[] = []
    const undo = async () => {
      for (const step of added.reverse()) await step().catch(() => undefined)
    }
    try {
      if (throttleGroup) {
        await qmp.execute('object-add', throttleGroup)
        added.push(() => qmp.execute('object-del', { id: throttleGroupId(drive.id) }))
      }
      await qmp.execute('blockdev-add', blockdev)
      added.push(() => qmp.execute('blockdev-del', { 'node-name': drive.id }))
      await qmp.execute('device_add', device)
    } catch (error) {
      await undo()
      throw explainQmpError(error, drive.file)
    }
    const port = typeof device.bus === 'string' && device.bus.startsWith('rp') ? device.bus : undefined
    this.setDrive(definition.id, drive.id, { drive, persistent: options.persistent, state: 'attached', error: null, port })
  }

  async detachDrive(definition: QemuDefinition, driveId: string): Promise<void> {
    const qmp = this.requireQmp(definition)
    const live = this.liveDrives(definition.id).get(driveId)
    if (!live) throw new BerthError('not_found', `No drive ${driveId} is attached to ${definition.spec.name}`)
    this.setDrive(definition.id, driveId, { ...live, state: 'detaching', error: null })
    const device = deviceId(driveId)
    // The guest must let go of a PCI disk first: QEMU says so with DEVICE_DELETED for this device.
    const deleted = qmp.waitFor('DEVICE_DELETED', (data) => data.device === device, 20_000)
    try {
      await qmp.execute('device_del', { id: device })
      if (!(await deleted)) throw new BerthError('failed', 'The guest did not release the disk within 20 s (is it mounted?)')
      await qmp.execute('blockdev-del', { 'node-name': driveId })
      if (live.drive.iopsLimit !== null || live.drive.mbpsLimit !== null) await qmp.execute('object-del', { id: throttleGroupId(driveId) })
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      this.setDrive(definition.id, driveId, { ...live, state: 'failed', error: message })
      throw error instanceof BerthError ? error : new BerthError('failed', message)
    }
    this.setDrive(definition.id, driveId, null)
  }

  async changeMedium(definition: QemuDefinition, file: string | null): Promise<void> {
    const qmp = this.requireQmp(definition)
    try {
      if (file) await qmp.execute('blockdev-change-medium', { id: CDROM_DEVICE, filename: file, format: 'raw', 'read-only-mode': 'read-only' })
      else await qmp.execute('eject', { id: CDROM_DEVICE, force: true })
    } catch (error) {
      throw explainQmpError(error, file ?? 'the disc')
    }
    this.update(definition.id, { cdrom: file })
  }

  /** A q35 VM takes PCIe hot-plugs only in the root ports it got at launch: the first free one. */
  private freeRootPort(definition: QemuDefinition): string {
    const used = new Set([...this.liveDrives(definition.id).values()].map((d) => d.port))
    for (let n = 1; n <= HOTPLUG_ROOT_PORTS; n++) if (!used.has(rootPort(n))) return rootPort(n)
    throw new BerthError('conflict', `${definition.spec.name} has no free PCIe slot for another virtio disk: use SCSI or USB`)
  }

  private setDrive(id: string, driveId: string, live: LiveDrive | null): void {
    const drives = new Map(this.liveDrives(id))
    if (live) drives.set(driveId, live)
    else drives.delete(driveId)
    this.update(id, { drives })
  }

  /** After a re-attach: the drives QEMU really has, matched with the definition's. */
  private async attachedDrives(qmp: QmpClient, definition: QemuDefinition): Promise<Map<string, LiveDrive>> {
    const nodes = await qmp.execute<{ 'node-name': string; file: string; drv: string; ro: boolean }[]>('query-named-block-nodes')
    const inSpec = new Map(definition.spec.drives.map((d) => [d.id, d]))
    const drives = new Map<string, LiveDrive>()
    for (const node of nodes) {
      if (!/^d[a-z0-9]{4,15}$/.test(node['node-name'])) continue
      const known = inSpec.get(node['node-name'])
      const drive = known ?? driveSchema.parse({ id: node['node-name'], file: node.file, format: node.drv, bus: 'virtio', readOnly: node.ro })
      drives.set(drive.id, { drive, persistent: Boolean(known), state: 'attached', error: null })
    }
    return drives
  }

  private async insertedDisc(qmp: QmpClient): Promise<string | null> {
    const blocks = await qmp.execute<{ qdev?: string; inserted?: { file: string } }[]>('query-block')
    return blocks.find((b) => b.qdev === CDROM_DEVICE)?.inserted?.file ?? null
  }

  displaySocket(definition: QemuDefinition): string {
    this.requireQmp(definition)
    return join(this.runtimeDir(definition.id), definition.spec.display?.protocol === 'spice' ? runtimeFiles.spice : runtimeFiles.vnc)
  }

  async screenshot(definition: QemuDefinition): Promise<Uint8Array> {
    const qmp = this.requireQmp(definition)
    const file = join(this.runtimeDir(definition.id), 'screen.png')
    await qmp.execute('screendump', { filename: file, format: 'png' })
    try {
      return await readFile(file)
    } finally {
      await rm(file, { force: true })
    }
  }

  /** The image of the root disk or of a drive, with its recorded format, and the QEMU names it runs under. */
  private diskOf(definition: QemuDefinition, disk: 'root' | string): { image: ImageLink & { readOnly: boolean }; node: string; serial: string | null } {
    const spec = definition.spec
    if (disk === 'root') {
      const path = this.diskPath(definition)
      if (!path || !spec.disk) throw new BerthError('not_found', `${spec.name} has no root disk`)
      if (!spec.disk.format) throw new BerthError('conflict', unrecordedFormat(path, spec.name))
      return { image: { file: path, format: spec.disk.format, readOnly: false }, node: diskNode(0), serial: spec.disk.serial }
    }
    const drive = spec.drives.find((d) => d.id === disk) ?? this.liveDrives(definition.id).get(disk)?.drive
    if (!drive) throw new BerthError('not_found', `No drive ${disk} on ${spec.name}`)
    return { image: { file: drive.file, format: drive.format, readOnly: drive.readOnly }, node: drive.id, serial: drive.serial }
  }

  async diskSize(definition: QemuDefinition, disk: 'root' | string): Promise<{ virtualSize: number; fileSize: number; format: ImageLink['format']; growable: string | null }> {
    const { image } = this.diskOf(definition, disk)
    const info = await qemuImgInfo(this.qemuImg, image.file, image.format)
    return { virtualSize: info['virtual-size'] ?? 0, fileSize: (await stat(image.file)).size, format: image.format, growable: growableProblem(image) }
  }

  async checkGrowth(definition: QemuDefinition, disk: 'root' | string, sizeMiB: number): Promise<void> {
    await checkGrowth(this.qemuImg, this.diskOf(definition, disk).image, sizeMiB)
  }

  async growDisk(definition: QemuDefinition, disk: 'root' | string, sizeMiB: number, steps: GrowSteps): Promise<void> {
    const { image, node, serial } = this.diskOf(definition, disk)
    const before = await checkGrowth(this.qemuImg, image, sizeMiB)
    const bytes = sizeMiB * 1024 * 1024
    const qmp = this.liveQmp(definition.id)
    const grow = steps.add(`Grow the image from ${sizeText(before)} to ${sizeText(bytes)}${qmp ? ' (block_resize, while it runs)' : ''}`)
    await steps.run(grow, () => (qmp ? qmp.execute('block_resize', { 'node-name': node, size: bytes }) : growImage(this.qemuImg, image, bytes)), () => image.file)
    if (!qmp) return
    if (!definition.spec.guestAgent) {
      steps.set(steps.add('Grow the partition and filesystem in the guest'), 'skipped', 'The VM has no guest agent channel: grow them in the guest')
      return
    }
    const pci = serial ? null : await this.pciAddress(qmp, deviceId(node))
    await growInGuest(join(this.runtimeDir(definition.id), runtimeFiles.agent), { serial, pci }, steps)
  }

  /** The QEMU of a machine that runs (or is paused), to work on it live; null: it is stopped. */
  private liveQmp(id: string): QmpClient | null {
    const qmp = this.runs.get(id)?.qmp
    return qmp && !qmp.isClosed ? qmp : null
  }

  /** The images a snapshot lives in (root disk, writable drives, blank disks, UEFI variables), and why it cannot be taken. */
  private snapshotImages(definition: QemuDefinition): { images: ImageLink[]; problem: string | null } {
    const { spec, id } = definition
    const images: ImageLink[] = []
    const root = this.diskPath(definition)
    if (root && spec.disk) {
      if (!spec.disk.format) return { images, problem: unrecordedFormat(root, spec.name) }
      images.push({ file: root, format: spec.disk.format })
    }
    for (const drive of spec.drives) if (!drive.readOnly) images.push({ file: drive.file, format: drive.format })
    for (const file of this.emptyDisks(id, spec)) if (existsSync(file)) images.push({ file, format: 'qcow2' })
    const disks = images.length
    if (spec.firmware.kind === 'efi' && existsSync(this.varsPath(id))) images.push({ file: this.varsPath(id), format: 'qcow2' })
    const liveOnly = [...this.liveDrives(id).values()].find((d) => !d.persistent && !d.drive.readOnly)
    const raw = images.find((image) => image.format !== 'qcow2')
    const problem = liveOnly
      ? `${liveOnly.drive.file} is attached only while ${spec.name} runs: detach it, or attach it as part of the machine, before taking a snapshot`
      : raw
        ? `${raw.file} is a ${raw.format} image: snapshots live inside qcow2 images. Convert it (qemu-img convert -O qcow2) and use the copy, or attach it read-only`
        : disks === 0
          ? `${spec.name} has no qcow2 disk to keep snapshots in: give it a disk first`
          : null
    return { images, problem }
  }

  /** The nodes of the running VM that a snapshot covers: every writable disk it has open. */
  private async writableNodes(qmp: QmpClient): Promise<string[]> {
    const blocks = await qmp.execute<{ inserted?: { 'node-name': string; ro: boolean } }[]>('query-block')
    return blocks.flatMap((b) => (b.inserted && !b.inserted.ro ? [b.inserted['node-name']] : []))
  }

  async snapshots(definition: QemuDefinition): Promise<SnapshotList> {
    return snapshotList(await readSnapshots(this.filesDir(definition.id)), this.snapshotImages(definition).problem)
  }

  async takeSnapshot(definition: QemuDefinition, name: string, description: string): Promise<Snapshot> {
    const { id, spec } = definition
    const dir = this.filesDir(id)
    const record = await readSnapshots(dir)
    const taken = nameTaken(record, name)
    if (taken) throw taken
    const qmp = this.liveQmp(id)
    if (!qmp) await this.uefi(definition, true)
    const { images, problem } = this.snapshotImages(definition)
    if (problem) throw new BerthError('conflict', problem)
    const files = images.map((image) => image.file)
    const before = await allocatedBytes(files)
    let vmstate: string | null = null
    let tpm = false
    if (qmp) {
      const devices = await this.writableNodes(qmp)
      vmstate = spec.disk ? diskNode(0) : (spec.drives.find((d) => !d.readOnly)?.id ?? devices[0]!)
      try {
        await qmp.runJob('snapshot-save', { tag: name, vmstate, devices }, 600_000)
      } catch (error) {
        await qmp.runJob('snapshot-delete', { tag: name, devices }, 60_000).catch(() => undefined)
        const room = await roomProblem(files, spec.memoryMiB * 1024 * 1024)
        throw new BerthError('failed', `The snapshot could not be taken: ${(error as Error).message}.${room ? ` ${room}.` : ''} ${spec.name} runs on; nothing of the snapshot was kept.`)
      }
    } else {
      const done: ImageLink[] = []
      try {
        for (const image of images) {
          await imageSnapshot(this.qemuImg, image, 'create', name)
          done.push(image)
        }
        if (spec.tpm && existsSync(this.tpmState(id))) {
          await keepTpmState(dir, this.tpmState(id), name)
          tpm = true
        }
      } catch (error) {
        for (const image of done) await imageSnapshot(this.qemuImg, image, 'delete', name).catch(() => undefined)
        await dropTpmState(dir, name)
        throw new BerthError('failed', `The snapshot could not be taken: ${(error as Error).message}. Nothing of it was kept.`)
      }
    }
    const snapshot: RecordedSnapshot = {
      name,
      description,
      createdAt: new Date().toISOString(),
      memory: qmp !== null,
      sizeBytes: Math.max(0, (await allocatedBytes(files)) - before),
      parent: record.current,
      spec,
      images,
      vmstate,
      tpm,
    }
    await writeSnapshots(dir, { current: name, snapshots: [...record.snapshots, snapshot] })
    return publicSnapshot(snapshot)
  }

  /**
   * Back to a snapshot, its settings too (restore writes them). A memory snapshot resumes where it was
   * taken: loaded live when the settings are the same, else into the machine started anew from it.
   */
  async revertSnapshot(definition: QemuDefinition, name: string, restore: (spec: QemuSpec) => Promise<QemuDefinition>): Promise<void> {
    const { id, spec } = definition
    const dir = this.filesDir(id)
    const record = await readSnapshots(dir)
    const snapshot = findSnapshot(record, name, spec.name)
    const qmp = this.liveQmp(id)
    const load = async (qmp: QmpClient) =>
      qmp.runJob('snapshot-load', { tag: snapshot.name, vmstate: snapshot.vmstate, devices: await this.writableNodes(qmp) }, 600_000)
    if (snapshot.memory && qmp) {
      if (!isDeepStrictEqual({ ...snapshot.spec, name: spec.name }, spec))
        throw new BerthError('conflict', `${spec.name}'s settings changed since “${snapshot.name}” was taken: stop ${spec.name}, then revert (it starts again from the snapshot)`)
      await load(qmp)
    } else if (snapshot.memory) {
      await this.start(await restore(snapshot.spec), load)
    } else {
      if (qmp) throw new BerthError('conflict', `“${snapshot.name}” was taken while ${spec.name} was stopped, so it holds no memory: stop ${spec.name}, then revert`)
      for (const image of snapshot.images) await imageSnapshot(this.qemuImg, image, 'apply', snapshot.name)
      if (snapshot.tpm) await restoreTpmState(dir, this.tpmState(id), snapshot.name)
      await restore(snapshot.spec)
    }
    if (record.current !== snapshot.name) await writeSnapshots(dir, { ...record, current: snapshot.name })
  }

  async deleteSnapshot(definition: QemuDefinition, name: string): Promise<SnapshotList> {
    const { id, spec } = definition
    const dir = this.filesDir(id)
    const record = await readSnapshots(dir)
    const snapshot = findSnapshot(record, name, spec.name)
    const qmp = this.liveQmp(id)
    if (qmp) await qmp.runJob('snapshot-delete', { tag: snapshot.name, devices: await this.writableNodes(qmp) }, 600_000)
    else
      for (const image of snapshot.images.filter((i) => existsSync(i.file)))
        await imageSnapshot(this.qemuImg, image, 'delete', snapshot.name).catch((error: Error) => {
          if (!/not found/i.test(`${error.message} ${JSON.stringify((error as BerthError).details ?? '')}`)) throw error
        })
    await dropTpmState(dir, snapshot.name)
    const left = withoutSnapshot(record, snapshot)
    await writeSnapshots(dir, left)
    return snapshotList(left, this.snapshotImages(definition).problem)
  }

  /** Where a device sits on the guest's PCI buses, as the guest numbered them (QEMU reads the bridges' registers). */
  private async pciAddress(qmp: QmpClient, device: string): Promise<{ bus: number; slot: number; function: number } | null> {
    interface PciDevice { bus: number; slot: number; function: number; qdev_id: string; pci_bridge?: { devices?: PciDevice[] } }
    const find = (devices: PciDevice[]): PciDevice | null => {
      for (const d of devices) {
        if (d.qdev_id === device) return d
        const below = d.pci_bridge?.devices ? find(d.pci_bridge.devices) : null
        if (below) return below
      }
      return null
    }
    const buses = await qmp.execute<{ devices: PciDevice[] }[]>('query-pci')
    const found = find(buses.flatMap((b) => b.devices))
    return found ? { bus: found.bus, slot: found.slot, function: found.function } : null
  }

  async guestInfo(definition: QemuDefinition): Promise<GuestInfo> {
    this.requireQmp(definition)
    return queryGuestAgent(join(this.runtimeDir(definition.id), runtimeFiles.agent))
  }

  async openConsole(definition: QemuDefinition, stream: ConsoleStream): Promise<void> {
    await this.console(definition.id).open(stream)
  }

  async forget(definition: QemuDefinition, options: { deleteImages: boolean }): Promise<void> {
    const id = definition.id
    this.consoles.get(id)?.close()
    this.consoles.delete(id)
    this.runs.delete(id)
    await rm(this.runtimeDir(id), { recursive: true, force: true })
    await rm(this.filesDir(id), { recursive: true, force: true })
    if (options.deleteImages) for (const image of this.madeImages(definition)) await rm(image, { force: true })
  }

  /** Every image the machine writes to: its root disk and its writable drives. */
  writableImages(definition: QemuDefinition): string[] {
    return [this.diskPath(definition), ...definition.spec.drives.filter((d) => !d.readOnly).map((d) => d.file)].filter((file): file is string => file !== null)
  }

  /** The images Berth made for the machine in its own folder (its root disk, its clone's drives); never a file the person pointed at. */
  madeImages(definition: QemuDefinition): string[] {
    const { id, spec } = definition
    const own = (file: string) => dirname(file) === this.options.paths.images && (file === this.defaultImage(id) || basename(file).startsWith(`${id}-`))
    return [this.diskPath(definition), ...spec.drives.map((d) => d.file)].filter((file): file is string => file !== null && own(file))
  }

  /**
   * The files of a clone of a stopped VM, for the machine targetId: its disks copied or linked, read-only
   * ones shared, blank disks copied, UEFI variables and TPM state copied or left to be made fresh. The
   * clone's spec comes back; whatever was made is removed again if anything fails.
   */
  async cloneFiles(source: QemuDefinition, target: { id: string }, options: CloneOptions): Promise<QemuSpec> {
    const targetId = target.id
    const files = this.filesDir(targetId)
    const from = this.filesDir(source.id)
    // From a snapshot: its settings, and each image as the snapshot kept it (those it lives in).
    const snapshot = options.snapshot === null ? null : findSnapshot(await readSnapshots(from), options.snapshot, source.spec.name)
    if (snapshot && options.linked) throw new BerthError('invalid_input', 'A clone of a snapshot is a full copy: linked clones build on the disks as they are now')
    const spec = snapshot ? snapshot.spec : source.spec
    const kept = (file: string) => (snapshot?.images.some((image) => image.file === file) ? snapshot.name : null)
    const made: string[] = []
    const make = async (image: ImageLink, backing: ImageLink[], target: string) => {
      made.push(target)
      await (options.linked ? linkImage(this.qemuImg, image, target) : copyImage(this.qemuImg, image, backing, target, kept(image.file)))
    }
    try {
      await mkdir(files, { recursive: true, mode: 0o700 })
      await mkdir(this.options.paths.images, { recursive: true, mode: 0o700 })
      let disk = spec.disk
      const root = this.diskPath({ ...source, spec })
      // A root disk not made yet (the original never started) is made for the clone at its first start.
      if (disk && root && existsSync(root)) {
        if (!disk.format) throw new BerthError('conflict', unrecordedFormat(root, spec.name))
        await make({ file: root, format: disk.format }, disk.backing ?? [], this.defaultImage(targetId))
        if (options.newIdentity) await newIdentity(this.defaultImage(targetId), join(files, 'identity'), (await this.accelerator()).accelerator === 'kvm')
        disk = { ...disk, image: undefined }
      }
      const drives = []
      for (const drive of spec.drives) {
        if (drive.readOnly) {
          drives.push(drive)
          continue
        }
        const target = join(this.options.paths.images, `${targetId}-${drive.id}.qcow2`)
        await make({ file: drive.file, format: drive.format }, drive.backing, target)
        drives.push({ ...drive, file: target })
      }
      const copy = (file: string, target: string) => copyImage(this.qemuImg, { file, format: 'qcow2' }, [], target, kept(file))
      const blanks = this.emptyDisks(targetId, spec)
      for (const [i, blank] of this.emptyDisks(source.id, spec).entries()) if (existsSync(blank)) await copy(blank, blanks[i]!)
      if (options.firmwareState === 'copy') {
        const vars = this.varsPath(source.id)
        if (spec.firmware.kind === 'efi' && existsSync(vars)) await copy(vars, this.varsPath(targetId))
        const tpm = snapshot?.tpm ? tpmCopy(from, snapshot.name) : this.tpmState(source.id)
        if (spec.tpm && existsSync(tpm)) await cp(tpm, this.tpmState(targetId), { recursive: true })
      }
      return { ...spec, disk, drives }
    } catch (error) {
      for (const file of made) await rm(file, { force: true })
      await rm(files, { recursive: true, force: true })
      throw error
    }
  }

  private async readPid(id: string): Promise<number | null> {
    const text = await readFile(join(this.runtimeDir(id), runtimeFiles.pid), 'utf8').catch(() => '')
    const pid = Number.parseInt(text.trim(), 10)
    return Number.isSafeInteger(pid) && pid > 1 ? pid : null
  }

  dispose(): void {
    this.disposed = true
    for (const run of this.runs.values()) run.qmp?.close()
    for (const serial of this.consoles.values()) serial.close()
    this.runs.clear()
    this.consoles.clear()
  }
}

/** Why a host port cannot be forwarded (something already listens there), or null. */
async function portTaken(proto: 'tcp' | 'udp', address: string, port: number): Promise<string | null> {
  const where = `${address || 'every address'} port ${port}/${proto}`
  try {
    if (proto === 'tcp') {
      const server = createServer()
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, address || '0.0.0.0', resolve))
      await new Promise((resolve) => server.close(resolve))
    } else {
      const socket = createSocket('udp4')
      await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(port, address || '0.0.0.0', resolve))
      socket.close()
    }
    return null
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') return `Something on this host already uses ${where}`
    if (code === 'EACCES') return `This user may not listen on ${where} (ports below 1024 need privileges)`
    if (code === 'EADDRNOTAVAIL') return `${address} is not an address of this host`
    return `Cannot listen on ${where} (${code})`
  }
}

const launched = (drive: Drive): LiveDrive => ({ drive, persistent: true, state: 'attached', error: null })

/** QEMU's words for common refusals, turned into what the person can do about them. */
function explainQmpError(error: unknown, file: string): BerthError {
  if (!(error instanceof QmpError)) return error instanceof BerthError ? error : new BerthError('failed', String(error))
  if (/lock/i.test(error.message))
    return new BerthError('conflict', `${file} is in use by another program (another virtual machine?): stop it first`)
  if (/Duplicate (device|node)|in use/i.test(error.message))
    return new BerthError('conflict', `${file} is already attached to this machine`)
  return new BerthError('failed', `QEMU refused: ${error.message}`)
}

function qemuStatusToState(status: string): MachineState {
  if (status === 'running') return 'running'
  if (status === 'paused' || status === 'suspended' || status === 'prelaunch' || status === 'debug') return 'paused'
  if (status === 'shutdown') return 'stopping'
  return 'unknown'
}

function isQemuAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The interface of this host (other than the vlan's own bridge) with an address in vlan N's 192.168.N.0/24. */
function subnetInUse(vlan: number): string | null {
  const prefix = `192.168.${vlan}.`
  for (const [name, addresses] of Object.entries(networkInterfaces()))
    if (name !== vlanBridgeName(vlan) && addresses?.some((a) => a.family === 'IPv4' && a.address.startsWith(prefix))) return name
  return null
}

const hasAddress = (link: string, address: string) => networkInterfaces()[link]?.some((a) => a.address === address) ?? false

const addressesOnVlans = (spec: QemuSpec) => (spec.vlanNumber === null ? [] : spec.vlans.map((vlan) => vlanAddress(vlan, spec.vlanNumber!)))
