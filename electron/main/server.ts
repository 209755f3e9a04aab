// Composition root for both transports: the same services behind one RpcServer.
import { RpcServer, type MethodHandlers, type StreamHandlers } from '../../shared/rpc/server'
import { toWireError } from '../../shared/errors'
import { QemuBackend } from './backends/qemu/qemu-backend'
import { qemuVersion } from './backends/qemu/emulator'
import { NspawnBackend } from './backends/nspawn/nspawn-backend'
import { checkNewRoot, makeRoot } from './backends/nspawn/roots'
import { PrivilegedHelper } from './privileged'
import { NetworkService } from './services/networks'
import { readiness } from './services/readiness'
import { dirname, join } from 'node:path'
import type { AcceleratorChoice } from './backends/qemu/accel'
import { describeHostFirmware, findUefiFirmware } from './backends/qemu/firmware'
import { ensurePrivateFolders, resolvePaths, type BerthPaths } from './paths'
import { MachineService } from './services/machines'
import { MachineStore } from './store/machine-store'
import { receiveUpload } from './services/uploads'
import { DisplayProxy } from './services/display-proxy'
import { XenBackend } from './backends/xen/xen-backend'
import { HostService } from './hosts/host-service'
import { MetricsService } from './metrics/metrics-service'
import { HOST_SERIES, withHost } from './metrics/host'
import { availableParallelism, totalmem } from 'node:os'
import { lookInside } from './os-info/look-inside'
import { detectMedia, importDatabase } from './os-info/detect'
import { FileBrowser } from './files/file-browser'
import { sshPublicKeys } from './files/ssh-keys'
import { hashPassword } from './backends/qemu/cloud-init'
import { BOOT_UNIT, bootUnitText, syncBootUnit } from './services/boot-start'
import { programCommand } from './programs'
import { mkdir } from 'node:fs/promises'

export interface BerthServer {
  rpc: RpcServer
  machines: MachineService
  paths: BerthPaths
  /** A page of Berth's that may show machines' screens (its Origin). */
  allowDisplayOrigin(origin: string): void
  /** Lets go of everything; running machines keep running. */
  dispose(): void
}

export interface BerthServerOptions {
  env?: NodeJS.ProcessEnv
  accelerator?: AcceleratorChoice
  log?: (line: string) => void
}

export async function createBerthServer(options: BerthServerOptions = {}): Promise<BerthServer> {
  const env = options.env ?? process.env
  const paths = resolvePaths(env)
  ensurePrivateFolders(paths)
  const privileged = new PrivilegedHelper(env)
  const qemu = new QemuBackend({
    privileged,
    paths,
    qemuBinary: env.BERTH_QEMU ?? 'qemu-system-x86_64',
    qemuImg: env.BERTH_QEMU_IMG ?? 'qemu-img',
    accelerator: options.accelerator,
  })
  const nspawn = new NspawnBackend({ paths, privileged })
  // Hosts and machines refer to each other (a host with machines cannot be removed): resolved lazily.
  let machines: MachineService | null = null
  const hosts = new HostService(join(dirname(paths.machines), 'hosts.json'), (hostId) => machines?.machinesOnHost(hostId) ?? [])
  await hosts.init()
  const xen = new XenBackend({ hosts, paths, privileged })
  hosts.probeXenWith(async (id) => void (await xen.dom0(id)))
  machines = new MachineService(new MachineStore(paths.machines), { qemu, nspawn, xen }, qemu.qemuImg, [paths.images])
  await machines.init()
  hosts.checkAll()
  const networks = new NetworkService(
    join(dirname(paths.machines), 'networks.json'),
    privileged,
    () => machines.bridgeUsers(),
    (id) => ['running', 'paused', 'starting', 'stopping'].includes(machines.status(id).state),
  )
  await networks.init()
  const metrics = new MetricsService(withHost(machines.metricsSource))
  metrics.start()
  // The image folder is one of the file chooser's places from the start.
  await mkdir(paths.images, { recursive: true, mode: 0o700 })
  const files = new FileBrowser(
    () => [
      { label: 'Home', path: paths.userHome },
      { label: 'Berth’s images', path: paths.images },
    ],
    paths.settings,
  )
  const displays = new DisplayProxy(options.log)
  await displays.start()

  const hostReadiness = async () =>
    readiness({
      qemuBinary: qemu.qemuBinary,
      qemuImg: qemu.qemuImg,
      accelerator: await qemu.accelerator(),
      nspawn: nspawn.nspawnBinary,
      otherQemus: machines.otherQemus(),
      bootUnit: machines.autoStartTimeoutSec() === null ? null : join(paths.userUnits, BOOT_UNIT),
    })
  const methods: MethodHandlers = {
    'host.info': async () => {
      const choice = await qemu.accelerator()
      return {
        accelerator: choice.accelerator,
        acceleratorReason: choice.reason,
        qemu: { binary: qemu.qemuBinary, version: await qemuVersion(qemu.qemuBinary) },
        paths: { machines: paths.machines, images: paths.images },
        firmware: describeHostFirmware(await findUefiFirmware()),
      }
    },
    'host.readiness': async () => ({ checks: await hostReadiness() }),
    'host.loadModule': async ({ module }) => {
      await privileged.request('module.load', { name: module })
      return { checks: await hostReadiness() }
    },
    'machines.list': async () => machines.list(),
    'machines.preview': async ({ spec, id }) => machines.preview(spec, id),
    'machines.create': async ({ spec }) => machines.create(spec),
    'machines.update': async ({ id, spec }) => machines.updateSpec(id, spec),
    'machines.start': async ({ id }) => machines.start(id),
    // Stopping, pausing or resetting a VM waits for its screen's viewers to be connected through.
    'machines.stop': async ({ id, force, timeoutSec }) => displays.afterSettling(id, () => machines.stop(id, { force, timeoutSec })),
    'machines.pause': async ({ id }) => displays.afterSettling(id, () => machines.pause(id)),
    'machines.resume': async ({ id }) => machines.resume(id),
    'machines.reboot': async ({ id }) => displays.afterSettling(id, () => machines.reboot(id)),
    'hosts.list': async () => ({ hosts: hosts.list() }),
    'hosts.probe': async ({ ssh }) => hosts.probe(ssh),
    'hosts.add': async ({ spec }) => hosts.add(spec),
    'hosts.remove': async ({ id }) => (await hosts.remove(id), { removed: true as const }),
    'hosts.dom0': async ({ id }) => xen.dom0(id),
    'machines.remove': async ({ id, deleteImages }) => machines.remove(id, { deleteImages }),
    'display.open': async ({ id }) => {
      const { socket, protocol } = machines.displaySocket(id)
      return { url: displays.issue(id, socket, protocol), protocol }
    },
    'display.screenshot': async ({ id }) => ({ png: Buffer.from(await machines.screenshot(id)).toString('base64') }),
    'images.list': async () => machines.listImages(),
    'images.inspect': async ({ path }) => machines.inspectImage(path),
    'media.lookInside': async ({ path }) => lookInside(await machines.inspectImage(path), (await qemu.accelerator()).accelerator === 'kvm'),
    'media.detect': async ({ path }) => detectMedia(path, { osinfoDir: paths.osinfo, host: { memoryMiB: Math.floor(totalmem() / 1024 / 1024), cores: availableParallelism() } }),
    'media.importDatabase': async ({ path }) => ({ database: await importDatabase(path, paths.osinfo) }),
    'files.list': async ({ dir }) => files.list(dir),
    'files.remember': async ({ path }) => ({ recent: await files.remember(path) }),
    'files.addPlace': async ({ path }) => (await files.addPlace(path), {}),
    'keys.list': async () => ({ keys: await sshPublicKeys(paths.userHome) }),
    'cloudInit.hashPassword': async ({ password }) => ({ hash: await hashPassword(password) }),
    'drives.attach': async ({ id, ...request }) => machines.attach(id, request),
    'drives.detach': async ({ id, driveId }) => machines.detach(id, driveId),
    'drives.eject': async ({ id }) => machines.eject(id),
    'drives.size': async ({ id, disk }) => machines.diskSize(id, disk),
    'machines.guestInfo': async ({ id }) => machines.guestInfo(id),
    'machines.resetFirmwareVars': async ({ id }) => machines.resetFirmwareVars(id),
    'machines.clone': async ({ id, name, linked, firmwareState, snapshot, newIdentity }) => machines.clone(id, name, { linked, firmwareState, snapshot, newIdentity }),
    'snapshots.list': async ({ id }) => machines.snapshots(id),
    'snapshots.take': async ({ id, name, description }) => displays.afterSettling(id, () => machines.takeSnapshot(id, name, description)),
    'snapshots.revert': async ({ id, name }) => machines.revertSnapshot(id, name),
    'snapshots.delete': async ({ id, name }) => machines.deleteSnapshot(id, name),
    'networks.list': async () => ({ bridges: await networks.list() }),
    'networks.create': async ({ spec }) => {
      const view = await networks.create(spec)
      rpc.broadcast('networks.changed', {})
      return view
    },
    'networks.remove': async ({ name }) => {
      await networks.remove(name)
      rpc.broadcast('networks.changed', {})
      return { removed: true as const }
    },
  }
  const streams: StreamHandlers = {
    'console.open': async ({ id }, stream) => machines.openConsole(id, stream),
    'metrics.host': async (_input, stream) => {
      const shares = () =>
        machines.metricsSource.running().flatMap((id) => {
          const last = metrics.latest(id)
          return last ? [{ id, cpu: last.cpu, memory: last.memory }] : []
        })
      const cores = availableParallelism()
      const stop = metrics.watch(HOST_SERIES, ({ samples }) => !stream.closed && stream.control({ samples, cores, shares: shares() }), 3600_000)
      stream.onClose(stop)
    },
    'metrics.watch': async ({ id, historySeconds }, stream) => {
      machines.metricsOf(id)
      const stop = metrics.watch(id, (update) => !stream.closed && stream.control(update), historySeconds * 1000)
      stream.onClose(stop)
    },
    'shell.open': async ({ id }, stream) => machines.openShell(id, stream),
    'drives.grow': async ({ id, disk, sizeMiB }, stream) => {
      await machines.checkGrowth(id, disk, sizeMiB)
      void machines.grow(id, disk, sizeMiB, (steps) => !stream.closed && stream.control({ steps })).then(
        () => {
          stream.control({ done: true })
          stream.close()
        },
        (error: unknown) => stream.close(toWireError(error)),
      )
    },
    'roots.create': async ({ name, source }, stream) => {
      await checkNewRoot(paths, name, source)
      const abort = new AbortController()
      stream.onControl(() => abort.abort())
      stream.onClose(() => abort.abort())
      const encoder = new TextEncoder()
      void makeRoot(paths, name, source, {
        signal: abort.signal,
        onLog: (line) => !stream.closed && stream.send(encoder.encode(`${line}\n`)),
        onProgress: (progress) => !stream.closed && stream.control(progress),
      }).then(
        (path) => {
          stream.control({ path })
          stream.close()
        },
        (error: unknown) => stream.close(toWireError(error)),
      )
    },
    'images.upload': async (input, stream) =>
      receiveUpload(paths.images, input, stream, async (path) => void (await machines.inspectImage(path))),
  }
  const rpc = new RpcServer({ methods, streams, onRefused: (reason) => options.log?.(`refused: ${reason}`) })
  hosts.onDidChange(() => rpc.broadcast('hosts.changed', {}))
  // The boot unit follows the definitions: there while some container is marked autoStart.
  let bootUnit = Promise.resolve()
  const syncBootStart = () => {
    const timeoutSec = machines.autoStartTimeoutSec()
    const unit = timeoutSec === null ? null : bootUnitText(autostartCommand(env), timeoutSec)
    bootUnit = bootUnit.then(() => syncBootUnit(paths.userUnits, unit)).catch((error: Error) => options.log?.(`boot unit: ${error.message}`))
  }
  syncBootStart()
  machines.onDidChange((id) => {
    const definition = machines.find(id)
    rpc.broadcast('machines.changed', { id, machine: definition && machines.view(definition) })
    const state = machines.status(id).state
    if (state !== 'running' && state !== 'paused') displays.closeMachine(id)
    syncBootStart()
  })
  return {
    rpc,
    machines,
    paths,
    allowDisplayOrigin: (origin) => displays.allowOrigin(origin),
    dispose: () => {
      metrics.dispose()
      void displays.close()
      qemu.dispose()
      nspawn.dispose()
      xen.dispose()
      hosts.dispose()
      privileged.dispose()
    },
  }
}

/** The boot unit's command: the autostart program, with the settings that locate this user's Berth. */
function autostartCommand(env: NodeJS.ProcessEnv): { argv: string[]; env: Record<string, string> } {
  const { argv, env: programEnv } = programCommand('autostart')
  const located = Object.fromEntries(
    (['BERTH_HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME'] as const).flatMap((key) => (env[key] ? [[key, env[key]!]] : [])),
  )
  return { argv, env: { ...programEnv, ...located } }
}
