// Xen domains on Xen hosts (dom0s), through xl on the host each domain belongs to. Berth finds a
// domain by its name; its state comes from `xl list` (polled), its console from one `xl console`
// per running domain, appended to a local log and fanned out to viewers like the other backends'.
import type { Counters } from '../../../../shared/model/metrics'
import { withTimeout } from '../with-timeout'
import { mkdirSync, readFileSync, statSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { writeFileAtomic } from '../../store/atomic-write'
import { join } from 'node:path'
import type { FieldErrors } from '../../../../shared/errors'
import type { Capability, DefinitionOf, MachineRuntime, MachineState } from '../../../../shared/model/machine'
import type { Dom0Info, Domain } from '../../../../shared/model/remote-host'
import type { XenSpec } from '../../../../shared/model/xen'
import type { BerthPaths } from '../../paths'
import type { HostService } from '../../hosts/host-service'
import type { Terminal } from '../../hosts/connection'
import { LocalConnection } from '../../hosts/local-connection'
import type { PrivilegedHelper } from '../../privileged'
import { SerialConsole, type ConsoleSource } from '../../consoles/serial-console'
import { LogAppender } from '../../consoles/log-appender'
import { commonTransitions, type Backend, type CloneFeatures, type ConsoleStream, type MachineStatus, type Preview } from '../backend'
import type { CloneOptions } from '../qemu/clone'
import { BerthError } from '../../../../shared/errors'
import { cloneDomain, deleteCopies } from './clone'
import { ConnectionToolstack, type DomainAction, type XenToolstack } from './toolstack'
import { HelperToolstack } from './helper-toolstack'
import { configPath, xlConfig } from './xl'
import { Emitter, type Disposable } from '../../../../shared/rpc/transport'

type XenDefinition = DefinitionOf<XenSpec>

const POLL_MS = 2000

const stateOf = (domain: Domain | undefined): MachineState => {
  if (!domain) return 'stopped'
  switch (domain.state) {
    case 'running':
    case 'blocked':
      return 'running'
    case 'paused':
      return 'paused'
    case 'crashed':
      return 'crashed'
    case 'shutdown':
    case 'dying':
      return 'stopping'
    default:
      return 'unknown'
  }
}

/** What Xen domains offer besides the common backend: reboot and their xl.cfg. */
/** How long a host may take to answer xl list before its machines' graphs say it does not answer. */
const SILENT_HOST_MS = 5000

export class XenBackend implements Backend<XenSpec>, CloneFeatures<XenSpec> {
  readonly kind = 'xen' as const
  // unknown: its host cannot be reached; Berth may forget the domain without touching it.
  readonly transitions = { ...commonTransitions, reboot: ['running'], remove: ['stopped', 'crashed', 'unknown'] } as const
  private readonly statuses = new Map<string, { state: MachineState; lastError: string | null }>()
  private readonly known = new Map<string, XenDefinition>()
  private readonly consoles = new Map<string, SerialConsole>()
  private readonly pumps = new Map<string, Terminal>()
  /** Machines an operation is changing right now: polling leaves their state alone. */
  private readonly busy = new Set<string>()
  private readonly changes = new Emitter<string>()
  /** The last `xl list` of each host, shared by the domains sampled at once. */
  private readonly listings = new Map<string, { at: number; domains: Promise<Domain[]>; settled: boolean }>()
  /** The disk copies Berth made on their hosts for each clone, as recorded in its files folder. */
  private readonly madeDisks = new Map<string, string[]>()
  private timer: NodeJS.Timeout | null = null
  private polling = false

  constructor(private readonly options: { hosts: HostService; paths: BerthPaths; privileged: PrivilegedHelper }) {}

  /** xl on a host: this computer's through the privileged helper, a remote one's over SSH. */
  toolstack(hostId: string): XenToolstack {
    const connection = this.options.hosts.connection(hostId)
    return connection instanceof LocalConnection ? new HelperToolstack(this.options.privileged, connection) : new ConnectionToolstack(connection)
  }

  /** The dom0 panel: Xen's version and command line, memory, caps, daemons, and every domain; tells the host service whether Xen works there. */
  async dom0(hostId: string): Promise<{ info: Dom0Info; domains: Domain[] }> {
    try {
      const panel = await this.toolstack(hostId).dom0()
      this.options.hosts.reportXen(hostId, true, null)
      return panel
    } catch (error) {
      this.options.hosts.reportXen(hostId, false, error instanceof Error ? error.message : String(error))
      throw error
    }
  }

  private filesDir(id: string): string {
    return join(this.options.paths.machineFiles, id)
  }

  private tools(spec: XenSpec) {
    return this.toolstack(spec.host)
  }

  async validate(spec: XenSpec): Promise<FieldErrors> {
    let domains: Domain[]
    try {
      domains = await this.tools(spec).list()
    } catch (error) {
      return { host: error instanceof Error ? error.message : String(error) }
    }
    const clash = domains.find((d) => d.name === spec.name)
    return clash ? { name: `${this.options.hosts.label(spec.host)} already has a domain named ${spec.name}: choose another name` } : {}
  }

  /** xl create with the xl.cfg Berth writes on the host for this definition. */
  async preview(definition: XenDefinition): Promise<Preview> {
    return { argv: ['xl', 'create', configPath(definition.id)], config: xlConfig(definition.id, definition.spec) }
  }

  capabilities(): Capability[] {
    return ['reboot', 'pause', 'metrics', 'clone']
  }

  /** A copy of the stopped domain's written disks on its host, and new MACs where it set them (clone.ts). */
  async cloneFiles(source: XenDefinition, target: { id: string; name: string }, options: CloneOptions): Promise<XenSpec> {
    const refuse = (why: string) => new BerthError('invalid_input', `${source.spec.name} is a Xen domain: ${why}`)
    if (options.linked) throw refuse('its clone is a full copy of its disks (linked clones are for VMs)')
    if (options.snapshot !== null) throw refuse('it has no snapshots to clone from')
    if (options.newIdentity) throw refuse("Berth cannot write a new identity into its disks on its host; reset the guest's machine-id and SSH host keys at its first boot")
    const { spec, made } = await cloneDomain(this.options.hosts.connection(source.spec.host), source.spec, target)
    await mkdir(this.filesDir(target.id), { recursive: true, mode: 0o700 })
    await writeFileAtomic(this.madeRecord(target.id), JSON.stringify(made))
    this.madeDisks.set(target.id, made)
    return spec
  }

  private madeRecord(id: string): string {
    return join(this.filesDir(id), 'made-disks.json')
  }

  /** The copies Berth made for the domain that it still uses (a disk the person has since replaced is not Berth's to delete). */
  private made(definition: XenDefinition): string[] {
    let made = this.madeDisks.get(definition.id)
    if (!made) {
      try {
        made = JSON.parse(readFileSync(this.madeRecord(definition.id), 'utf8')) as string[]
      } catch {
        made = []
      }
      this.madeDisks.set(definition.id, made)
    }
    return made.filter((file) => definition.spec.disks.some((disk) => disk.target === file))
  }

  /**
   * A domain's CPU time and memory from `xl list` on its host: one listing per host serves every
   * domain sampled within the same moment. xl has no I/O figures per domain.
   */
  async counters(definition: XenDefinition, timeoutMs: number): Promise<Counters | null> {
    const state = this.status(definition.id).state
    if (state !== 'running' && state !== 'paused' && state !== 'unknown') return null
    const { host } = definition.spec
    // One xl list at a time per host: a host that does not answer is not asked again until it has.
    let listing = this.listings.get(host)
    if (!listing || (listing.settled && Date.now() - listing.at > 500)) {
      const fresh = { at: Date.now(), domains: this.toolstack(host).list(), settled: false }
      fresh.domains.then(
        () => (fresh.settled = true),
        () => (fresh.settled = true),
      )
      this.listings.set(host, (listing = fresh))
    }
    const asked = listing
    const domains = await withTimeout(asked.domains, timeoutMs, 'no answer').catch((error: Error) => {
      const waited = Date.now() - asked.at
      // A slow answer skips a sample; a host silent for seconds, or one that fails, pauses the graphs.
      if (error instanceof BerthError && error.message === 'no answer' && waited < SILENT_HOST_MS) return null
      const why = error.message === 'no answer' ? `no answer to xl list for ${Math.round(waited / 1000)} s` : error.message
      throw new Error(`${this.options.hosts.label(host)} does not answer (${why}); the graphs go on once it does`)
    })
    if (!domains) return null
    const domain = domains.find((d) => d.name === definition.spec.name)
    if (!domain) return null
    return {
      cpuSeconds: domain.cpuSeconds,
      memoryBytes: domain.memoryMiB * 1024 * 1024,
      memoryLimitBytes: (definition.spec.maxMemoryMiB ?? definition.spec.memoryMiB) * 1024 * 1024,
      readBytes: null,
      writeBytes: null,
      rxBytes: null,
      txBytes: null,
      unmeasured: ["disk and network: xl list has no I/O figures per domain"],
    }
  }

  runtime(definition: XenDefinition): MachineRuntime {
    return { kind: 'xen', madeDisks: this.made(definition) }
  }

  /** A domain's cards join bridges on its Xen host, none on this computer. */
  bridgesOf(): string[] {
    return []
  }

  linksOf(): { field: string; name: string }[] {
    return []
  }

  hostOf(spec: XenSpec): string {
    return spec.host
  }

  startsWithBerth(): boolean {
    return false
  }

  async record(spec: XenSpec): Promise<XenSpec> {
    return spec
  }

  status(id: string): MachineStatus {
    const status = this.statuses.get(id) ?? { state: 'stopped', lastError: null }
    return status
  }

  private set(id: string, state: MachineState, lastError: string | null = this.statuses.get(id)?.lastError ?? null): void {
    const previous = this.statuses.get(id)
    if (previous?.state === state && previous.lastError === lastError) return
    this.statuses.set(id, { state, lastError })
    this.changes.emit(id)
  }

  onDidChange(listener: (id: string) => void): Disposable {
    return this.changes.on(listener)
  }

  async reattach(definition: XenDefinition): Promise<void> {
    this.track(definition)
    await this.pollHost(definition.spec.host)
  }

  private track(definition: XenDefinition): void {
    this.known.set(definition.id, definition)
    this.timer ??= setInterval(() => void this.poll(), POLL_MS)
    this.timer.unref()
  }

  private async poll(): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      const hosts = new Set([...this.known.values()].map((d) => d.spec.host))
      await Promise.all([...hosts].map((host) => this.pollHost(host)))
    } finally {
      this.polling = false
    }
  }

  /** Brings the states of one host's domains up to date with `xl list` there. */
  private async pollHost(host: string): Promise<void> {
    const definitions = [...this.known.values()].filter((d) => d.spec.host === host && !this.busy.has(d.id))
    if (!definitions.length) return
    let domains: Domain[]
    try {
      domains = await this.toolstack(host).list()
    } catch (error) {
      // Unreachable: what runs there is unknown, and the machine says why.
      for (const d of definitions) this.set(d.id, 'unknown', error instanceof Error ? error.message : String(error))
      return
    }
    for (const d of definitions) {
      if (this.busy.has(d.id)) continue
      const state = stateOf(domains.find((domain) => domain.name === d.spec.name))
      const crashed = state === 'crashed' ? `${d.spec.name} crashed; its console shows why. Stop it to clear it.` : null
      this.set(d.id, state, crashed ?? (state === 'unknown' ? this.status(d.id).lastError : null))
      // A console that could not open (another viewer holds it, the link dropped) is retried next poll.
      if (state === 'running' || state === 'paused' || state === 'crashed') await this.openPump(d).catch(() => undefined)
    }
  }

  private console(id: string): SerialConsole {
    let serial = this.consoles.get(id)
    if (!serial) {
      serial = new SerialConsole(join(this.filesDir(id), 'console.log'))
      this.consoles.set(id, serial)
    }
    return serial
  }

  /** One xl console per running domain: every byte to the log, then to the viewers. */
  private async openPump(definition: XenDefinition): Promise<void> {
    const { id, spec } = definition
    if (this.pumps.has(id)) return
    const terminal = await this.tools(spec).console(spec.name, { cols: 80, rows: 24 })
    if (this.pumps.has(id)) return terminal.close()
    this.pumps.set(id, terminal)
    const log = join(this.filesDir(id), 'console.log')
    mkdirSync(this.filesDir(id), { recursive: true, mode: 0o700 })
    let base = 0
    try {
      base = statSync(log).size
    } catch {
      // no log yet
    }
    const held: Buffer[] = []
    let deliver: ((chunk: Buffer) => void) | null = null
    const appender = new LogAppender(log)
    terminal.onData((chunk) => appender.append(chunk, (written) => (deliver ? deliver(written) : held.push(written))))
    const closeListeners: (() => void)[] = []
    terminal.onExit(() => {
      if (this.pumps.get(id) === terminal) this.pumps.delete(id)
      // The last bytes reach the log and the viewers before they hear that the console closed.
      void appender.close().then(() => closeListeners.forEach((listener) => listener()))
    })
    const source: ConsoleSource = {
      write: (bytes) => terminal.write(bytes),
      onData: (listener) => {
        deliver = listener
        for (const chunk of held.splice(0)) listener(chunk)
      },
      onClose: (listener) => closeListeners.push(listener),
      close: () => terminal.close(),
    }
    await this.console(id).attachSource(source, base)
  }

  private closePump(id: string): void {
    this.pumps.get(id)?.close()
    this.pumps.delete(id)
  }

  /** Runs an operation with polling kept off the machine; its state is re-read afterwards. */
  private async operate(definition: XenDefinition, during: MachineState, work: () => Promise<void>): Promise<void> {
    const { id } = definition
    this.track(definition)
    this.busy.add(id)
    this.set(id, during, null)
    let failure: unknown = null
    await work().catch((error: unknown) => (failure = error))
    this.busy.delete(id)
    await this.pollHost(definition.spec.host)
    if (failure === null) return
    this.set(id, this.status(id).state, failure instanceof Error ? failure.message : String(failure))
    throw failure
  }

  async start(definition: XenDefinition): Promise<void> {
    await this.operate(definition, 'starting', async () => {
      const tools = this.tools(definition.spec)
      for (const bridge of new Set(definition.spec.interfaces.map((card) => card.bridge))) await tools.ensureBridge(bridge)
      await tools.create(definition.id, definition.spec)
      await this.openPump(definition)
    })
  }

  async stop(definition: XenDefinition, options: { force: boolean; timeoutSec: number }): Promise<void> {
    const { id, spec } = definition
    const tools = this.tools(spec)
    const present = async () => (await tools.list()).some((d) => d.name === spec.name)
    if (!(await present())) {
      this.closePump(id)
      this.set(id, 'stopped', null)
      return
    }
    await this.operate(definition, 'stopping', async () => {
      // A crashed or paused domain cannot shut itself down.
      const state = this.status(id).state
      if (!options.force && state !== 'crashed') {
        await tools.act('shutdown', spec.name)
        const deadline = Date.now() + options.timeoutSec * 1000
        while ((await present()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 500))
      }
      if (await present()) await tools.act('destroy', spec.name)
      this.closePump(id)
    })
  }

  private act(definition: XenDefinition, action: DomainAction, during: MachineState): Promise<void> {
    return this.operate(definition, during, () => this.tools(definition.spec).act(action, definition.spec.name))
  }

  pause(definition: XenDefinition): Promise<void> {
    return this.act(definition, 'pause', 'running')
  }

  resume(definition: XenDefinition): Promise<void> {
    return this.act(definition, 'unpause', 'paused')
  }

  reboot(definition: XenDefinition): Promise<void> {
    return this.act(definition, 'reboot', 'running')
  }

  async openConsole(definition: XenDefinition, stream: ConsoleStream): Promise<void> {
    const { id } = definition
    stream.onControl(({ cols, rows }) => this.pumps.get(id)?.resize(cols, rows))
    await this.console(id).open(stream)
  }

  async forget(definition: XenDefinition, options: { deleteImages: boolean }): Promise<void> {
    const { id, spec } = definition
    // First: a copy that cannot be deleted keeps the domain, to be deleted again.
    if (options.deleteImages) await deleteCopies(this.options.hosts.connection(spec.host), this.made(definition))
    // The xl.cfg on the host goes too; an unreachable host keeps it (harmless: Berth rewrites it at start).
    await this.tools(spec).removeConfig(id).catch(() => undefined)
    this.closePump(id)
    this.consoles.get(id)?.close()
    this.consoles.delete(id)
    this.known.delete(id)
    this.statuses.delete(id)
    this.madeDisks.delete(id)
    await rm(this.filesDir(id), { recursive: true, force: true })
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    for (const terminal of this.pumps.values()) terminal.close()
    this.pumps.clear()
    for (const serial of this.consoles.values()) serial.close()
    this.consoles.clear()
  }
}
