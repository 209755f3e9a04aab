// systemd-nspawn containers: each runs under its own detached supervisor (supervisor.ts), started by
// the privileged helper from the checked spec, which Berth talks to over unix sockets in the
// container's folder of root's (containerFiles): the console, the control and the shells.
import { existsSync, readFileSync } from 'node:fs'
import { lstat, mkdir, readFile, rm, stat } from 'node:fs/promises'
import { createConnection, type Socket } from 'node:net'
import { basename, join } from 'node:path'
import { BerthError, fieldErrors, type FieldErrors } from '../../../../shared/errors'
import type { NspawnSpec } from '../../../../shared/model/container'
import type { Capability, DefinitionOf, MachineRuntime } from '../../../../shared/model/machine'
import type { BerthPaths } from '../../paths'
import { writeFileAtomic } from '../../store/atomic-write'
import { SerialConsole } from '../../consoles/serial-console'
import type { PrivilegedHelper } from '../../privileged'
import { commonTransitions, type Backend, type ConsoleStream, type ContainerFeatures, type MachineStatus, type Preview, type SnapshotFeatures, type CloneFeatures } from '../backend'
import type { Snapshot, SnapshotList } from '../../../../shared/model/snapshots'
import type { CloneOptions } from '../qemu/clone'
import { ContainerSnapshots } from './snapshots'
import { buildNspawnArgv, hostBridgePort, hostVeth, nspawnUnitFile, type NspawnHost } from './argv'
import { cgroup2Root, containerCgroup, killCgroup, removeCgroup, allPids } from './cgroup'
import { isMadeRoot, madeMarker, osTreeProblem } from './roots'
import { deviceCgroup, deviceController } from './devices'
import { containerFiles, programs, supervisorStatusSchema, type ControlMessage, type SupervisorStatus } from './supervisor-protocol'
import { onLines, parseJsonLine } from '../../lines'
import { hostRunsSystemd } from './host'
import { cgroupCounters, machineTraffic, processCounters } from '../host-counters'
import type { Counters } from '../../../../shared/model/metrics'
import { beyondPolicy, holdSources } from '../../../helper/containers'
import { homedir } from 'node:os'
import { Emitter, type Disposable } from '../../../../shared/rpc/transport'

type Definition = DefinitionOf<NspawnSpec>

export interface NspawnBackendOptions {
  paths: BerthPaths
  /** Starts the supervisors (they run as root). */
  privileged: PrivilegedHelper
}

interface Run {
  status: SupervisorStatus | null
  control: Socket | null
  /** Waiters for the next status change. */
  waiters: (() => void)[]
}

const final = (status: SupervisorStatus | null) => !status || status.state === 'stopped' || status.state === 'crashed'


export class NspawnBackend implements Backend<NspawnSpec>, ContainerFeatures, SnapshotFeatures<NspawnSpec>, CloneFeatures<NspawnSpec> {
  readonly kind = 'nspawn' as const
  readonly transitions = commonTransitions
  readonly nspawnBinary = programs.nspawn
  readonly host: NspawnHost = { systemd: hostRunsSystemd() }
  private readonly runs = new Map<string, Run>()
  private readonly consoles = new Map<string, SerialConsole>()
  private readonly changes = new Emitter<string>()
  private disposed = false
  private readonly copies: ContainerSnapshots

  constructor(private readonly options: NspawnBackendOptions) {
    this.copies = new ContainerSnapshots(options.paths)
  }

  onDidChange(listener: (id: string) => void): Disposable {
    return this.changes.on(listener)
  }

  private changed(id: string): void {
    this.changes.emit(id)
  }

  private run(id: string): Run {
    let run = this.runs.get(id)
    if (!run) this.runs.set(id, (run = { status: null, control: null, waiters: [] }))
    return run
  }

  status(id: string): MachineStatus {
    const status = this.runs.get(id)?.status ?? null
    return { state: status?.state ?? 'stopped', lastError: status?.lastError ?? null }
  }

  capabilities(): Capability[] {
    return ['shell', 'pause', 'metrics', 'snapshots', 'clone']
  }

  snapshots(definition: Definition): Promise<SnapshotList> {
    return this.copies.list(definition)
  }

  /** A running container is frozen while its root is copied (and thawed after); a paused one stays paused. */
  takeSnapshot(definition: Definition, name: string, description: string): Promise<Snapshot> {
    return this.copies.take(definition, name, description, async () => {
      if (this.status(definition.id).state !== 'running') return async () => undefined
      await this.pause(definition)
      return () => this.resume(definition)
    })
  }

  async revertSnapshot(definition: Definition, name: string, restore: (spec: NspawnSpec) => Promise<Definition>): Promise<void> {
    const { state } = this.status(definition.id)
    if (state !== 'stopped' && state !== 'crashed') throw new BerthError('conflict', `Stop ${definition.spec.name}, then revert: its root is replaced by the snapshot's`)
    await this.copies.revert(definition, name, restore)
  }

  deleteSnapshot(definition: Definition, name: string): Promise<SnapshotList> {
    return this.copies.delete(definition, name)
  }

  async cloneFiles(source: Definition, target: { name: string }, options: CloneOptions): Promise<NspawnSpec> {
    if (options.linked) throw new BerthError('invalid_input', "A container's clone is a full copy of its root: there are no linked clones of containers")
    return this.copies.clone(source, target.name, options.snapshot)
  }

  /**
   * The container's cgroup (CPU; memory and block I/O where cgroup v2 has those controllers, else the
   * resident memory of its processes) and its veths on the host.
   */
  async counters(definition: Definition): Promise<Counters | null> {
    const root = cgroup2Root()
    const state = this.status(definition.id).state
    const dir = root && (state === 'running' || state === 'paused') ? containerCgroup(root, definition.id) : null
    const group = dir ? cgroupCounters(dir) : null
    if (!dir || !group) return null
    const { spec } = definition
    const unmeasured: string[] = []
    const memoryBytes = group.memoryBytes ?? allPids(dir).reduce((sum, pid) => sum + (processCounters(pid)?.memoryBytes ?? 0), 0)
    if (group.readBytes === null) unmeasured.push("disk: this host's io controller is on cgroup v1, where Berth does not place containers")
    const links = [...(spec.hostBridge ? [hostBridgePort(spec.name)] : spec.privateNetwork ? [hostVeth(spec.name)] : []), ...spec.extraVeths.map((veth) => veth.name)]
    const traffic = machineTraffic(links)
    if (!traffic) unmeasured.push("network: it shares the host's network (no veth of its own to count)")
    return { ...group, memoryBytes, rxBytes: traffic?.rxBytes ?? null, txBytes: traffic?.txBytes ?? null, unmeasured }
  }

  runtime(): MachineRuntime {
    return { kind: 'nspawn' }
  }

  bridgesOf(spec: NspawnSpec): string[] {
    return [...(spec.hostBridge ? [spec.hostBridge] : []), ...spec.extraVeths.flatMap((v) => (v.hostBridge ? [v.hostBridge] : []))]
  }

  /** An extra veth's name is its name on the host as well. */
  linksOf(spec: NspawnSpec): { field: string; name: string }[] {
    return spec.extraVeths.map((veth, i) => ({ field: `extraVeths.${i}.name`, name: veth.name }))
  }

  hostOf(): string {
    return 'local'
  }

  /** containers.nix's autoStart: started with Berth's service. */
  startsWithBerth(spec: NspawnSpec): boolean {
    return spec.autoStart
  }

  async record(spec: NspawnSpec): Promise<NspawnSpec> {
    return spec
  }

  async preview(definition: Definition): Promise<Preview> {
    return { argv: buildNspawnArgv(definition.spec, this.host, programs.nspawn), needsPassword: this.needsPassword(definition.spec) }
  }

  private files(id: string) {
    return containerFiles(process.getuid?.() ?? 0, id)
  }

  console(id: string): SerialConsole {
    let serial = this.consoles.get(id)
    if (!serial) this.consoles.set(id, (serial = new SerialConsole(this.files(id).log)))
    return serial
  }

  async validate(spec: NspawnSpec): Promise<FieldErrors> {
    const fields: FieldErrors = {}
    const rootProblem = await osTreeProblem(spec.root, spec.init.type === 'boot')
    if (rootProblem) fields.root = rootProblem
    if (spec.init.type === 'command' && !rootProblem) {
      const program = spec.init.argv[0]!
      if (program.startsWith('/') && !(await lstat(join(spec.root, program)).then(() => true, () => false)))
        fields['init.argv'] = `${program} does not exist in the container's root (${join(spec.root, program)})`
    }
    for (const [i, mount] of spec.bindMounts.entries()) {
      const source = mount.hostPath ?? mount.mountPoint
      if (!(await stat(source).then(() => true, () => false)))
        fields[`bindMounts.${i}.hostPath`] = `${source} does not exist on this host: create it or choose another folder`
    }
    const link = (name: string) => existsSync(join('/sys/class/net', name))
    if (spec.hostBridge && !existsSync(join('/sys/class/net', spec.hostBridge, 'bridge')))
      fields.hostBridge = link(spec.hostBridge)
        ? `${spec.hostBridge} is not a bridge: choose a bridge (see Networks)`
        : `There is no bridge ${spec.hostBridge} on this host: create it on the Networks page first`
    for (const [i, veth] of spec.extraVeths.entries())
      if (veth.hostBridge && !existsSync(join('/sys/class/net', veth.hostBridge, 'bridge')))
        fields[`extraVeths.${i}.hostBridge`] = `There is no bridge ${veth.hostBridge} on this host`
    for (const key of ['interfaces', 'macvlans'] as const)
      for (const [i, name] of spec[key].entries())
        if (!link(name)) fields[`${key}.${i}`] = `This host has no network interface ${name}`
    for (const [i, device] of spec.allowedDevices.entries()) {
      const node = await stat(device.node).catch(() => null)
      if (!node) fields[`allowedDevices.${i}.node`] = `${device.node} does not exist on this host`
      else if (!node.isCharacterDevice() && !node.isBlockDevice()) fields[`allowedDevices.${i}.node`] = `${device.node} is not a device node`
    }
    return fields
  }

  /** What in this container goes beyond the helper's policy for this user (each start asks for a password). */
  private needsPassword(spec: NspawnSpec): string[] {
    const { paths } = this.options
    let sources
    try {
      sources = holdSources(spec)
    } catch (error) {
      return [error instanceof Error ? error.message : String(error)]
    }
    try {
      const caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, pid: process.pid, ownFolders: [homedir(), ...paths.own], containersDir: paths.containers }
      return beyondPolicy(spec, caller, sources)
    } finally {
      sources.release()
    }
  }

  async start(definition: Definition): Promise<void> {
    const { id, spec } = definition
    const problems = await this.validate(spec)
    if (Object.keys(problems).length > 0) throw fieldErrors(problems)
    if (this.host.systemd) await this.writeUnitFile(spec)
    const files = this.files(id)
    const run = this.run(id)
    run.status = { state: 'starting', supervisorPid: 0, leaderPid: null, exitCode: null, lastError: null, restarts: 0 }
    this.changed(id)
    try {
      // The helper starts the supervisor from the spec (what goes beyond the policy asks for a password).
      const { pid } = await this.options.privileged.request('container.start', { id, spec })
      await this.connect(id, pid)
      // Attached at once: viewers see the container's first bytes as they come.
      await this.console(id).attach(files.console, { offsetHeader: true }).catch(() => undefined)
      await this.until(id, (s) => s.state !== 'starting', (spec.timeoutStartSec + 10) * 1000)
      // A single command may already have run to its end: that is a start, not a failure.
      const status = run.status
      if (status.state === 'crashed') throw new BerthError('failed', status.lastError ?? `${spec.name} stopped while starting`)
    } catch (error) {
      if (!final(run.status)) await this.stop(definition, { force: true, timeoutSec: 0 }).catch(() => undefined)
      const message = error instanceof Error ? error.message : String(error)
      run.status = { ...run.status!, state: 'crashed', lastError: message }
      this.changed(id)
      throw error instanceof BerthError ? error : new BerthError('failed', message)
    }
  }

  private async writeUnitFile(spec: NspawnSpec): Promise<void> {
    await mkdir(this.options.paths.nspawnUnits, { recursive: true })
    await writeFileAtomic(join(this.options.paths.nspawnUnits, `${spec.name}.nspawn`), nspawnUnitFile(spec))
  }

  /** Connects to the supervisor's control socket (it appears once the supervisor is up). */
  private async connect(id: string, pid: number): Promise<void> {
    const { control } = this.files(id)
    const deadline = Date.now() + 15_000
    for (;;) {
      const socket = await new Promise<Socket | null>((resolve) => {
        const s = createConnection(control)
        s.once('connect', () => resolve(s))
        s.once('error', () => resolve(null))
      })
      if (socket) return this.watch(id, socket)
      if (!alive(pid) || Date.now() > deadline) {
        const log = await readFile(this.files(id).supervisorLog, 'utf8').catch(() => '')
        const last = log.trim().split('\n').slice(-3).join(' ')
        throw new BerthError('failed', `The container supervisor did not start${last ? `: ${last}` : ''}`)
      }
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  private watch(id: string, socket: Socket): void {
    const run = this.run(id)
    run.control = socket
    onLines(socket, (line) => {
      const parsed = supervisorStatusSchema.safeParse(parseJsonLine(line))
      if (parsed.success) this.setStatus(id, parsed.data)
    })
    socket.on('error', () => undefined)
    socket.on('close', () => {
      if (run.control !== socket) return
      run.control = null
      if (this.disposed) return
      // The supervisor is gone: its status file has the last word, unless it died without one.
      const last = readStatus(this.files(id).status)
      if (last && final(last)) this.setStatus(id, last)
      else this.supervisorDied(id)
    })
  }

  private setStatus(id: string, status: SupervisorStatus): void {
    const run = this.run(id)
    run.status = status
    if (final(status)) this.console(id).detach()
    for (const wake of run.waiters.splice(0)) wake()
    this.changed(id)
  }

  /** The supervisor ended without saying so (killed): end what is left of the container. */
  private supervisorDied(id: string): void {
    const root = cgroup2Root()
    const left = root ? allPids(containerCgroup(root, id)).length : 0
    if (root) {
      killCgroup(join(containerCgroup(root, id), 'payload'))
      killCgroup(join(containerCgroup(root, id), 'supervisor'))
    }
    const previous = this.run(id).status
    this.setStatus(id, {
      state: 'crashed',
      supervisorPid: previous?.supervisorPid ?? 0,
      leaderPid: null,
      exitCode: null,
      restarts: previous?.restarts ?? 0,
      lastError: `The container's supervisor ended unexpectedly${left ? `; its ${left} remaining processes were stopped` : ''}`,
    })
    const devices = deviceController()
    setTimeout(() => {
      if (root) removeCgroup(containerCgroup(root, id))
      if (devices) removeCgroup(deviceCgroup(devices, id))
    }, 200)
  }

  private until(id: string, done: (s: SupervisorStatus) => boolean, timeoutMs: number): Promise<void> {
    const run = this.run(id)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new BerthError('failed', 'The container did not answer in time')), timeoutMs)
      const check = () => {
        if (run.status && done(run.status)) {
          clearTimeout(timer)
          resolve()
        } else run.waiters.push(check)
      }
      check()
    })
  }

  private send(id: string, message: ControlMessage): void {
    const control = this.runs.get(id)?.control
    if (!control) throw new BerthError('conflict', 'The container is not running')
    control.write(`${JSON.stringify(message)}\n`)
  }

  async reattach(definition: Definition): Promise<void> {
    const { id } = definition
    const files = this.files(id)
    const last = readStatus(files.status)
    if (!last) return
    if (final(last) || !alive(last.supervisorPid)) {
      this.run(id).status = last
      if (!final(last)) this.supervisorDied(id)
      return
    }
    this.run(id).status = last
    await this.connect(id, last.supervisorPid)
    await this.console(id).attach(files.console, { offsetHeader: true }).catch(() => undefined)
    this.changed(id)
  }

  async stop(definition: Definition, options: { force: boolean; timeoutSec: number }): Promise<void> {
    const { id } = definition
    if (final(this.runs.get(id)?.status ?? null)) return
    if (!this.runs.get(id)?.control) return this.supervisorDied(id)
    this.send(id, { op: 'stop', force: options.force, timeoutSec: options.timeoutSec })
    await this.until(id, final, (options.timeoutSec + 15) * 1000)
  }

  async pause(definition: Definition): Promise<void> {
    this.requireState(definition, 'running')
    this.send(definition.id, { op: 'freeze', frozen: true })
    await this.until(definition.id, (s) => s.state !== 'running', 5000)
  }

  async resume(definition: Definition): Promise<void> {
    this.requireState(definition, 'paused')
    this.send(definition.id, { op: 'freeze', frozen: false })
    await this.until(definition.id, (s) => s.state !== 'paused', 5000)
  }

  private requireState(definition: Definition, state: 'running' | 'paused'): void {
    const now = this.status(definition.id).state
    if (now !== state) throw new BerthError('conflict', `${definition.spec.name} is ${now}, not ${state}`)
  }

  async openConsole(definition: Definition, stream: ConsoleStream): Promise<void> {
    const { id } = definition
    stream.onControl(({ cols, rows }) => {
      if (this.runs.get(id)?.control) this.send(id, { op: 'resize', cols, rows })
    })
    await this.console(id).open(stream)
  }

  /** A login shell inside the running container, served by its supervisor, for as long as the stream is open. */
  async openShell(definition: Definition, stream: ConsoleStream): Promise<void> {
    const { id, spec } = definition
    if (this.status(id).state !== 'running') throw new BerthError('conflict', `Start ${spec.name} to open a shell in it`)
    const socket = createConnection(this.files(id).shell)
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    // The first line is the shell's number (0: the container is not running any more).
    const number = await new Promise<number>((resolve, reject) => {
      let head = Buffer.alloc(0)
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk])
        const newline = head.indexOf(10)
        if (newline < 0) return
        socket.off('data', onData)
        socket.pause()
        if (head.length > newline + 1) socket.unshift(head.subarray(newline + 1))
        resolve(Number(head.subarray(0, newline).toString()))
      }
      socket.on('data', onData)
      socket.once('close', () => reject(new BerthError('conflict', `${spec.name} stopped`)))
    })
    if (!number) throw new BerthError('conflict', `Start ${spec.name} to open a shell in it`)
    socket.on('data', (bytes: Buffer) => stream.send(bytes))
    socket.on('close', () => stream.close())
    socket.on('error', () => undefined)
    socket.resume()
    stream.onInput((bytes) => void socket.write(bytes))
    stream.onControl(({ cols, rows }) => this.runs.get(id)?.control && this.send(id, { op: 'resize', shell: number, cols, rows }))
    stream.onClose(() => socket.destroy())
  }

  async forget(definition: Definition, options: { deleteImages: boolean }): Promise<void> {
    const { id, spec } = definition
    this.consoles.get(id)?.close()
    this.consoles.delete(id)
    this.runs.delete(id)
    await this.options.privileged.request('container.forget', { id })
    if (this.host.systemd) await rm(join(this.options.paths.nspawnUnits, `${spec.name}.nspawn`), { force: true })
    // Only a root Berth made in its own place; never a directory the person pointed at.
    if (options.deleteImages && isMadeRoot(this.options.paths, spec.root)) {
      await rm(spec.root, { recursive: true, force: true })
      await rm(madeMarker(this.options.paths, basename(spec.root)), { force: true })
    }
    await this.copies.forget(id)
  }

  dispose(): void {
    this.disposed = true
    for (const run of this.runs.values()) run.control?.destroy()
    for (const serial of this.consoles.values()) serial.close()
    this.runs.clear()
    this.consoles.clear()
  }
}


function readStatus(file: string): SupervisorStatus | null {
  try {
    const parsed = supervisorStatusSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')))
    return parsed.success ? parsed.data : null
  } catch {
    return null
  }
}

function alive(pid: number): boolean {
  if (!pid) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
