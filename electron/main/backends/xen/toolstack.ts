// xl on one Xen host. A remote host's runs through its SSH connection: argv only, xl.cfg written over
// the same channel, xl console in a remote terminal. This computer's runs through the privileged
// helper (helper-toolstack.ts). Every error names the host and says what xl said.
import { BerthError } from '../../../../shared/errors'
import type { Domain, Dom0Info } from '../../../../shared/model/remote-host'
import type { XenSpec } from '../../../../shared/model/xen'
import type { HostConnection, Terminal } from '../../hosts/connection'
import { ensureBridge } from '../../hosts/bridges'
import { configPath, dom0Info, parseXlInfo, parseXlList, xlConfig, xlMessage } from './xl'

export const domainActions = ['shutdown', 'destroy', 'pause', 'unpause', 'reboot'] as const
export type DomainAction = (typeof domainActions)[number]

/** What the Xen backend and the dom0 panel ask of a Xen host. */
export interface XenToolstack {
  readonly label: string
  list(): Promise<Domain[]>
  /** The dom0 panel: what xl info says, every domain, the daemons (refuses a host that is not a dom0). */
  dom0(): Promise<{ info: Dom0Info; domains: Domain[] }>
  /** Makes the bridge a domain's card joins (xen.bridge) when the host has none of that name. */
  ensureBridge(name: string): Promise<void>
  /** Writes the domain's xl.cfg on the host, then xl create (which returns once the domain runs). */
  create(id: string, spec: XenSpec): Promise<void>
  act(action: DomainAction, name: string): Promise<void>
  removeConfig(id: string): Promise<void>
  /** xl console in a terminal: the domain's console (xenconsoled replays what no one has read yet). */
  console(name: string, size: { cols: number; rows: number }): Promise<Terminal>
}

export const notDom0 = (label: string, capabilities: string | null): BerthError | null =>
  capabilities === null
    ? new BerthError('unavailable', `${label} is not a Xen dom0: it does not run under Xen (no /proc/xen/capabilities)`)
    : capabilities.includes('control_d')
      ? null
      : new BerthError('unavailable', `${label} is not a Xen dom0: it runs under Xen as an unprivileged domain (domU)`)

export const xlFailed = (label: string, args: string[], output: string, code: number) =>
  new BerthError('failed', `xl ${args[0]} on ${label} failed: ${xlMessage(output) || `exit code ${code}`}`)

export class ConnectionToolstack implements XenToolstack {
  constructor(readonly connection: HostConnection) {}

  get label(): string {
    return this.connection.label
  }

  /** query: a read-only command (list, info), asked once more when it fails, e.g. while a domain is being built. */
  private async xl(args: string[], timeoutMs = 60_000, query = false): Promise<string> {
    let result = await this.connection.run(['xl', ...args], { timeoutMs })
    if (result.code !== 0 && query) {
      await new Promise((resolve) => setTimeout(resolve, 500))
      result = await this.connection.run(['xl', ...args], { timeoutMs })
    }
    if (result.code === 127 && /not found/.test(result.stderr)) throw new BerthError('unavailable', `${this.label} has no xl (Xen's toolstack): install Xen's tools there (Debian: xen-utils)`)
    if (result.code !== 0) throw xlFailed(this.label, args, result.stderr || result.stdout, result.code)
    return result.stdout
  }

  private async requireDom0(): Promise<void> {
    const caps = await this.connection.run(['cat', '/proc/xen/capabilities'], { timeoutMs: 15_000 })
    const refusal = notDom0(this.label, caps.code === 0 ? caps.stdout : null)
    if (refusal) throw refusal
  }

  async list(): Promise<Domain[]> {
    return parseXlList(await this.xl(['list'], 30_000, true))
  }

  async dom0(): Promise<{ info: Dom0Info; domains: Domain[] }> {
    // All at once (each is a round trip); a host that is not a dom0 is said as such, not as xl's failure.
    const [dom0, info, domains, daemons] = await Promise.allSettled([this.requireDom0(), this.xl(['info'], 30_000, true), this.list(), this.daemons()])
    for (const result of [dom0, info, domains, daemons]) if (result.status === 'rejected') throw result.reason
    const value = <T,>(result: PromiseSettledResult<T>) => (result as PromiseFulfilledResult<T>).value
    return { info: dom0Info(parseXlInfo(value(info)), value(domains), value(daemons)), domains: value(domains) }
  }

  private async daemons(): Promise<Dom0Info['daemons']> {
    const running = async (name: string) => (await this.connection.run(['pidof', name], { timeoutMs: 15_000 })).code === 0
    const [xenstored, xenconsoled] = await Promise.all([running('xenstored'), running('xenconsoled')])
    return { xenstored: xenstored || (await running('oxenstored')), xenconsoled }
  }

  ensureBridge(name: string): Promise<void> {
    return ensureBridge(this.connection, name)
  }

  async create(id: string, spec: XenSpec): Promise<void> {
    await this.connection.writeFile(configPath(id), xlConfig(id, spec))
    await this.xl(['create', configPath(id)], 180_000)
  }

  async act(action: DomainAction, name: string): Promise<void> {
    await this.xl([action, name])
  }

  async removeConfig(id: string): Promise<void> {
    await this.connection.run(['rm', '-f', configPath(id)], { timeoutMs: 15_000 })
  }

  console(name: string, size: { cols: number; rows: number }): Promise<Terminal> {
    // Only with a controlling terminal: an xl console without one (an SSH server that could not set up
    // the session's terminal, seen with dropbear) outlives its session and holds the domain's console
    // lock, so no later viewer gets it. Refused, the next poll opens it again.
    return this.connection.openTerminal(['sh', '-c', ': </dev/tty && exec xl console "$1"', 'sh', name], size)
  }
}
