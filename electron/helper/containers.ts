// The helper's container verbs. It takes a checked container spec (never a config, an argv or a path
// to act on) and builds the supervisor's configuration itself: fixed programs, state in root's own
// folders, files handed to the user on their descriptor. For a user who is not root, policy.ts
// decides what may run without an administrator's password.
import { spawn } from 'node:child_process'
import { closeSync, constants, fchownSync, openSync, readlinkSync, rmSync, statSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { z } from 'zod'
import { machineIdSchema } from '../../shared/model/machine'
import { nspawnSpecSchema, type NspawnSpec } from '../../shared/model/container'
import { buildNspawnArgv, containerNetworkSteps, effectiveAccess, hostNetworkSteps, staleLinks } from '../main/backends/nspawn/argv'
import { containerFiles, type SupervisorConfig } from '../main/backends/nspawn/supervisor-protocol'
import { cgroup2Root, containerCgroup, removeCgroup } from '../main/backends/nspawn/cgroup'
import { deviceCgroup, deviceController, deviceRules } from '../main/backends/nspawn/devices'
import { programCommand } from '../main/programs'
import { rootFolder } from './record'
import { callersHeld, hold, pin, pinFolder, scratchOver, stillAt, unpinAll, type Held } from './pin'
import { Refusal } from './refusal'
import { realPath, requireApproval, type Caller } from './policy'

export const containerVerbSchemas = {
  'container.start': z.object({ id: machineIdSchema, spec: nspawnSpecSchema }).strict(),
  /** Removes the container's state and logs the helper keeps (when the container is deleted). */
  'container.forget': z.object({ id: machineIdSchema }).strict(),
} as const
export type ContainerVerb = keyof typeof containerVerbSchemas

/** Capabilities that are the host's to give: with them a container can leave itself. */
const hostCapabilities = ['all', 'CAP_SYS_ADMIN', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_PTRACE', 'CAP_SYS_BOOT', 'CAP_MAC_ADMIN']
/** Device nodes a container may have without asking: they give no access to the host's hardware or memory. */
const harmlessDevices = ['/dev/net/tun', '/dev/fuse']

/** The folders and files a container uses from the host, each held open (pin.ts): its root, then its bind mounts' sources. */
export function holdSources(spec: NspawnSpec): { root: Held; binds: Held[]; release: () => void } {
  const held: Held[] = []
  const release = () => held.forEach((h) => closeSync(h.fd))
  try {
    const root = hold(spec.root)
    held.push(root)
    if (!root.stats.isDirectory()) throw new Refusal(`The root ${spec.root} is not a folder`)
    for (const mount of spec.bindMounts) held.push(hold(mount.hostPath ?? mount.mountPoint))
    return { root, binds: held.slice(1), release }
  } catch (error) {
    release()
    throw error
  }
}

/** What in this spec goes beyond what a user may ask root for without an administrator's password. */
export function beyondPolicy(spec: NspawnSpec, caller: Caller, sources: { root: Held; binds: Held[] }): string[] {
  if (caller.uid === 0) return []
  const problems: string[] = []
  const madeRoot = realPath(join(caller.containersDir, spec.name))
  if (!((madeRoot && sources.root.path === madeRoot && stillAt(sources.root)) || callersHeld(sources.root, caller)))
    problems.push(`its root ${spec.root} is neither ${join(caller.containersDir, spec.name)} nor a folder of yours`)
  for (const [i, mount] of spec.bindMounts.entries()) {
    const source = mount.hostPath ?? mount.mountPoint
    if (!callersHeld(sources.binds[i]!, caller)) problems.push(`it mounts ${source}, which is not a folder of yours`)
  }
  const { devices, capabilities } = effectiveAccess(spec)
  for (const capability of capabilities)
    if (hostCapabilities.includes(capability)) problems.push(`it asks for ${capability === 'all' ? 'every capability' : capability}`)
  for (const device of devices) {
    const node = realPath(device.node)
    if (!node || !harmlessDevices.includes(node) || !statSync(node).isCharacterDevice())
      problems.push(`it uses the host device ${device.node}`)
  }
  if (spec.extraFlags.length > 0) problems.push(`it passes its own flags to systemd-nspawn (${spec.extraFlags.join(' ')})`)
  if (spec.interfaces.length > 0) problems.push(`it takes the host's network interfaces ${spec.interfaces.join(', ')} away from the host`)
  return problems
}

const ipArgs = (steps: string[][]) =>
  steps.map(([program, ...args]) => {
    if (program !== 'ip') throw new Error(`a network step runs ${program}, not ip`)
    return args
  })

const SIGTERM = 15
const SIGUSR2 = 12
/** SIGRTMIN+4: systemd's poweroff request. */
const SIGRTMIN_4 = 38

/** What asks the container's init to power off: systemd's SIGRTMIN+4, busybox init's SIGUSR2; a lone command gets SIGTERM. */
function poweroffSignal(spec: NspawnSpec): number {
  if (spec.init.type === 'command') return SIGTERM
  let init = ''
  try {
    init = readlinkSync(join(spec.root, 'sbin/init'))
  } catch {
    // not a link: systemd or another init
  }
  return /busybox/.test(init) ? SIGUSR2 : SIGRTMIN_4
}

/** The supervisor's configuration, from the checked spec alone. */
export function supervisorConfig(id: string, spec: NspawnSpec, caller: Caller, host: { systemd: boolean }): Omit<SupervisorConfig, 'pinned'> {
  const argv = buildNspawnArgv(spec, host)
  // User namespaces for everyone but root: the container's root is not the host's.
  if (caller.uid !== 0) argv.splice(1, 0, '--private-users=pick')
  const cgroupRoot = cgroup2Root()
  const deviceRoot = host.systemd ? null : deviceController()
  const { devices } = effectiveAccess(spec)
  if (!host.systemd && !deviceRoot) {
    // Nothing here could enforce a narrower access than the node's own: refuse rather than pretend.
    const narrowed = devices.find((d) => d.modifier.length < 3)
    if (narrowed)
      throw new Refusal(
        `This host cannot limit access to ${narrowed.node} to "${narrowed.modifier}": that needs systemd as the init system or the cgroup v1 device controller. Allow it as rwm, or remove it`,
      )
  }
  return {
    id,
    nspawnArgs: argv.slice(1),
    cgroup: cgroupRoot ? containerCgroup(cgroupRoot, id) : null,
    devices: deviceRoot ? { cgroup: deviceCgroup(deviceRoot, id), rules: refusing(() => deviceRules(devices)) } : null,
    cleanup: ipArgs(staleLinks(spec)),
    udevInterfaces: [...spec.interfaces, ...spec.macvlans],
    hostSetup: ipArgs(hostNetworkSteps(spec)),
    containerSetup: ipArgs(containerNetworkSteps(spec)),
    poweroffSignal: poweroffSignal(spec),
    timeoutStartSec: spec.timeoutStartSec,
    notifyReady: spec.notifyReady,
    restartOnFailure: true,
    owner: { uid: caller.uid, gid: caller.gid },
  }
}

/** An error of the spec's (a node that is not a device) as a refusal the caller sees. */
function refusing<T>(make: () => T): T {
  try {
    return make()
  } catch (error) {
    throw new Refusal(error instanceof Error ? error.message : String(error))
  }
}

export function runContainerVerb(
  verb: ContainerVerb,
  args: unknown,
  caller: Caller,
  host: { systemd: boolean },
  log: (entry: Record<string, unknown>) => void,
): unknown {
  const files = containerFiles(caller.uid, (args as { id: string }).id)
  if (verb === 'container.forget') {
    unpinAll(caller.containersDir, caller.uid, (args as { id: string }).id)
    rmSync(files.run, { recursive: true, force: true })
    rmSync(files.logs, { recursive: true, force: true })
    // A supervisor that was killed leaves its (empty) device cgroup behind.
    const devices = deviceController()
    if (devices) removeCgroup(deviceCgroup(devices, (args as { id: string }).id))
    return null
  }
  const { id, spec } = args as z.infer<(typeof containerVerbSchemas)['container.start']>
  const sources = holdSources(spec)
  let config: SupervisorConfig
  try {
    requireApproval(caller, `Starting ${spec.name}`, beyondPolicy(spec, caller, sources), log)
    for (const dir of ['/run/berth', dirname(dirname(files.run)), dirname(files.run), files.run, '/var/log/berth', dirname(dirname(files.logs)), dirname(files.logs), files.logs])
      rootFolder(dir)
    // nspawn is given the places where what was checked is mounted, never the caller's paths.
    unpinAll(caller.containersDir, caller.uid, id)
    const place = pinFolder(caller.containersDir, caller.uid, id)
    const [root, ...binds] = pin(place, [
      { name: 'root', file: sources.root },
      ...sources.binds.map((file, i) => ({ name: `bind${i}`, file })),
    ])
    const pinned = {
      ...spec,
      root: spec.ephemeral ? scratchOver(place, root!) : root!,
      ephemeral: false,
      bindMounts: spec.bindMounts.map((mount, i) => ({ ...mount, hostPath: binds[i]! })),
    }
    config = { ...supervisorConfig(id, pinned, caller, host), pinned: place }
  } finally {
    sources.release()
  }
  // Root's own copy of the configuration, new each start (never one a caller wrote).
  rmSync(files.config, { force: true })
  const configFd = openSync(files.config, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
  try {
    writeSync(configFd, JSON.stringify(config, null, 2))
  } finally {
    closeSync(configFd)
  }
  const out = openSync(files.supervisorLog, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600)
  try {
    fchownSync(out, caller.uid, caller.gid)
    const { argv, env } = programCommand('nspawn-supervisor')
    log({ exec: [...argv, files.config] })
    const child = spawn(argv[0]!, [...argv.slice(1), files.config], { detached: true, stdio: ['ignore', out, out], env: { ...process.env, ...env }, cwd: '/' })
    child.unref()
    return { pid: child.pid ?? 0 }
  } finally {
    closeSync(out)
  }
}
