// spec → systemd-nspawn argv, and the `ip` commands that set up its veths: a pure translation of
// containers.nix (its startScript, containerInit and postStartScript), golden-tested.
import type { NspawnSpec } from '../../../../shared/model/container'

export interface NspawnHost {
  /** systemd is PID 1 (machined registration and scopes); otherwise --register=no --keep-unit. */
  systemd: boolean
}

/** The host side of the main veth, as nspawn names it (names of at most 11 characters, as the module requires). */
export const hostVeth = (name: string) => `ve-${name}`.slice(0, 15)
export const hostBridgePort = (name: string) => `vb-${name}`.slice(0, 15)

const addressed = (spec: Pick<NspawnSpec, 'hostAddress' | 'hostAddress6' | 'localAddress' | 'localAddress6'>) =>
  Boolean(spec.hostAddress || spec.hostAddress6 || spec.localAddress || spec.localAddress6)
/** A route goes to the address itself, whatever prefix length the address was given with. */
const bare = (address: string) => address.split('/')[0]!

/** The device nodes and capabilities the container gets (enableTun adds /dev/net/tun and CAP_NET_ADMIN). */
export function effectiveAccess(spec: NspawnSpec): { devices: NspawnSpec['allowedDevices']; capabilities: string[] } {
  const devices = [...spec.allowedDevices]
  const capabilities = [...spec.additionalCapabilities]
  if (spec.enableTun) {
    if (!devices.some((d) => d.node === '/dev/net/tun')) devices.push({ node: '/dev/net/tun', modifier: 'rwm' })
    if (!capabilities.includes('CAP_NET_ADMIN') && !capabilities.includes('all')) capabilities.push('CAP_NET_ADMIN')
  }
  return { devices, capabilities }
}

export function buildNspawnArgv(spec: NspawnSpec, host: NspawnHost, binary = 'systemd-nspawn'): string[] {
  const argv = [binary, '--quiet', `--directory=${spec.root}`, `--machine=${spec.name}`]
  if (!host.systemd) argv.push('--register=no', '--keep-unit')
  if (spec.privateNetwork) argv.push('--private-network')
  if (spec.hostBridge) argv.push(`--network-bridge=${spec.hostBridge}`)
  else if (addressed(spec)) argv.push('--network-veth')
  for (const rule of spec.forwardPorts) argv.push(`--port=${rule.protocol}:${rule.hostPort}:${rule.containerPort ?? rule.hostPort}`)
  for (const veth of spec.extraVeths) argv.push(`--network-veth-extra=${veth.name}`)
  for (const name of spec.interfaces) argv.push(`--network-interface=${name}`)
  for (const name of spec.macvlans) argv.push(`--network-macvlan=${name}`)
  // The module's environment for the container's init, so NixOS-style inits find their addresses.
  const env: [string, string | null][] = [
    ['PRIVATE_NETWORK', spec.privateNetwork ? '1' : '0'],
    ['HOST_BRIDGE', spec.hostBridge],
    ['HOST_ADDRESS', spec.hostAddress],
    ['LOCAL_ADDRESS', spec.localAddress],
    ['HOST_ADDRESS6', spec.hostAddress6],
    ['LOCAL_ADDRESS6', spec.localAddress6],
    ['HOST_PORT', spec.forwardPorts.map((r) => `${r.protocol}:${r.hostPort}:${r.containerPort ?? r.hostPort}`).join(',')],
  ]
  for (const [key, value] of env) argv.push(`--setenv=${key}=${value ?? ''}`)
  for (const mount of spec.bindMounts)
    argv.push(`${mount.isReadOnly ? '--bind-ro' : '--bind'}=${mount.hostPath ?? mount.mountPoint}:${mount.mountPoint}`)
  for (const tmpfs of spec.tmpfs) argv.push(`--tmpfs=${tmpfs}`)
  const { devices, capabilities } = effectiveAccess(spec)
  for (const device of devices) {
    // The node itself (read-only unless writable), and on systemd hosts the cgroup's device policy.
    argv.push(`${device.modifier.includes('w') ? '--bind' : '--bind-ro'}=${device.node}`)
    if (host.systemd) argv.push(`--property=DeviceAllow=${device.node} ${device.modifier}`)
  }
  if (capabilities.length > 0) argv.push(`--capability=${capabilities.join(',')}`)
  if (spec.ephemeral) argv.push('--ephemeral')
  else argv.push('--link-journal=try-guest')
  argv.push(...spec.extraFlags)
  if (spec.notifyReady) argv.push('--notify-ready=yes')
  if (spec.init.type === 'boot') argv.push('--boot')
  else argv.push('--', ...spec.init.argv)
  return argv
}

/** Links a failed earlier run may have left behind (the module's preStartScript). Errors are expected. */
export function staleLinks(spec: NspawnSpec): string[][] {
  const names = addressed(spec) ? [hostVeth(spec.name), hostBridgePort(spec.name)] : []
  return [...names, ...spec.extraVeths.map((v) => v.name)].map((name) => ['ip', 'link', 'del', 'dev', name])
}

/** Host-side steps once the container runs (the module's postStartScript). */
export function hostNetworkSteps(spec: NspawnSpec): string[][] {
  const steps: string[][] = []
  if (addressed(spec) && !spec.hostBridge) {
    const dev = hostVeth(spec.name)
    steps.push(['ip', 'link', 'set', 'dev', dev, 'up'], ...addressSteps(dev, hostSide(spec), containerSide(spec)))
  }
  for (const veth of spec.extraVeths) {
    if (veth.hostBridge) {
      steps.push(['ip', 'link', 'set', 'dev', veth.name, 'master', veth.hostBridge, 'up'])
      continue
    }
    steps.push(['ip', 'link', 'set', 'dev', veth.name, 'up'], ...addressSteps(veth.name, hostSide(veth), containerSide(veth)))
  }
  return steps
}

type Addresses = Pick<NspawnSpec, 'hostAddress' | 'hostAddress6' | 'localAddress' | 'localAddress6'>
const hostSide = (a: Addresses) => [a.hostAddress, a.hostAddress6] as const
const containerSide = (a: Addresses) => [a.localAddress, a.localAddress6] as const

/** One side of a veth: its own addresses on dev, and a route through dev to each address of the other side. */
function addressSteps(dev: string, own: readonly (string | null)[], peer: readonly (string | null)[]): string[][] {
  const [own4, own6] = own
  const [peer4, peer6] = peer
  const steps: string[][] = []
  if (own4) steps.push(['ip', 'addr', 'add', own4, 'dev', dev])
  if (own6) steps.push(['ip', '-6', 'addr', 'add', own6, 'dev', dev])
  if (peer4) steps.push(['ip', 'route', 'add', bare(peer4), 'dev', dev])
  if (peer6) steps.push(['ip', '-6', 'route', 'add', bare(peer6), 'dev', dev])
  return steps
}

/**
 * Container-side steps (the module's containerInit), run with the host's `ip` inside the container's
 * network namespace, so any root file system gets them, with or without an `ip` of its own.
 */
export function containerNetworkSteps(spec: NspawnSpec): string[][] {
  const steps: string[][] = []
  if (addressed(spec) || spec.hostBridge) steps.push(...mainVethSteps(spec))
  // The module sets extra veths up only when the main veth has addresses; Berth always does, so
  // addresses given to an extra veth are never silently ignored.
  for (const veth of spec.extraVeths)
    steps.push(['ip', 'link', 'set', 'dev', veth.name, 'up'], ...addressSteps(veth.name, containerSide(veth), hostSide(veth)))
  return steps
}

function mainVethSteps(spec: NspawnSpec): string[][] {
  const steps: string[][] = [['ip', 'link', 'set', 'host0', 'name', 'eth0'], ['ip', 'link', 'set', 'dev', 'eth0', 'up']]
  if (spec.localAddress) steps.push(['ip', 'addr', 'add', spec.localAddress, 'dev', 'eth0'])
  if (spec.localAddress6) steps.push(['ip', '-6', 'addr', 'add', spec.localAddress6, 'dev', 'eth0'])
  if (spec.hostAddress) {
    steps.push(['ip', 'route', 'add', bare(spec.hostAddress), 'dev', 'eth0'])
    steps.push(['ip', 'route', 'add', 'default', 'via', bare(spec.hostAddress)])
  }
  if (spec.hostAddress6) {
    steps.push(['ip', '-6', 'route', 'add', bare(spec.hostAddress6), 'dev', 'eth0'])
    steps.push(['ip', '-6', 'route', 'add', 'default', 'via', bare(spec.hostAddress6)])
  }
  return steps
}

/** The same settings as a .nspawn file, so `machinectl start NAME` on a systemd host runs the same container. */
export function nspawnUnitFile(spec: NspawnSpec): string {
  const lines: string[] = ['# Written by Berth; changes are overwritten when the container is saved in Berth.', '[Exec]']
  lines.push(`Boot=${spec.init.type === 'boot' ? 'yes' : 'no'}`)
  if (spec.init.type === 'command') lines.push(`Parameters=${spec.init.argv.map(quoteUnit).join(' ')}`)
  const { devices, capabilities } = effectiveAccess(spec)
  if (capabilities.length > 0) lines.push(`Capability=${capabilities.join(' ')}`)
  lines.push('', '[Files]')
  if (spec.ephemeral) lines.push('Ephemeral=yes')
  for (const mount of spec.bindMounts)
    lines.push(`${mount.isReadOnly ? 'BindReadOnly' : 'Bind'}=${mount.hostPath ?? mount.mountPoint}:${mount.mountPoint}`)
  for (const device of devices) lines.push(`${device.modifier.includes('w') ? 'Bind' : 'BindReadOnly'}=${device.node}`)
  for (const tmpfs of spec.tmpfs) lines.push(`TemporaryFileSystem=${tmpfs}`)
  lines.push('', '[Network]')
  lines.push(`Private=${spec.privateNetwork ? 'yes' : 'no'}`)
  if (spec.hostBridge) lines.push(`Bridge=${spec.hostBridge}`)
  else if (addressed(spec)) lines.push('VirtualEthernet=yes')
  for (const veth of spec.extraVeths) lines.push(`VirtualEthernetExtra=${veth.name}`)
  for (const name of spec.interfaces) lines.push(`Interface=${name}`)
  for (const name of spec.macvlans) lines.push(`MACVLAN=${name}`)
  for (const rule of spec.forwardPorts) lines.push(`Port=${rule.protocol}:${rule.hostPort}:${rule.containerPort ?? rule.hostPort}`)
  return `${lines.join('\n')}\n`
}

const quoteUnit = (arg: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`)
