// Machine definitions (store) + their runtime (backend): the methods the contract names.
import { totalmem } from 'node:os'
import { BerthError, fieldErrors, type FieldErrors } from '../../../shared/errors'
import type { BrokenDefinition, Machine, MachineDefinition, MachineSpec } from '../../../shared/model/machine'
import type { Backend, ConsoleStream } from '../backends/backend'
import { MachineStore } from '../store/machine-store'

export class MachineService {
  private definitions = new Map<string, MachineDefinition>()
  private broken: BrokenDefinition[] = []
  /** One operation at a time per machine: a second start waits, then finds it running. */
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly listeners: ((id: string) => void)[] = []

  constructor(
    private readonly store: MachineStore,
    private readonly backend: Backend,
  ) {
    backend.onDidChange((id) => this.changed(id))
  }

  /** Loads every definition and re-attaches to machines that kept running while Berth was away. */
  async init(): Promise<void> {
    const { definitions, broken } = await this.store.load()
    this.definitions = new Map(definitions.map((d) => [d.id, d]))
    this.broken = broken
    await Promise.all(definitions.map((d) => this.backend.reattach(d).catch(() => undefined)))
  }

  onDidChange(listener: (id: string) => void): void {
    this.listeners.push(listener)
  }

  private changed(id: string): void {
    for (const listener of this.listeners) listener(id)
  }

  list(): { machines: Machine[]; broken: BrokenDefinition[] } {
    return { machines: [...this.definitions.values()].map((d) => this.view(d)), broken: this.broken }
  }

  get(id: string): MachineDefinition {
    const definition = this.definitions.get(id)
    if (!definition) throw new BerthError('not_found', `No machine with id ${id}`)
    return definition
  }

  view(definition: MachineDefinition): Machine {
    return { id: definition.id, spec: definition.spec, createdAt: definition.createdAt, ...this.backend.status(definition.id) }
  }

  /** Everything create checks, without writing anything. */
  async check(spec: MachineSpec, exceptId?: string): Promise<void> {
    const fields: FieldErrors = {}
    const clash = [...this.definitions.values()].find(
      (d) => d.id !== exceptId && d.spec.name.toLowerCase() === spec.name.toLowerCase(),
    )
    if (clash) fields.name = `A machine named ${clash.spec.name} already exists: choose another name`
    const hostMiB = Math.floor(totalmem() / 1024 / 1024)
    if (spec.memoryMiB > hostMiB) fields.memoryMiB = `This host has ${hostMiB} MiB of memory: give the machine less`
    Object.assign(fields, await this.backend.validate(spec))
    if (Object.keys(fields).length > 0) throw fieldErrors(fields)
  }

  async preview(spec: MachineSpec): Promise<string[]> {
    await this.check(spec)
    return this.backend.commandLine(MachineStore.define(spec))
  }

  async create(spec: MachineSpec): Promise<Machine> {
    await this.check(spec)
    const definition = MachineStore.define(spec)
    await this.store.save(definition)
    this.definitions.set(definition.id, definition)
    this.changed(definition.id)
    return this.view(definition)
  }

  start(id: string): Promise<Machine> {
    return this.locked(id, async (d) => {
      await this.backend.start(d)
      return this.view(d)
    })
  }

  stop(id: string, options: { force: boolean; timeoutSec: number }): Promise<Machine> {
    // Not locked: Force stop must be able to cut short a graceful stop that is still waiting.
    const definition = this.get(id)
    return this.backend.stop(definition, options).then(() => this.view(definition))
  }

  pause(id: string): Promise<Machine> {
    return this.locked(id, async (d) => (await this.backend.pause(d), this.view(d)))
  }

  resume(id: string): Promise<Machine> {
    return this.locked(id, async (d) => (await this.backend.resume(d), this.view(d)))
  }

  remove(id: string, options: { deleteImages: boolean }): Promise<{ removed: true }> {
    return this.locked(id, async (d) => {
      await this.backend.forget(d, options)
      await this.store.remove(id)
      this.definitions.delete(id)
      this.changed(id)
      return { removed: true as const }
    })
  }

  openConsole(id: string, stream: ConsoleStream): Promise<void> {
    return this.backend.openConsole(this.get(id), stream)
  }

  private locked<T>(id: string, work: (definition: MachineDefinition) => Promise<T>): Promise<T> {
    const definition = this.get(id)
    const previous = this.locks.get(id) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(() => work(definition))
    this.locks.set(id, next)
    void next.catch(() => undefined).then(() => this.locks.get(id) === next && this.locks.delete(id))
    return next
  }
}
