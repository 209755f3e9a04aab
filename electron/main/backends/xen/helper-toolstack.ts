// xl on this computer, through the privileged helper's Xen verbs (it writes the xl.cfg itself from
// the checked spec). The console is a local terminal running xl console, which needs Berth as root.
import { BerthError } from '../../../../shared/errors'
import type { Dom0Info } from '../../../../shared/model/remote-host'
import type { XenSpec } from '../../../../shared/model/xen'
import type { PrivilegedHelper } from '../../privileged'
import type { Terminal } from '../../hosts/connection'
import { LocalConnection } from '../../hosts/local-connection'
import { ensureBridge } from '../../hosts/bridges'
import { notDom0, xlFailed, type DomainAction, type XenToolstack } from './toolstack'
import { dom0Info, parseXlInfo, parseXlList } from './xl'

export class HelperToolstack implements XenToolstack {
  constructor(
    private readonly privileged: PrivilegedHelper,
    private readonly local: LocalConnection,
  ) {}

  get label(): string {
    return this.local.label
  }

  /** A helper failure is xl's own message: say which xl command and where. */
  private async ask<T>(args: string[], request: () => Promise<unknown>): Promise<T> {
    try {
      return (await request()) as T
    } catch (error) {
      if (error instanceof BerthError && error.code === 'failed') throw xlFailed(this.label, args, error.message, 1)
      throw error
    }
  }

  private async output(what: 'info' | 'list'): Promise<string> {
    const { output } = await this.ask<{ output: string }>([what], () => this.privileged.request('xen.query', { what }))
    return output
  }

  private async requireDom0(): Promise<void> {
    const { output } = (await this.privileged.request('xen.query', { what: 'capabilities' })) as { output: string | null }
    const refusal = notDom0(this.label, output)
    if (refusal) throw refusal
  }

  async list() {
    return parseXlList(await this.output('list'))
  }

  async dom0() {
    // The helper answers one request at a time: nothing to gain from asking all at once.
    await this.requireDom0()
    const info = await this.output('info')
    const domains = await this.list()
    const daemons = (await this.privileged.request('xen.query', { what: 'daemons' })) as Dom0Info['daemons']
    return { info: dom0Info(parseXlInfo(info), domains, daemons), domains }
  }

  ensureBridge(name: string): Promise<void> {
    return ensureBridge(this.local, name, async (bridge) => void (await this.privileged.request('bridge.create', { name: bridge })))
  }

  async create(id: string, spec: XenSpec): Promise<void> {
    await this.ask(['create'], () => this.privileged.request('xen.create', { id, spec }))
  }

  async act(action: DomainAction, name: string): Promise<void> {
    await this.ask([action], () => this.privileged.request('xen.domain', { action, name }))
  }

  async removeConfig(id: string): Promise<void> {
    await this.privileged.request('xen.removeConfig', { id })
  }

  console(name: string, size: { cols: number; rows: number }): Promise<Terminal> {
    if (process.getuid?.() !== 0)
      throw new BerthError('unavailable', `The console of ${name} on this computer needs Berth to run as root; or add this computer as an SSH host (root@localhost)`)
    return this.local.openTerminal(['xl', 'console', name], size)
  }
}
