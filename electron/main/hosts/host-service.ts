// The hosts Berth manages machines on: this computer, and remote hosts over SSH (config/hosts.json,
// written atomically). A remote host is added only with the host key the person accepted, and only
// once Berth could log in with it.
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { BerthError, fieldErrors } from '../../../shared/errors'
import {
  remoteHostSchema,
  type HostView,
  type RemoteHost,
  type RemoteHostSpec,
  type SshTarget,
} from '../../../shared/model/remote-host'
import { writeFileAtomic } from '../store/atomic-write'
import type { HostConnection } from './connection'
import { LocalConnection } from './local-connection'
import { describeTarget, probeHostKey, SshConnection, type HostKey } from './ssh-connection'
import { Emitter, type Disposable } from '../../../shared/rpc/transport'

export const LOCAL_HOST = 'local'

interface HostState {
  connection: HostConnection
  status: HostView['connection']
  error: string | null
  xen: boolean
}

const labelOf = (host: RemoteHost) => `${host.name} (${describeTarget(host.ssh)})`
const newHostId = () => `h${[...randomBytes(10)].map((b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')}`

export class HostService {
  private remotes: RemoteHost[] = []
  private readonly states = new Map<string, HostState>()
  private readonly changes = new Emitter<void>()

  constructor(
    private readonly file: string,
    /** Machines defined on a host (it cannot be removed while it has any). */
    private readonly machinesOn: (hostId: string) => string[],
  ) {}

  /** Finds out whether Xen works on a host and reports it (reportXen); the Xen backend gives it. */
  private probeXen: (id: string) => Promise<void> = async () => undefined

  probeXenWith(probe: (id: string) => Promise<void>): void {
    this.probeXen = probe
  }

  async init(): Promise<void> {
    const text = await readFile(this.file, 'utf8').catch(() => '[]')
    const parsed = remoteHostSchema.array().safeParse(JSON.parse(text))
    this.remotes = parsed.success ? parsed.data : []
  }

  onDidChange(listener: () => void): Disposable {
    return this.changes.on(listener)
  }

  private changed(): void {
    this.changes.emit()
  }

  private remote(id: string): RemoteHost | undefined {
    return this.remotes.find((h) => h.id === id)
  }

  private state(id: string): HostState {
    let state = this.states.get(id)
    if (state) return state
    const host = this.remote(id)
    if (id !== LOCAL_HOST && !host) throw new BerthError('not_found', `No host with id ${id}: it was removed`)
    const connection = host
      ? new SshConnection(labelOf(host), host.ssh, host.hostKey, (error) => this.connectionChanged(id, error))
      : new LocalConnection()
    state = { connection, status: 'idle', error: null, xen: false }
    this.states.set(id, state)
    return state
  }

  private connectionChanged(id: string, error: BerthError | null): void {
    const state = this.states.get(id)
    if (!state) return
    state.status = error ? 'failed' : 'connected'
    state.error = error?.message ?? null
    this.changed()
  }

  label(id: string): string {
    return this.state(id).connection.label
  }

  list(): HostView[] {
    const view = (id: string, name: string, host: RemoteHost | null): HostView => {
      const state = this.states.get(id)
      return {
        id,
        name,
        ssh: host?.ssh ?? null,
        fingerprint: host?.hostKey.fingerprint ?? null,
        connection: state?.status ?? 'idle',
        error: state?.error ?? null,
        xen: state?.xen ?? false,
      }
    }
    return [view(LOCAL_HOST, 'This computer', null), ...this.remotes.map((h) => view(h.id, h.name, h))]
  }

  /** The host key a new host presents, for the person to compare and accept. */
  probe(target: SshTarget): Promise<HostKey> {
    return probeHostKey(target)
  }

  async add(spec: RemoteHostSpec): Promise<HostView> {
    if (this.remotes.some((h) => h.name.toLowerCase() === spec.name.toLowerCase()))
      throw fieldErrors({ name: `A host named ${spec.name} already exists: choose another name` })
    const host: RemoteHost = { ...spec, id: newHostId(), addedAt: new Date().toISOString() }
    // Log in once with the accepted key: a host Berth cannot reach is not added.
    const trial = new SshConnection(labelOf(host), host.ssh, host.hostKey)
    try {
      await trial.connect()
    } finally {
      trial.dispose()
    }
    this.remotes = [...this.remotes, host]
    await writeFileAtomic(this.file, JSON.stringify(this.remotes, null, 2))
    await this.probeXen(host.id).catch(() => undefined)
    this.changed()
    return this.list().find((h) => h.id === host.id)!
  }

  async remove(id: string): Promise<void> {
    if (!this.remote(id)) throw new BerthError('not_found', `No host with id ${id}`)
    const users = this.machinesOn(id)
    if (users.length) throw new BerthError('conflict', `${this.label(id)} still has machines in Berth (${users.join(', ')}): delete them first`)
    this.states.get(id)?.connection.dispose()
    this.states.delete(id)
    this.remotes = this.remotes.filter((h) => h.id !== id)
    await writeFileAtomic(this.file, JSON.stringify(this.remotes, null, 2))
    this.changed()
  }

  /** The connection to a host: this computer's, or a remote one's over SSH (kept, reconnected). */
  connection(id: string): HostConnection {
    return this.state(id).connection
  }

  /** Finds out, in the background, which hosts run Xen (for the wizard's machine kinds). */
  checkAll(): void {
    for (const { id } of this.list()) void this.probeXen(id).catch(() => undefined)
  }

  /** Whether Xen works on the host (the wizard offers Xen domains there), or why not. */
  reportXen(id: string, xen: boolean, error: string | null): void {
    const state = this.state(id)
    if (state.xen === xen && state.error === error) return
    state.xen = xen
    state.error = error
    this.changed()
  }

  dispose(): void {
    for (const state of this.states.values()) state.connection.dispose()
    this.states.clear()
  }
}
