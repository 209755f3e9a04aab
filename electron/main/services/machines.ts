// Machine definitions (store) + their runtime (backend): the methods the contract names.
import { totalmem } from 'node:os'
import { BerthError, fieldErrors, type FieldErrors } from '../../../shared/errors'
import { join, resolve } from 'node:path'
import { readdir, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import type { BrokenDefinition, DefinitionOf, Machine, MachineDefinition, MachineSpec, QemuSpec } from '../../../shared/model/machine'
import type { NspawnSpec } from '../../../shared/model/container'
import type { XenSpec } from '../../../shared/model/xen'
import type { XenFeatures } from '../backends/xen/xen-backend'
import { driveSchema, hotplugBuses, type Drive, type DriveBus, type DriveView, type ImageInfo } from '../../../shared/model/drives'
import { ImageError, inspectImage } from '../backends/qemu/image'
import type { Backend, ConsoleStream, ContainerFeatures, MachineStatus, QemuFeatures } from '../backends/backend'
import { MachineStore } from '../store/machine-store'
import { Emitter, type Disposable } from '../../../shared/rpc/transport'

const ideRefusal = 'IDE disks cannot be added while the machine runs: choose virtio, SCSI or USB'
const newDriveId = () => `d${randomBytes(5).toString('hex')}`

export class MachineService {
  private definitions = new Map<string, MachineDefinition>()
  private broken: BrokenDefinition[] = []
  /** One operation at a time per machine: a second start waits, then finds it running. */
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly changes = new Emitter<string>()

  constructor(
    private readonly store: MachineStore,
    private readonly backends: {
      qemu: Backend<QemuSpec> & QemuFeatures
      nspawn: Backend<NspawnSpec> & ContainerFeatures
      xen: Backend<XenSpec> & XenFeatures
    },
    private readonly qemuImg: string,
    /** Where backing files may live without the person's confirmation. */
    private readonly allowedImageDirs: string[],
  ) {
    for (const backend of Object.values(backends)) backend.onDidChange((id) => this.changed(id))
  }

  /** Loads every definition and re-attaches to machines that kept running while Berth was away. */
  async init(): Promise<void> {
    const { definitions, broken } = await this.store.load()
    this.definitions = new Map(definitions.map((d) => [d.id, d]))
    this.broken = broken
    await Promise.all(definitions.map((d) => this.backend(d).reattach(d).catch(() => undefined)))
    // containers.nix's autoStart: started with Berth's service (failures show on the machine).
    for (const d of definitions)
      if (d.spec.kind === 'nspawn' && d.spec.autoStart && this.status(d.id).state === 'stopped')
        void this.start(d.id).catch(() => undefined)
  }

  onDidChange(listener: (id: string) => void): Disposable {
    return this.changes.on(listener)
  }

  private changed(id: string): void {
    this.changes.emit(id)
  }

  private backend(definition: MachineDefinition): Backend {
    return this.backends[definition.spec.kind] as Backend
  }

  /** Status of a machine by id, whatever its kind (a removed one is stopped). */
  status(id: string): MachineStatus {
    const definition = this.definitions.get(id)
    return definition
      ? this.backend(definition).status(id)
      : { state: 'stopped', accelerator: null, lastError: null, drives: new Map(), cdrom: undefined }
  }

  /** The definition of a virtual machine, for what only virtual machines have (drives, discs, screens). */
  private vm(id: string): DefinitionOf<QemuSpec> {
    const definition = this.get(id)
    if (definition.spec.kind !== 'qemu') {
      const what = definition.spec.kind === 'xen' ? 'a Xen domain: Berth manages its disks in its settings' : 'a container'
      throw new BerthError('conflict', `${definition.spec.name} is ${what}: it has no drives, discs or screen here`)
    }
    return definition as DefinitionOf<QemuSpec>
  }

  list(): { machines: Machine[]; broken: BrokenDefinition[] } {
    return { machines: [...this.definitions.values()].map((d) => this.view(d)), broken: this.broken }
  }

  definitionsList(): MachineDefinition[] {
    return [...this.definitions.values()]
  }

  get(id: string): MachineDefinition {
    const definition = this.definitions.get(id)
    if (!definition) throw new BerthError('not_found', `No machine with id ${id}`)
    return definition
  }

  view(definition: MachineDefinition): Machine {
    const { state, accelerator, lastError, drives: live, cdrom, stopping } = this.backend(definition).status(definition.id)
    const base = { id: definition.id, createdAt: definition.createdAt, state, accelerator, lastError, stopping: state === 'stopping' ? (stopping ?? null) : null }
    if (definition.spec.kind !== 'qemu') return { ...base, spec: definition.spec, drives: [], cdrom: null }
    const running = this.isRunning(definition.id)
    const drives: DriveView[] = definition.spec.drives.map((drive) => {
      const now = live.get(drive.id)
      return { ...drive, persistent: true, state: running && now ? now.state : 'defined', error: now?.error ?? null }
    })
    for (const { drive, persistent, state: driveState, error } of live.values())
      if (!persistent) drives.push({ ...drive, persistent, state: driveState, error })
    const disc = definition.spec.cdrom ? { file: cdrom !== undefined ? cdrom : definition.spec.cdrom.file } : null
    return { ...base, spec: definition.spec, drives, cdrom: disc }
  }

  private isRunning(id: string): boolean {
    const state = this.status(id).state
    return state === 'running' || state === 'paused'
  }

  /** Saves a changed spec; the definition in memory changes only once it is on disk. */
  private async update(definition: MachineDefinition, spec: MachineSpec): Promise<MachineDefinition> {
    const next = { ...definition, spec }
    await this.store.save(next)
    this.definitions.set(next.id, next)
    this.changed(next.id)
    return next
  }

  /** Every file a machine uses (root disk, drives, disc), for "already attached" and "in use" checks. */
  private filesOf(definition: MachineDefinition): string[] {
    const { spec } = definition
    if (spec.kind !== 'qemu') return []
    const live = [...this.status(definition.id).drives.values()].map((d) => d.drive.file)
    const disc = this.view(definition).cdrom?.file
    return [...(spec.disk?.image ? [spec.disk.image] : []), ...spec.drives.map((d) => d.file), ...live, ...(disc ? [disc] : [])]
  }

  async listImages(): Promise<{ folders: { dir: string; images: { path: string; name: string; size: number }[] }[] }> {
    const folders = []
    for (const dir of this.allowedImageDirs) {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
      const images = []
      for (const entry of entries) {
        if (!entry.isFile() || entry.name.startsWith('.')) continue
        const path = join(dir, entry.name)
        images.push({ path, name: entry.name, size: (await stat(path)).size })
      }
      folders.push({ dir, images: images.sort((a, b) => a.name.localeCompare(b.name)) })
    }
    return { folders }
  }

  /** What a file is; backing files outside the allowed folders, or disks of any machine (their guests write them), need confirmation. */
  async inspectImage(path: string): Promise<ImageInfo> {
    try {
      const image = await inspectImage(this.qemuImg, path, this.allowedImageDirs)
      const machinesDisks = [...this.definitions.values()].flatMap((d) => this.filesOf(d))
      const confirm = [...image.backingOutsideAllowed, ...image.backingChain.map((link) => link.file).filter((file) => machinesDisks.includes(file))]
      return { ...image, backingOutsideAllowed: [...new Set(confirm)] }
    } catch (error) {
      if (error instanceof ImageError) throw fieldErrors({ path: error.message }, error.message)
      throw error
    }
  }

  attach(id: string, request: { path: string; bus: DriveBus; persist: boolean; allowOutsideBacking: boolean }): Promise<Machine> {
    this.vm(id)
    return this.locked(id, async (d) => {
      const definition = d as DefinitionOf<QemuSpec>
      const path = resolve(request.path)
      const image = await this.inspectImage(path)
      if (image.backingOutsideAllowed.length > 0 && !request.allowOutsideBacking)
        throw new BerthError(
          'conflict',
          `${path} depends on backing files outside Berth's folders or of other machines (${image.backingOutsideAllowed.join(', ')}): confirm to attach it anyway`,
          { needsConfirmation: 'backing', files: image.backingOutsideAllowed },
        )
      if (this.filesOf(definition).includes(path))
        throw new BerthError('conflict', `${path} is already attached to ${definition.spec.name}`)
      const user = [...this.definitions.values()].find((d) => d.id !== id && this.isRunning(d.id) && this.filesOf(d).includes(path))
      if (user) throw new BerthError('conflict', `${path} is in use by ${user.spec.name}, which is running: stop it or detach the image there first`)

      const running = this.isRunning(id)
      const keep = request.persist || !running
      if (image.kind === 'iso') {
        if (!definition.spec.cdrom) throw new BerthError('conflict', `${definition.spec.name} has no CD drive to put ${path} in`)
        if (running) await this.backends.qemu.changeMedium(definition, path)
        if (keep) await this.update(definition, { ...definition.spec, cdrom: { file: path } })
        return this.view(this.get(id))
      }
      if (running && !(hotplugBuses as readonly string[]).includes(request.bus))
        throw fieldErrors({ bus: ideRefusal }, ideRefusal)
      const drive: Drive = driveSchema.parse({ id: newDriveId(), file: path, format: image.format, backing: image.backingChain, bus: request.bus, readOnly: image.readOnly })
      if (running) await this.backends.qemu.attachDrive(definition, drive, { persistent: keep })
      if (keep) await this.update(definition, { ...definition.spec, drives: [...definition.spec.drives, drive] })
      return this.view(this.get(id))
    })
  }

  detach(id: string, driveId: string): Promise<Machine> {
    this.vm(id)
    return this.locked(id, async (d) => {
      const definition = d as DefinitionOf<QemuSpec>
      const inSpec = definition.spec.drives.some((d) => d.id === driveId)
      const live = this.status(id).drives.has(driveId)
      if (!inSpec && !live) throw new BerthError('not_found', `No drive ${driveId} on ${definition.spec.name}`)
      if (live) await this.backends.qemu.detachDrive(definition, driveId)
      if (inSpec) await this.update(definition, { ...definition.spec, drives: definition.spec.drives.filter((d) => d.id !== driveId) })
      return this.view(this.get(id))
    })
  }

  eject(id: string): Promise<Machine> {
    this.vm(id)
    return this.locked(id, async (d) => {
      const definition = d as DefinitionOf<QemuSpec>
      if (!definition.spec.cdrom) throw new BerthError('conflict', `${definition.spec.name} has no CD drive`)
      if (this.isRunning(id)) await this.backends.qemu.changeMedium(definition, null)
      if (definition.spec.cdrom.file) await this.update(definition, { ...definition.spec, cdrom: { file: null } })
      return this.view(this.get(id))
    })
  }

  /** Everything create checks, without writing anything. */
  async check(spec: MachineSpec, exceptId?: string): Promise<void> {
    const fields: FieldErrors = {}
    const clash = [...this.definitions.values()].find(
      (d) => d.id !== exceptId && d.spec.name.toLowerCase() === spec.name.toLowerCase(),
    )
    if (clash) fields.name = `A machine named ${clash.spec.name} already exists: choose another name`
    const hostMiB = Math.floor(totalmem() / 1024 / 1024)
    if (spec.kind === 'qemu' && spec.memoryMiB > hostMiB) fields.memoryMiB = `This host has ${hostMiB} MiB of memory: give the machine less`
    Object.assign(fields, await (this.backends[spec.kind] as Backend).validate(spec))
    if (Object.keys(fields).length > 0) throw fieldErrors(fields)
  }

  async preview(spec: MachineSpec, editing?: string): Promise<{ argv: string[]; config?: string; needsPassword?: string[] }> {
    await this.check(spec, editing)
    const definition = editing ? { ...this.get(editing), spec } : MachineStore.define(spec)
    const argv = await this.backend(definition).commandLine(definition)
    if (definition.spec.kind === 'nspawn') return { argv, needsPassword: this.backends.nspawn.needsPassword(definition.spec) }
    if (definition.spec.kind !== 'xen') return { argv }
    return { argv, config: this.backends.xen.configText(definition as DefinitionOf<XenSpec>) }
  }

  /** The machines Berth has on a Xen host, by name. */
  machinesOnHost(hostId: string): string[] {
    return [...this.definitions.values()].filter((d) => d.spec.kind === 'xen' && d.spec.host === hostId).map((d) => d.spec.name)
  }

  async create(spec: MachineSpec): Promise<Machine> {
    await this.check(spec)
    const definition = MachineStore.define(await this.recordFormats(spec, null))
    await this.store.save(definition)
    this.definitions.set(definition.id, definition)
    this.changed(definition.id)
    return this.view(definition)
  }

  /** New settings for a stopped machine; its drives and disc stay as they are unless the spec changes them. */
  updateSpec(id: string, spec: MachineSpec): Promise<Machine> {
    return this.locked(id, async (definition) => {
      const state = this.status(id).state
      if (state !== 'stopped' && state !== 'crashed')
        throw new BerthError('conflict', `Stop ${definition.spec.name} before changing its settings`)
      await this.check(spec, id)
      return this.view(await this.update(definition, await this.recordFormats(spec, definition.spec)))
    })
  }

  /** A VM's image formats and backing chains, recorded by Berth from the files (a definition older than that gets them now). */
  private async recordFormats(spec: MachineSpec, previous: MachineSpec | null): Promise<MachineSpec> {
    if (spec.kind !== 'qemu') return spec
    try {
      return await this.backends.qemu.recordImages(spec, previous?.kind === 'qemu' ? previous : null)
    } catch (error) {
      if (error instanceof ImageError) throw fieldErrors({ 'disk.image': error.message }, error.message)
      throw error
    }
  }

  start(id: string): Promise<Machine> {
    return this.locked(id, async (definition) => {
      const d = definition.spec.kind === 'qemu' && definition.spec.disk && !definition.spec.disk.backing
        ? await this.update(definition, await this.recordFormats(definition.spec, null))
        : definition
      await this.backend(d).start(d)
      return this.view(d)
    })
  }

  stop(id: string, options: { force: boolean; timeoutSec: number }): Promise<Machine> {
    // Not locked: Force stop must be able to cut short a graceful stop that is still waiting.
    const definition = this.get(id)
    return this.backend(definition).stop(definition, options).then(() => this.view(definition))
  }

  pause(id: string): Promise<Machine> {
    return this.locked(id, async (d) => (await this.backend(d).pause(d), this.view(d)))
  }

  reboot(id: string): Promise<Machine> {
    return this.locked(id, async (d) => {
      if (d.spec.kind !== 'xen') throw new BerthError('conflict', `${d.spec.name} cannot be rebooted from Berth: stop and start it`)
      await this.backends.xen.reboot(d as DefinitionOf<XenSpec>)
      return this.view(d)
    })
  }

  resume(id: string): Promise<Machine> {
    return this.locked(id, async (d) => (await this.backend(d).resume(d), this.view(d)))
  }

  remove(id: string, options: { deleteImages: boolean }): Promise<{ removed: true }> {
    return this.locked(id, async (d) => {
      await this.backend(d).forget(d, options)
      await this.store.remove(id)
      this.definitions.delete(id)
      this.changed(id)
      return { removed: true as const }
    })
  }

  displaySocket(id: string): { socket: string; protocol: 'vnc' | 'spice' } {
    const definition = this.vm(id)
    if (!definition.spec.display) throw new BerthError('conflict', `${definition.spec.name} has no screen: it uses the serial console only`)
    return { socket: this.backends.qemu.displaySocket(definition), protocol: definition.spec.display.protocol }
  }

  guestInfo(id: string) {
    return this.backends.qemu.guestInfo(this.vm(id))
  }

  screenshot(id: string): Promise<Uint8Array> {
    return this.backends.qemu.screenshot(this.vm(id))
  }

  openShell(id: string, stream: ConsoleStream): Promise<void> {
    const definition = this.get(id)
    if (definition.spec.kind !== 'nspawn')
      throw new BerthError('conflict', `${definition.spec.name} is a virtual machine: use its console`)
    return this.backends.nspawn.openShell(definition as DefinitionOf<NspawnSpec>, stream)
  }

  openConsole(id: string, stream: ConsoleStream): Promise<void> {
    const definition = this.get(id)
    return this.backend(definition).openConsole(definition, stream)
  }

  /** Runs after every earlier operation on the machine, on the definition as that one left it: read
   *  inside the turn, so a queued change never writes back a stale copy or a removed machine. */
  private locked<T>(id: string, work: (definition: MachineDefinition) => Promise<T>): Promise<T> {
    this.get(id)
    const previous = this.locks.get(id) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(() => work(this.get(id)))
    this.locks.set(id, next)
    void next.catch(() => undefined).then(() => this.locks.get(id) === next && this.locks.delete(id))
    return next
  }
}
