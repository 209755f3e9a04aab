// Real systemd-nspawn on a busybox root, driven through Berth's own API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import type { NspawnSpecInput } from '../../../../shared/model/container'
import { startHarness, waitForState, waitUntil, watchConsole, type Harness } from '../../testing/harness'
import { containerRoot, makeBusyboxRoot } from '../../testing/container-root'
import { cgroup2Root, containerCgroup } from './cgroup'
import { containerFiles } from './supervisor-protocol'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

/** Each container gets a root of its own: nspawn locks the tree it runs. */
const spec = (name: string, extra: Partial<NspawnSpecInput> = {}): NspawnSpecInput => ({
  kind: 'nspawn',
  name,
  root: makeBusyboxRoot(join(h.home, 'roots', name)),
  ...extra,
})
const statusOf = async (id: string) => (await h.client.call('machines.list', {})).machines.find((m) => m.id === id)!

describe('nspawn backend (real systemd-nspawn)', () => {
  it('boots, shows a prompt in a pty, runs a command, stops gracefully, outlives Berth and is re-attached', async () => {
    const machine = await h.client.call('machines.create', { spec: spec('boot') })
    const started = await h.client.call('machines.start', { id: machine.id })
    expect(started.state).toBe('running')
    const viewer = await watchConsole(h.client, machine.id)
    await viewer.waitFor(containerRoot.readyMarker, 20_000)
    await viewer.waitFor(containerRoot.prompt, 20_000)
    viewer.type('echo marker-$((6*7)); cat /proc/1/comm\r')
    await viewer.waitFor('marker-42')

    // The terminal follows the viewer's size.
    viewer.stream.control({ cols: 101, rows: 33 })
    await new Promise((r) => setTimeout(r, 200))
    viewer.type('stty size\r')
    await viewer.waitFor('33 101')

    // Berth goes away; the container keeps running and its output meanwhile is not lost.
    viewer.type('sleep 1; echo while-away-$((2*21))\r')
    await viewer.waitFor('echo while-away-$((2*21))')
    await h.restart()
    await new Promise((r) => setTimeout(r, 1500))
    expect((await statusOf(machine.id)).state).toBe('running')
    const again = await watchConsole(h.client, machine.id)
    await again.waitFor('while-away-42')
    again.type('echo back-$((3*3))\r')
    await again.waitFor('back-9')

    const stopped = await h.client.call('machines.stop', { id: machine.id, force: false, timeoutSec: 20 })
    expect(stopped.state).toBe('stopped')
    expect(stopped.lastError).toBeNull()
    await again.waitFor('BERTH-CONTAINER-STOPPING')
    // Every process of the container is gone and so is its cgroup.
    const cgroups = cgroup2Root()
    if (cgroups) await expectGone(containerCgroup(cgroups, machine.id))
  })

  it('restarts the container when it reboots (exit code 133)', async () => {
    const machine = await h.client.call('machines.create', { spec: spec('reboot') })
    await h.client.call('machines.start', { id: machine.id })
    const viewer = await watchConsole(h.client, machine.id)
    await viewer.waitFor(containerRoot.prompt, 20_000)
    viewer.type('reboot\r')
    await waitUntil('the supervisor to restart the container once', async () => readStatusFile(machine.id).restarts === 1, 20_000, () => JSON.stringify(readStatusFile(machine.id)))
    await waitForState(h.client, machine.id, 'running', 20_000)
    // The same console shows the second boot.
    await viewer.waitFor(new RegExp(`${containerRoot.readyMarker}[^]*${containerRoot.readyMarker}`), 20_000)
    await h.client.call('machines.stop', { id: machine.id, force: false, timeoutSec: 20 })
  })

  it('force-stops a container that ignores the poweroff request, ending every process', async () => {
    // A command container whose program ignores SIGTERM: the graceful stop runs out of time.
    const machine = await h.client.call('machines.create', {
      spec: spec('stubborn', { init: { type: 'command', argv: ['/bin/sh', '-c', "trap '' TERM; echo STUBBORN; while :; do sleep 1; done"] } }),
    })
    await h.client.call('machines.start', { id: machine.id })
    const viewer = await watchConsole(h.client, machine.id)
    await viewer.waitFor('STUBBORN')
    const t0 = Date.now()
    const stopped = await h.client.call('machines.stop', { id: machine.id, force: false, timeoutSec: 1 })
    expect(stopped.state).toBe('stopped')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900)
    const cgroups = cgroup2Root()
    if (cgroups) await expectGone(containerCgroup(cgroups, machine.id))

    // Force stop at once.
    await h.client.call('machines.start', { id: machine.id })
    const forced = await h.client.call('machines.stop', { id: machine.id, force: true, timeoutSec: 0 })
    expect(forced.state).toBe('stopped')
  })

  it('pauses (freezes) and resumes a container', async () => {
    const machine = await h.client.call('machines.create', { spec: spec('freeze') })
    await h.client.call('machines.start', { id: machine.id })
    const viewer = await watchConsole(h.client, machine.id)
    await viewer.waitFor(containerRoot.prompt, 20_000)
    expect((await h.client.call('machines.pause', { id: machine.id })).state).toBe('paused')
    viewer.type('echo thawed-$((5*5))\r')
    await new Promise((r) => setTimeout(r, 500))
    expect(viewer.text).not.toContain('thawed-25') // frozen: nothing runs
    expect((await h.client.call('machines.resume', { id: machine.id })).state).toBe('running')
    await viewer.waitFor('thawed-25')
    await h.client.call('machines.stop', { id: machine.id, force: true, timeoutSec: 0 })
  })

  it('opens a shell inside a running container; the shell ends with it', async () => {
    const machine = await h.client.call('machines.create', { spec: spec('shell') })
    await h.client.call('machines.start', { id: machine.id })
    let text = ''
    let closed = false
    const shell = await h.client.openStream('shell.open', { id: machine.id }, {
      onData: (bytes) => void (text += new TextDecoder().decode(bytes)),
      onClose: () => void (closed = true),
    })
    shell.write(new TextEncoder().encode('echo in-shell-$((7*6)) $(cat /proc/1/comm)\r'))
    await waitUntil("the shell to answer 'in-shell-42 init'", async () => text.includes('in-shell-42 init'), 10_000, () => text)
    await h.client.call('machines.stop', { id: machine.id, force: false, timeoutSec: 20 })
    await waitUntil('the shell stream to close', async () => closed, 5000)
    const refused = await h.client.openStream('shell.open', { id: machine.id }, {}).catch((e: BerthError) => e)
    expect(refused).toMatchObject({ code: 'conflict', message: 'Start shell to open a shell in it' })
  })

  it('a SIGKILL of nspawn ends every process of the container (then it restarts); a SIGKILL of its supervisor too (then it crashed)', async () => {
    const cgroups = cgroup2Root()
    expect(cgroups, 'this host needs a cgroup2 hierarchy').not.toBeNull()
    const machine = await h.client.call('machines.create', { spec: spec('killed') })
    await h.client.call('machines.start', { id: machine.id })
    const cgroup = containerCgroup(cgroups!, machine.id)
    const pids = (dir: string) => readFileSync(join(cgroup, dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
    const container = pids('payload')
    const [nspawn] = pids('supervisor')
    expect(container.length).toBeGreaterThan(0)
    process.kill(nspawn!, 'SIGKILL')
    await waitUntil('the supervisor to restart the container once', async () => readStatusFile(machine.id).restarts === 1, 10_000, () => JSON.stringify(readStatusFile(machine.id)))
    await waitUntil('every process of the container to end', async () => container.every(ended), 5000)
    await waitForState(h.client, machine.id, 'running', 20_000)

    const again = pids('payload')
    const { supervisorPid } = JSON.parse(readFileSync(containerFiles(0, machine.id).status, 'utf8')) as { supervisorPid: number }
    process.kill(supervisorPid, 'SIGKILL')
    await waitForState(h.client, machine.id, 'crashed', 10_000)
    expect((await statusOf(machine.id)).lastError).toMatch(/supervisor ended unexpectedly/)
    await waitUntil('every process of the container to end', async () => again.every(ended), 5000)
    // And it starts again from there.
    expect((await h.client.call('machines.start', { id: machine.id })).state).toBe('running')
    await h.client.call('machines.stop', { id: machine.id, force: true, timeoutSec: 0 })
  })

  it('autoStart: started when Berth starts, and at boot by the systemd unit Berth keeps for it', async () => {
    const machine = await h.client.call('machines.create', { spec: spec('auto', { autoStart: true }) })
    expect(machine.state).toBe('stopped')
    await h.restart()
    await waitForState(h.client, machine.id, 'running', 20_000)
    await h.client.call('machines.stop', { id: machine.id, force: true, timeoutSec: 0 })

    // The user unit, enabled for default.target as systemctl --user enable would, and valid for systemd.
    const units = join(h.home, 'config', 'systemd-user')
    const unit = join(units, 'berth-autostart.service')
    expect(readlinkSync(join(units, 'default.target.wants', 'berth-autostart.service'))).toBe('../berth-autostart.service')
    const runtime = mkdtempSync(join(tmpdir(), 'berth-systemd-'))
    try {
      execFileSync('systemd-analyze', ['verify', '--user', unit], { env: { ...process.env, XDG_RUNTIME_DIR: runtime }, stdio: 'pipe' })
    } finally {
      rmSync(runtime, { recursive: true, force: true })
    }
    // What systemd runs at boot, Berth not running: the unit's command with its environment.
    const text = readFileSync(unit, 'utf8')
    const words = (line: string) => [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, w]) => w!.replace(/\\(.)/g, '$1').replace(/\$\$/g, '$').replace(/%%/g, '%'))
    const argv = words(/^ExecStart=(.*)$/m.exec(text)![1]!)
    const env = Object.fromEntries([...text.matchAll(/^Environment=(.*)$/gm)].map(([, line]) => words(line!)[0]!.split(/=(.*)/s).slice(0, 2)))
    expect(env.BERTH_HOME).toBe(h.home)
    let said = ''
    await h.restart(async () => {
      said = execFileSync(argv[0]!, argv.slice(1), { env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...env }, encoding: 'utf8', timeout: 60_000 })
    })
    expect(said).toContain('auto: running')
    expect((await statusOf(machine.id)).state).toBe('running')
    const readiness = (await h.client.call('host.readiness', {})).checks.find((c) => c.id === 'boot-start')
    expect(readiness?.detail).toContain(unit)
    await h.client.call('machines.stop', { id: machine.id, force: true, timeoutSec: 0 })

    // No container marked autoStart: no unit.
    const { spec: defined } = await statusOf(machine.id)
    if (defined.kind !== 'nspawn') throw new Error('not a container')
    await h.client.call('machines.update', { id: machine.id, spec: { ...defined, autoStart: false } })
    await waitUntil('the boot unit to go', async () => !existsSync(unit), 5000)
    expect(existsSync(join(units, 'default.target.wants', 'berth-autostart.service'))).toBe(false)
  })

  it('refuses a root that is not an OS tree and an unknown capability, writing nothing', async () => {
    const definitions = () => readdirSync(join(h.home, 'config', 'machines')).sort()
    const before = definitions()
    const bad = await h.client
      .call('machines.create', { spec: spec('bad', { root: h.home, additionalCapabilities: ['CAP_FLY'] }) })
      .catch((e: BerthError) => e)
    const fields = ((bad as BerthError).details as { fields: Record<string, string> }).fields
    expect(fields['spec.additionalCapabilities.0']).toBe('CAP_FLY is not a Linux capability (see capabilities(7)), e.g. CAP_NET_ADMIN')
    const notTree = await h.client.call('machines.create', { spec: spec('bad', { root: h.home }) }).catch((e: BerthError) => e)
    expect(((notTree as BerthError).details as { fields: Record<string, string> }).fields.root).toMatch(/is not an operating system tree/)
    const long = await h.client
      .call('machines.create', { spec: spec('averylongname', { privateNetwork: true }) })
      .catch((e: BerthError) => e)
    expect(((long as BerthError).details as { fields: Record<string, string> }).fields['spec.name']).toMatch(/at most 11 characters/)
    const missing = await h.client
      .call('machines.create', { spec: spec('bad', { bindMounts: [{ mountPoint: '/data', hostPath: join(h.home, 'nowhere') }] }) })
      .catch((e: BerthError) => e)
    expect(((missing as BerthError).details as { fields: Record<string, string> }).fields['bindMounts.0.hostPath']).toBe(
      `${join(h.home, 'nowhere')} does not exist on this host: create it or choose another folder`,
    )
    const clash = await h.client.call('machines.create', { spec: spec('BOOT') }).catch((e: BerthError) => e)
    expect(((clash as BerthError).details as { fields: Record<string, string> }).fields.name).toBe('A machine named boot already exists: choose another name')
    // Definitions are files named by the machine's id: none was added (or changed) by the refusals.
    expect(definitions()).toEqual(before)
  })

  it('a failing container is restarted a few times (Restart=on-failure), then shown crashed with its last output', async () => {
    const machine = await h.client.call('machines.create', {
      spec: spec('failing', { init: { type: 'command', argv: ['/bin/sh', '-c', 'echo attempt; exit 3'] } }),
    })
    await h.client.call('machines.start', { id: machine.id }).catch(() => undefined)
    await waitForState(h.client, machine.id, 'crashed', 20_000)
    expect(readStatusFile(machine.id).restarts).toBe(5)
    expect((await statusOf(machine.id)).lastError).toMatch(/systemd-nspawn exited with code 3\. Last console lines: .*attempt/)
  })

  it('interfaces and macvlans: a host interface is moved in, another gets a macvlan inside', async () => {
    // One end of a veth pair stands in for a spare NIC (this kernel may have no dummy devices).
    execFileSync('ip', ['link', 'add', 'dummy-berth', 'type', 'veth', 'peer', 'name', 'dummy-peer'])
    try {
      const machine = await h.client.call('machines.create', {
        spec: spec('moved', { privateNetwork: true, interfaces: ['dummy-berth'], macvlans: ['dummy-peer'] }),
      })
      await h.client.call('machines.start', { id: machine.id })
      const viewer = await watchConsole(h.client, machine.id)
      await viewer.waitFor(containerRoot.prompt, 20_000)
      expect(existsSync('/sys/class/net/dummy-berth')).toBe(false) // gone from the host: it is inside
      viewer.type('ip -o link; echo moved-""done\r')
      await viewer.waitFor('moved-done')
      expect(viewer.text).toMatch(/\d+: dummy-berth@if\d+: /)
      expect(viewer.text).toMatch(/\d+: mv-dummy-peer@if\d+: /)
      await h.client.call('machines.stop', { id: machine.id, force: false, timeoutSec: 20 })
    } finally {
      for (const link of ['dummy-berth', 'dummy-peer']) if (existsSync(`/sys/class/net/${link}`)) execFileSync('ip', ['link', 'del', link])
    }
  })
})

/** True once pid has exited (a zombie waiting to be reaped counts as exited). */
function ended(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

function readStatusFile(id: string): { restarts: number } {
  try {
    return JSON.parse(readFileSync(containerFiles(0, id).status, 'utf8')) as { restarts: number }
  } catch {
    return { restarts: -1 }
  }
}

async function expectGone(cgroup: string): Promise<void> {
  await waitUntil(`${cgroup} to be removed`, async () => !existsSync(cgroup), 5000).catch(() => undefined)
  expect(existsSync(cgroup)).toBe(false)
}
