// Machine definitions (store) + their runtime (backend): the methods the contract names.
import type { MetricsSource } from '../metrics/metrics-service'
import { BerthError, fieldErrors, type FieldErrors } from '../../../shared/errors'
import { zodFieldErrors } from '../../../shared/model/zod-fields'
import { join, resolve } from 'node:path'
import { readdir, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { machineActions, machineSpecSchema, type BrokenDefinition, type Capability, type DefinitionOf, type Machine, type MachineAction, type MachineDefinition, type MachineSpec, type QemuSpec } from '../../../shared/model/machine'
import type { NspawnSpec } from '../../../shared/model/container'
import type { XenSpec } from '../../../shared/model/xen'
import { driveSchema, hotplugBuses, type Drive, type DriveBus, type GrowStep, type ImageInfo } from '../../../shared/model/drives'
import { ImageError, inspectImage } from '../backends/qemu/image'
import { GrowSteps } from '../backends/qemu/grow'
import type { Snapshot, SnapshotList } from '../../../shared/model/snapshots'
import type { CloneOptions } from '../backends/qemu/clone'
import type { Backend, CloneFeatures, ConsoleStream, ContainerFeatures, MachineStatus, Preview, QemuFeatures, SnapshotFeatures } from '../backends/backend'
import { MachineStore } from '../store/machine-store'
import { Emitter, type Disposable } from '../../../shared/rpc/transport'

const ideRefusal = 'IDE, SATA and NVMe disks cannot be added while the machine runs: choose virtio, SCSI or USB, or stop the machine first'
const newDriveId = () => `d${randomBytes(5).toString('hex')}`

export class MachineService {
  private definitions = new Map<string, MachineDefinition>()
  private broken: BrokenDefinition[] = []
  /** One operation at a time per machine: a second start waits, then finds it running. */
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly changes = new Emitter<string>()
  /** What long job runs on a machine now (see job()). */
  private readonly jobs = new Map<string, string>()

  constructor(
    private readonly store: MachineStore,
    private readonly backends: {
      qemu: Backend<QemuSpec> & QemuFeatures & SnapshotFeatures<QemuSpec> & CloneFeatures<QemuSpec>
      nspawn: Backend<NspawnSpec> & ContainerFeatures & SnapshotFeatures<NspawnSpec> & CloneFeatures<NspawnSpec>
      xen: Backend<XenSpec> & CloneFeatures<XenSpec>
    },
    private readonly qemuImg: string,
    /** Where backing files may live without the person's confirmation. */
    private readonly allowedImageDirs: string[],
  ) {
    for (const backend of Object.values(backends)) backend.onDidChange((id) => this.changed(id))
    backends.qemu.onInstallEnded(({ id, restart }) => void this.endInstall(id, restart))
  }

  /**
   * The installer restarted the guest or powered it off: from now on the disk boots, with the disc
   * ejected when the person asked for it; a restart starts the machine again, as a reboot would.
   */
  private async endInstall(id: string, restart: boolean): Promise<void> {
    if (!this.find(id)) return
    // One turn of the machine's lock (taken at once, before any request can queue): nothing starts it
    // in between with the installation settings.
    await this.locked(id, async (definition) => {
      const spec = definition.spec
      if (spec.kind !== 'qemu' || spec.boot.type !== 'disk' || !spec.boot.install) return
      const cdrom = spec.boot.install.ejectAfterInstall && spec.cdrom ? { file: null } : spec.cdrom
      const installed = await this.update(definition, { ...spec, boot: { type: 'disk', install: null }, cdrom })
      // A failed start shows on the machine (its last error), as any start does.
      if (restart && this.status(id).state === 'stopped') await this.backend(installed).start(installed).catch(() => undefined)
    })
  }

  /** Loads every definition and re-attaches to machines that kept running while Berth was away. */
  async init(): Promise<void> {
    const { definitions, broken } = await this.store.load()
    this.definitions = new Map(definitions.map((d) => [d.id, d]))
    this.broken = broken
    await Promise.all(definitions.map((d) => this.backend(d).reattach(d).catch(() => undefined)))
    // containers.nix's autoStart: started with Berth's service (failures show on the machine).
    const starting = definitions
      .filter((d) => this.backend(d).startsWithBerth(d.spec) && this.status(d.id).state === 'stopped')
      .map((d) => this.start(d.id).then(() => ({ name: d.spec.name, error: null }), (error: Error) => ({ name: d.spec.name, error: error.message })))
    this.autoStarts = Promise.all(starting)
  }

  /** How the starts of the machines marked autoStart ended (those init found stopped). */
  autoStarts: Promise<{ name: string; error: string | null }[]> = Promise.resolve([])

  /** How long the boot-time start may take, in seconds; null: no machine is marked autoStart. */
  autoStartTimeoutSec(): number | null {
    const marked = [...this.definitions.values()].filter((d) => this.backend(d).startsWithBerth(d.spec))
    if (!marked.length) return null
    // Each start waits at most its own start timeout; a minute more for everything else.
    return marked.reduce((sum, d) => sum + ('timeoutStartSec' in d.spec ? d.spec.timeoutStartSec : 60), 60)
  }

  onDidChange(listener: (id: string) => void): Disposable {
    return this.changes.on(listener)
  }

  private changed(id: string): void {
    this.changes.emit(id)
  }

  private backend(definition: { spec: MachineSpec }): Backend {
    return this.backends[definition.spec.kind] as Backend
  }

  /** Status of a machine by id, whatever its kind (a removed one is stopped). */
  status(id: string): MachineStatus {
    const definition = this.definitions.get(id)
    return definition ? this.backend(definition).status(id) : { state: 'stopped', lastError: null }
  }

  /** The definition of a machine that has this capability (only virtual machines have drives, screens and a guest agent; only containers a shell). */
  private having(id: string, capability: Capability, refusal: string): MachineDefinition {
    const definition = this.get(id)
    if (!this.backend(definition).capabilities(definition.spec).includes(capability))
      throw new BerthError('conflict', `${definition.spec.name} ${refusal}`)
    return definition
  }

  /** A virtual machine's definition, for its drives and disc. */
  private vm(id: string): DefinitionOf<QemuSpec> {
    return this.having(id, 'drives', 'has no drives or discs Berth attaches: a container has none, a Xen domain has its disks in its settings') as DefinitionOf<QemuSpec>
  }

  /** Refuses an action the machine's state does not allow, saying why in the person's terms. */
  private allow(definition: MachineDefinition, action: MachineAction): void {
    const from = this.backend(definition).transitions[action]
    const { state } = this.status(definition.id)
    const name = definition.spec.name
    if (!from) throw new BerthError('conflict', `${name} cannot be asked to ${action} from Berth`)
    if (from.includes(state)) return
    if (state === 'unknown') throw new BerthError('conflict', `The state of ${name} is not known (is its host reachable?): try again once it is`)
    const refusals: Record<MachineAction, string> = {
      start: `${name} is already ${state}`,
      stop: state === 'starting' ? `${name} is still starting: stop it once it runs` : `${name} is not running`,
      pause: state === 'paused' ? `${name} is already paused` : `${name} is not running`,
      resume: `${name} is not paused`,
      reboot: `${name} is not running`,
      edit: `Stop ${name} before changing its settings`,
      remove: `Stop ${name} before deleting it`,
    }
    throw new BerthError('conflict', refusals[action])
  }

  list(): { machines: Machine[]; broken: BrokenDefinition[] } {
    return { machines: [...this.definitions.values()].map((d) => this.view(d)), broken: this.broken }
  }

  /** The machine's definition, or null when there is none (removed). */
  find(id: string): MachineDefinition | null {
    return this.definitions.get(id) ?? null
  }

  get(id: string): MachineDefinition {
    const definition = this.definitions.get(id)
    if (!definition) throw new BerthError('not_found', `No machine with id ${id}`)
    return definition
  }

  view(definition: MachineDefinition): Machine {
    const backend = this.backend(definition)
    const { state, lastError, stopping } = backend.status(definition.id)
    return {
      id: definition.id,
      createdAt: definition.createdAt,
      spec: definition.spec,
      state,
      lastError,
      stopping: state === 'stopping' ? (stopping ?? null) : null,
      capabilities: backend.capabilities(definition.spec),
      actions: machineActions.filter((action) => backend.transitions[action]?.includes(state)),
      runtime: backend.runtime(definition),
    }
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

  /** Every file a virtual machine uses (root disk, drives, disc), for "already attached" and "in use" checks. */
  private filesOf(definition: MachineDefinition): string[] {
    const runtime = this.backend(definition).runtime(definition)
    if (runtime.kind !== 'qemu') return []
    const spec = definition.spec as QemuSpec
    const live = [...this.backends.qemu.liveDrives(definition.id).values()].map((d) => d.drive.file)
    const disc = runtime.cdrom?.file
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

  async attach(id: string, request: { path: string; bus: DriveBus; persist: boolean; allowOutsideBacking: boolean }): Promise<Machine> {
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

  async detach(id: string, driveId: string): Promise<Machine> {
    this.vm(id)
    return this.locked(id, async (d) => {
      const definition = d as DefinitionOf<QemuSpec>
      const inSpec = definition.spec.drives.some((d) => d.id === driveId)
      const live = this.backends.qemu.liveDrives(id).has(driveId)
      if (!inSpec && !live) throw new BerthError('not_found', `No drive ${driveId} on ${definition.spec.name}`)
      if (live) await this.backends.qemu.detachDrive(definition, driveId)
      if (inSpec) await this.update(definition, { ...definition.spec, drives: definition.spec.drives.filter((d) => d.id !== driveId) })
      return this.view(this.get(id))
    })
  }

  async eject(id: string): Promise<Machine> {
    this.vm(id)
    return this.locked(id, async (d) => {
      const definition = d as DefinitionOf<QemuSpec>
      if (!definition.spec.cdrom) throw new BerthError('conflict', `${definition.spec.name} has no CD drive`)
      if (this.isRunning(id)) await this.backends.qemu.changeMedium(definition, null)
      if (definition.spec.cdrom.file) await this.update(definition, { ...definition.spec, cdrom: { file: null } })
      return this.view(this.get(id))
    })
  }

  diskSize(id: string, disk: 'root' | string) {
    return this.backends.qemu.diskSize(this.vm(id), disk)
  }

  /** What refuses a growth before it starts (shrinking, read-only, a format that cannot grow). */
  checkGrowth(id: string, disk: 'root' | string, sizeMiB: number): Promise<void> {
    return this.backends.qemu.checkGrowth(this.vm(id), disk, sizeMiB)
  }

  /** Grows a disk (after earlier changes to the machine); a grown root disk's new size is recorded. */
  grow(id: string, disk: 'root' | string, sizeMiB: number, onSteps: (steps: GrowStep[]) => void): Promise<void> {
    this.vm(id)
    return this.job<void, DefinitionOf<QemuSpec>>(id, 'growing a disk', async (definition) => {
      await this.backends.qemu.growDisk(definition, disk, sizeMiB, new GrowSteps(onSteps))
      if (disk === 'root' && definition.spec.disk) await this.update(definition, { ...definition.spec, disk: { ...definition.spec.disk, sizeMiB } })
    })
  }

  /** The backend's snapshots and clones, for a machine of a kind that has them. */
  private snapshotting(definition: MachineDefinition): SnapshotFeatures<MachineSpec> {
    if (!this.backend(definition).capabilities(definition.spec).includes('snapshots'))
      throw new BerthError('conflict', `${definition.spec.name} cannot have snapshots: a Xen domain's disks are on its host`)
    return this.backends[definition.spec.kind as 'qemu' | 'nspawn'] as unknown as SnapshotFeatures<MachineSpec>
  }

  private cloning(definition: MachineDefinition): CloneFeatures<MachineSpec> {
    if (!this.backend(definition).capabilities(definition.spec).includes('clone')) throw new BerthError('conflict', `${definition.spec.name} cannot be cloned`)
    return this.backends[definition.spec.kind] as unknown as CloneFeatures<MachineSpec>
  }

  snapshots(id: string): Promise<SnapshotList> {
    const definition = this.get(id)
    return this.snapshotting(definition).snapshots(definition)
  }

  takeSnapshot(id: string, name: string, description: string): Promise<Snapshot> {
    return this.job(id, `taking the snapshot “${name}”`, (d) => this.snapshotting(d).takeSnapshot(d, name, description))
  }

  /** The machine as the snapshot left it, its settings too (under the name it has now). */
  revertSnapshot(id: string, name: string): Promise<Machine> {
    return this.job(id, `reverting to “${name}”`, async (d) => {
      this.refuseIfBase(d, 'revert')
      await this.snapshotting(d).revertSnapshot(d, name, (spec) => this.update(d, { ...spec, name: d.spec.name }))
      return this.view(this.get(id))
    })
  }

  deleteSnapshot(id: string, name: string): Promise<SnapshotList> {
    return this.job(id, `deleting the snapshot “${name}”`, (d) => this.snapshotting(d).deleteSnapshot(d, name))
  }

  /**
   * A new machine made from a stopped one (or one of its snapshots): a VM's disks copied or linked, new
   * MAC addresses (they follow the machine's id), the next free number on its vlans, its firmware state
   * copied or fresh; a container's root copied, with a new machine-id and SSH host keys.
   */
  clone(id: string, name: string, options: CloneOptions): Promise<Machine> {
    return this.job(id, `cloning into ${name}`, async (source) => {
      const { state } = this.status(id)
      if (state !== 'stopped' && state !== 'crashed') throw new BerthError('conflict', `Stop ${source.spec.name} before cloning it: a running machine's disks change while they are copied`)
      const clones = this.cloning(source)
      const parsed = machineSpecSchema.safeParse({ ...source.spec, name, ...(source.spec.kind === 'qemu' ? { vlanNumber: this.nextVlanNumber(source.spec) } : {}) })
      if (!parsed.success) throw fieldErrors(zodFieldErrors(parsed.error))
      const draft = MachineStore.define(parsed.data)
      await this.check(draft.spec)
      const spec = await clones.cloneFiles(source, { id: draft.id, name }, options)
      // What the clone's files came from (its snapshot's settings) keeps the clone's own name and vlan number.
      const own = draft.spec.kind === 'qemu' ? { name, vlanNumber: draft.spec.vlanNumber } : { name }
      const definition = { ...draft, spec: await this.record({ ...spec, ...own }, null, draft.id) }
      await this.store.save(definition)
      this.definitions.set(definition.id, definition)
      this.changed(definition.id)
      return this.view(definition)
    })
  }

  /** The first number on the vlans no other VM has (a clone's), or null when the VM is on no vlan. */
  private nextVlanNumber(spec: QemuSpec): number | null {
    if (spec.vlanNumber === null) return null
    const taken = new Set([...this.definitions.values()].flatMap((d) => (d.spec.kind === 'qemu' && d.spec.vlanNumber !== null ? [d.spec.vlanNumber] : [])))
    return Array.from({ length: 199 }, (_, i) => i + 1).find((n) => !taken.has(n)) ?? null
  }

  /**
   * A long piece of work on a machine (a snapshot, a growth, a clone). While one runs another is refused
   * at once, saying what runs, rather than waiting unseen behind it; it starts only from a settled state.
   */
  private job<T, D extends MachineDefinition = MachineDefinition>(id: string, what: string, work: (definition: D) => Promise<T>): Promise<T> {
    const { spec } = this.get(id)
    const running = this.jobs.get(id)
    if (running) throw new BerthError('conflict', `${spec.name} is busy ${running}: try again when that is done`)
    const { state } = this.status(id)
    if (state === 'starting' || state === 'stopping') throw new BerthError('conflict', `${spec.name} is ${state}: try again when it has ${state === 'starting' ? 'started' : 'stopped'}`)
    this.jobs.set(id, what)
    return this.locked(id, (d) => work(d as D)).finally(() => this.jobs.delete(id))
  }

  /** Everything create checks, without writing anything. */
  async check(spec: MachineSpec, exceptId?: string): Promise<void> {
    const fields: FieldErrors = {}
    const clash = [...this.definitions.values()].find(
      (d) => d.id !== exceptId && d.spec.name.toLowerCase() === spec.name.toLowerCase(),
    )
    if (clash) fields.name = `A machine named ${clash.spec.name} already exists: choose another name`
    for (const link of this.backend({ spec }).linksOf(spec)) {
      const user = [...this.definitions.values()].find((d) => d.id !== exceptId && this.backend(d).linksOf(d.spec).some((l) => l.name === link.name))
      if (user) fields[link.field] = `${user.spec.name} already has a network link named ${link.name} on this host: choose another name`
    }
    Object.assign(fields, await this.backend({ spec }).validate(spec, exceptId))
    if (Object.keys(fields).length > 0) throw fieldErrors(fields)
  }

  async preview(spec: MachineSpec, editing?: string): Promise<Preview> {
    await this.check(spec, editing)
    const definition = editing ? { ...this.get(editing), spec } : MachineStore.define(spec)
    return this.backend(definition).preview(definition)
  }

  /** The machines Berth has on a remote host, by name. */
  machinesOnHost(hostId: string): string[] {
    return [...this.definitions.values()].filter((d) => this.backend(d).hostOf(d.spec) === hostId).map((d) => d.spec.name)
  }

  /** The QEMU builds VMs chose instead of the system's, each with the names of the VMs that use it. */
  otherQemus(): Map<string, string[]> {
    const builds = new Map<string, string[]>()
    for (const { spec } of this.definitions.values())
      if (spec.kind === 'qemu' && spec.qemuBinary) builds.set(spec.qemuBinary, [...(builds.get(spec.qemuBinary) ?? []), spec.name])
    return builds
  }

  /** Each machine with the bridges on this computer it joins. */
  bridgeUsers(): { id: string; name: string; kind: MachineSpec['kind']; bridges: string[] }[] {
    return [...this.definitions.values()].map((d) => ({ id: d.id, name: d.spec.name, kind: d.spec.kind, bridges: this.backend(d).bridgesOf(d.spec) }))
  }

  async create(spec: MachineSpec): Promise<Machine> {
    await this.check(spec)
    // Recorded with its id: a disk made from a base image is made now, in Berth's folder, named by it.
    const draft = MachineStore.define(spec)
    const definition = { ...draft, spec: await this.record(spec, null, draft.id) }
    await this.store.save(definition).catch(async (error: unknown) => {
      await this.backend(definition).forget(definition, { deleteImages: true })
      throw error
    })
    this.definitions.set(definition.id, definition)
    this.changed(definition.id)
    return this.view(definition)
  }

  /** New settings for a stopped machine; its drives and disc stay as they are unless the spec changes them. */
  updateSpec(id: string, spec: MachineSpec): Promise<Machine> {
    return this.locked(id, async (definition) => {
      this.allow(definition, 'edit')
      await this.check(spec, id)
      return this.view(await this.update(definition, await this.record(spec, definition.spec, id)))
    })
  }

  /** The spec as its backend records it from the host (a VM's image formats and backing chains); a definition older than that gets it now. */
  private async record(spec: MachineSpec, previous: MachineSpec | null, id?: string): Promise<MachineSpec> {
    try {
      return await this.backend({ spec }).record(spec as never, previous?.kind === spec.kind ? (previous as never) : null, id)
    } catch (error) {
      if (error instanceof ImageError) throw fieldErrors({ 'disk.image': error.message }, error.message)
      throw error
    }
  }

  start(id: string): Promise<Machine> {
    return this.locked(id, async (definition) => {
      this.allow(definition, 'start')
      this.refuseIfBase(definition, 'start')
      // What is recorded stays as it was (the definition is its own previous); only what is missing is added.
      const recorded = await this.record(definition.spec, definition.spec, definition.id)
      const d = JSON.stringify(recorded) === JSON.stringify(definition.spec) ? definition : await this.update(definition, recorded)
      await this.backend(d).start(d)
      return this.view(d)
    })
  }

  stop(id: string, options: { force: boolean; timeoutSec: number }): Promise<Machine> {
    // Not locked: Force stop must be able to cut short a graceful stop that is still waiting.
    const definition = this.get(id)
    // Stopping what is already stopped is done at once: nothing to do.
    const { state } = this.status(id)
    if (state === 'stopped' || state === 'crashed') return Promise.resolve(this.view(definition))
    this.allow(definition, 'stop')
    return this.backend(definition).stop(definition, options).then(() => this.view(definition))
  }

  pause(id: string): Promise<Machine> {
    return this.locked(id, async (d) => (this.allow(d, 'pause'), await this.backend(d).pause(d), this.view(d)))
  }

  reboot(id: string): Promise<Machine> {
    return this.locked(id, async (d) => {
      const backend = this.backend(d)
      if (!backend.reboot || !backend.capabilities(d.spec).includes('reboot'))
        throw new BerthError('conflict', `${d.spec.name} cannot be rebooted from Berth: stop and start it`)
      this.allow(d, 'reboot')
      await backend.reboot(d)
      return this.view(d)
    })
  }

  resume(id: string): Promise<Machine> {
    return this.locked(id, async (d) => (this.allow(d, 'resume'), await this.backend(d).resume(d), this.view(d)))
  }

  remove(id: string, options: { deleteImages: boolean }): Promise<{ removed: true }> {
    return this.locked(id, async (d) => {
      this.allow(d, 'remove')
      if (options.deleteImages) this.refuseIfBase(d, 'delete')
      await this.backend(d).forget(d, options)
      await this.store.remove(id)
      this.definitions.delete(id)
      this.changed(id)
      return { removed: true as const }
    })
  }

  /**
   * The linked clones reading this VM's images as their backing files. Those images must stay as they
   * are: the VM does not start or revert (that would change what the clones read), nor lose them.
   */
  private refuseIfBase(definition: MachineDefinition, doing: 'start' | 'revert' | 'delete'): void {
    if (definition.spec.kind !== 'qemu') return
    const vm = definition as DefinitionOf<QemuSpec>
    const images = new Set(doing === 'delete' ? this.backends.qemu.madeImages(vm) : this.backends.qemu.writableImages(vm))
    const clones = [...this.definitions.values()].filter(
      (d) => d.id !== vm.id && d.spec.kind === 'qemu' && [...(d.spec.disk?.backing ?? []), ...d.spec.drives.flatMap((drive) => drive.backing)].some((link) => images.has(link.file)),
    )
    if (!clones.length) return
    const name = vm.spec.name
    const names = clones.map((d) => d.spec.name).join(', ')
    const them = clones.length > 1 ? 'them' : 'it'
    const base = `${name}'s disks are the base of the linked clone${clones.length > 1 ? 's' : ''} ${names}`
    if (doing === 'delete') throw new BerthError('conflict', `${base}: delete ${them} first, or delete ${name} and keep its disks`)
    throw new BerthError('conflict', `${base}: ${name} cannot ${doing === 'start' ? 'start' : 'go back to a snapshot'} while ${names} ${clones.length > 1 ? 'use' : 'uses'} them, as that would change what ${names} ${clones.length > 1 ? 'read' : 'reads'}. Delete ${them}, or make full copies instead`)
  }

  displaySocket(id: string): { socket: string; protocol: 'vnc' | 'spice' } {
    const definition = this.having(id, 'display', 'has no screen: it uses the serial console only') as DefinitionOf<QemuSpec>
    return { socket: this.backends.qemu.displaySocket(definition), protocol: definition.spec.display!.protocol }
  }

  async guestInfo(id: string) {
    return this.backends.qemu.guestInfo(this.having(id, 'guestAgent', 'has no guest agent channel: turn it on in its settings (General → Devices)') as DefinitionOf<QemuSpec>)
  }

  /** Only while stopped: QEMU holds the store while the machine runs. */
  resetFirmwareVars(id: string): Promise<Machine> {
    this.vm(id)
    return this.locked(id, async (d) => {
      this.allow(d, 'edit')
      await this.backends.qemu.resetFirmwareVars(d as DefinitionOf<QemuSpec>)
      return this.view(d)
    })
  }

  async screenshot(id: string): Promise<Uint8Array> {
    return this.backends.qemu.screenshot(this.having(id, 'display', 'has no screen: it uses the serial console only') as DefinitionOf<QemuSpec>)
  }

  async openShell(id: string, stream: ConsoleStream): Promise<void> {
    const definition = this.having(id, 'shell', 'is a virtual machine: use its console') as DefinitionOf<NspawnSpec>
    return this.backends.nspawn.openShell(definition, stream)
  }

  /**
   * What the metrics sampler reads: the running machines of kinds that have metrics (and those whose
   * state is unknown, as a Xen domain on a host that does not answer: their graphs say why they
   * pause), and their counters.
   */
  readonly metricsSource: MetricsSource = {
    running: () =>
      [...this.definitions.values()]
        .filter((d) => ['running', 'paused', 'unknown'].includes(this.status(d.id).state) && this.backend(d).capabilities(d.spec).includes('metrics'))
        .map((d) => d.id),
    exists: (id) => this.definitions.has(id),
    counters: async (id, timeoutMs) => {
      const definition = this.definitions.get(id)
      return definition ? ((await this.backend(definition).counters?.(definition, timeoutMs)) ?? null) : null
    },
  }

  /** A machine whose metrics can be watched. */
  metricsOf(id: string): MachineDefinition {
    return this.having(id, 'metrics', 'has no metrics')
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
