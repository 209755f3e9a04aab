// A bridge on a host, made the same way everywhere: on this computer the privileged helper runs these
// steps (bridge.create); on a Xen host they run over its SSH connection before a domain's card joins
// the bridge (xen-dom0.nix's xen-bridge service: add the bridge, set it up).
import { BerthError } from '../../../shared/errors'
import type { HostConnection } from './connection'

export const makeBridgeSteps = (name: string): string[][] => [
  ['ip', 'link', 'add', name, 'type', 'bridge'],
  ['ip', 'link', 'set', name, 'up'],
]

/**
 * Makes the bridge on the host when it has none of that name (make: on this computer, through the
 * helper; elsewhere the steps over the connection); refuses a link of that name that is no bridge.
 */
export async function ensureBridge(connection: HostConnection, name: string, make = (bridge: string) => runSteps(connection, bridge)): Promise<void> {
  const has = async (path: string) => (await connection.run(['test', '-e', path], { timeoutMs: 15_000 })).code === 0
  if (await has(`/sys/class/net/${name}/bridge`)) return
  if (await has(`/sys/class/net/${name}`))
    throw new BerthError('invalid_input', `${name} on ${connection.label} is not a bridge: a domain's network card joins a bridge; choose another name`)
  await make(name)
}

async function runSteps(connection: HostConnection, name: string): Promise<void> {
  for (const argv of makeBridgeSteps(name)) {
    const result = await connection.run(argv, { timeoutMs: 15_000 })
    if (result.code !== 0)
      throw new BerthError('failed', `Making the bridge ${name} on ${connection.label} failed: ${(result.stderr || result.stdout).trim() || `exit code ${result.code}`}`)
  }
}
