// The privileged helper as pkexec starts it for a user who is not root (PKEXEC_UID), asked by that
// user for what would give them root or reach what is not theirs. Every attempt is made for real
// against the real helper, running as root: each is refused with its reason and nothing on the host
// changes. What the policy allows (a container in their own folder, their own bridge and tap) works,
// and runs as them: the container in a user namespace, the tap owned by them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { programCommand } from '../main/programs'
import { makeBusyboxRoot, containerRoot } from '../main/testing/container-root'
import { containerFiles } from '../main/backends/nspawn/supervisor-protocol'
import { waitGone } from '../main/testing/cleanup'
import { unpinAll } from './pin'

const user = 'berth-hostile'
let uid = 0
let home = ''
let helper: ChildProcess
let buffered = ''
const answers = new Map<number, { ok: boolean; result?: unknown; error?: { message: string } }>()
let nextId = 1
const helperLog = '/var/log/berth/helper.log'
const execsLogged = () => (existsSync(helperLog) ? readFileSync(helperLog, 'utf8').split('\n').filter((l) => l.includes('"exec"')).length : 0)

/** Asks the helper and waits for its answer. */
async function ask(verb: string, args: unknown): Promise<{ ok: boolean; result?: unknown; message: string }> {
  const id = nextId++
  helper.stdin!.write(`${JSON.stringify({ id, verb, args })}\n`)
  const deadline = Date.now() + 30_000
  while (!answers.has(id)) {
    if (helper.exitCode !== null) throw new Error(`The helper exited with ${helper.exitCode} before answering ${verb}`)
    if (Date.now() > deadline) throw new Error(`The helper did not answer ${verb} within 30 s`)
    await new Promise((r) => setTimeout(r, 10))
  }
  const answer = answers.get(id)!
  return { ok: answer.ok, result: answer.result, message: answer.error?.message ?? '' }
}

const link = (name: string) => existsSync(`/sys/class/net/${name}`)
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' })
const spec = (name: string, extra: Record<string, unknown> = {}) => ({ kind: 'nspawn', name, root: join(home, 'roots', name), ...extra })

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('The hostile-caller tests run as root (CI does): they start the helper the way pkexec does')
  home = mkdtempSync('/tmp/berth-hostile-home-')
  spawnSync('userdel', [user])
  execFileSync('useradd', ['--system', '--no-create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', user])
  uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim())
  chownSync(home, uid, uid)
  chmodSync(home, 0o700)
  ip('link', 'add', 'bh-uplink', 'type', 'veth', 'peer', 'name', 'bh-peer')
  ip('link', 'add', 'bh-sysbr', 'type', 'bridge')
  const { argv, env } = programCommand('helper')
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, PKEXEC_UID: String(uid) }
  delete childEnv.BERTH_HOME
  helper = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], env: childEnv })
  helper.stdout!.setEncoding('utf8').on('data', (text: string) => {
    buffered += text
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) {
      const answer = JSON.parse(line) as { id: number; ok: boolean }
      answers.set(answer.id, answer)
    }
  })
})

afterAll(async () => {
  if (helper && helper.exitCode === null) {
    const exited = new Promise((r) => helper.once('exit', r))
    helper.stdin!.end()
    await exited
  }
  for (const name of ['bh-uplink', 'bh-sysbr', 'bh-br', 'bh-tap']) spawnSync('ip', ['link', 'del', name])
  spawnSync('userdel', [user])
  rmSync(home, { recursive: true, force: true })
  rmSync(join('/run/berth', String(uid)), { recursive: true, force: true })
  rmSync(join('/var/log/berth', String(uid)), { recursive: true, force: true })
  unpinAll('/var/lib/machines', uid, 'cccccccccccc')
  spawnSync('rmdir', [`/var/lib/machines/.berth-pinned/${uid}`])
})

describe('the helper, asked by a user who is not root (as pkexec starts it)', () => {
  it('never runs a caller-written supervisor configuration or program', async () => {
    // What the old verb took: a config naming a "systemd-nspawn" of the caller's that would run as root.
    const fake = join(home, 'bin', 'systemd-nspawn')
    mkdirSync(join(home, 'bin'))
    writeFileSync(fake, `#!/bin/sh\ntouch ${home}/pwned\n`, { mode: 0o755 })
    writeFileSync(join(home, 'supervisor.json'), JSON.stringify({ id: 'aaaaaaaaaaaa', argv: [fake], cleanup: [['ip', 'netns', 'exec', 'x', '/bin/sh']] }))
    const before = execsLogged()
    const answer = await ask('container.start', { config: join(home, 'supervisor.json') })
    expect(answer).toMatchObject({ ok: false, message: expect.stringMatching(/^Bad arguments for container.start/) })
    expect(existsSync(join(home, 'pwned'))).toBe(false)
    expect(execsLogged()).toBe(before)
  })

  it('refuses containers beyond the policy, saying what goes beyond it, and starts nothing', async () => {
    const mine = makeBusyboxRoot(join(home, 'roots', 'ct'))
    execFileSync('chown', ['-R', `${uid}:${uid}`, join(home, 'roots')])
    symlinkSync('/', join(home, 'roots', 'escape'))
    const cases: [Record<string, unknown>, string][] = [
      [spec('host', { root: '/' }), 'its root / is neither /var/lib/machines/host nor a folder of yours'],
      [spec('escape'), `its root ${join(home, 'roots', 'escape')} is neither /var/lib/machines/escape nor a folder of yours`],
      [spec('ct', { bindMounts: [{ mountPoint: '/host', hostPath: '/', isReadOnly: false }] }), 'it mounts /, which is not a folder of yours'],
      [spec('ct', { bindMounts: [{ mountPoint: '/etc/shadow', isReadOnly: true }] }), 'it mounts /etc/shadow, which is not a folder of yours'],
      [spec('ct', { additionalCapabilities: ['all'] }), 'it asks for every capability'],
      [spec('ct', { additionalCapabilities: ['CAP_SYS_ADMIN'] }), 'it asks for CAP_SYS_ADMIN'],
      [spec('ct', { additionalCapabilities: ['sys_module'] }), 'it asks for CAP_SYS_MODULE'],
      [spec('ct', { allowedDevices: [{ node: '/dev/mem', modifier: 'r' }] }), 'it uses the host device /dev/mem'],
      [spec('ct', { extraFlags: ['--bind=/:/host'] }), 'it passes its own flags to systemd-nspawn (--bind=/:/host)'],
      [spec('ct', { interfaces: ['bh-uplink'] }), "it takes the host's network interfaces bh-uplink away from the host"],
    ]
    const before = execsLogged()
    for (const [request, reason] of cases) {
      const answer = await ask('container.start', { id: 'bbbbbbbbbbbb', spec: request })
      expect(answer.ok, reason).toBe(false)
      expect(answer.message).toBe(`Starting ${String(request.name)} needs an administrator's password, which was not given: ${reason}`)
    }
    // Caught by the spec's schema before the policy: /dev/.. and a line break into the .nspawn file.
    for (const request of [spec('ct', { allowedDevices: [{ node: '/dev/../etc/shadow', modifier: 'r' }] }), spec('ct', { init: { type: 'command', argv: ['/bin/sh', 'a\nBind=/'] } })])
      expect((await ask('container.start', { id: 'bbbbbbbbbbbb', spec: request })).message).toMatch(/^Bad arguments for container.start/)
    expect(execsLogged()).toBe(before)
    expect(existsSync(containerFiles(uid, 'bbbbbbbbbbbb').config)).toBe(false)
    expect(mine).toBe(join(home, 'roots', 'ct'))
  })

  it("starts a container in the user's own folder as them: a user namespace, files theirs in root's folders", async () => {
    const id = 'cccccccccccc'
    const files = containerFiles(uid, id)
    const answer = await ask('container.start', { id, spec: spec('ct', { init: { type: 'command', argv: ['/bin/sh', '-c', `echo ${containerRoot.readyMarker}; cat /proc/self/uid_map; sleep 60`] } }) })
    expect(answer).toMatchObject({ ok: true })
    const supervisor = (answer.result as { pid: number }).pid
    try {
      const deadline = Date.now() + 30_000
      const log = () => (existsSync(files.log) ? readFileSync(files.log, 'utf8') : '')
      while (!/\d+\s+\d+\s+\d+/.test(log().split(containerRoot.readyMarker)[1] ?? '')) {
        if (Date.now() > deadline) throw new Error(`The container did not print its uid map; its console:\n${log()}\nsupervisor:\n${existsSync(files.supervisorLog) ? readFileSync(files.supervisorLog, 'utf8') : ''}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      // Its root is not the host's root: uid 0 inside maps to an unprivileged range outside.
      const [inside, outside] = log().split(containerRoot.readyMarker)[1]!.trim().split(/\s+/).map(Number)
      expect(inside).toBe(0)
      expect(outside).toBeGreaterThan(0)
      for (const file of [files.log, files.status, files.control, files.console, files.supervisorLog]) {
        const info = lstatSync(file)
        expect([file, info.uid, info.mode & 0o077]).toEqual([file, uid, 0])
      }
      for (const dir of [files.run, files.logs]) expect([dir, lstatSync(dir).uid, lstatSync(dir).isSymbolicLink()]).toEqual([dir, 0, false])
      // What root keeps is root's: the configuration it wrote. nspawn is given the folder root checked,
      // held and mounted in root's own folder, never the user's path.
      expect(statSync(files.config).uid).toBe(0)
      const { nspawnArgs } = JSON.parse(readFileSync(files.config, 'utf8')) as { nspawnArgs: string[] }
      const directory = nspawnArgs.find((a) => a.startsWith('--directory='))!.slice('--directory='.length)
      expect(directory).toMatch(new RegExp(`^/var/lib/machines/\\.berth-pinned/${uid}/${id}\\.[0-9a-z]+/root$`))
      expect(readdirSync(directory).sort()).toEqual(readdirSync(join(home, 'roots', 'ct')).sort())
    } finally {
      const control = createConnection(files.control)
      await new Promise((r) => control.once('connect', r))
      control.write(`${JSON.stringify({ op: 'stop', force: true, timeoutSec: 0 })}\n`)
      await waitGone([supervisor], 15_000)
      control.destroy()
    }
    expect((await ask('container.forget', { id })).ok).toBe(true)
    expect([existsSync(files.run), existsSync(files.logs)]).toEqual([false, false])
    expect(readdirSync(`/var/lib/machines/.berth-pinned/${uid}`)).toEqual([])
  })

  it("acts only on links it made for the user; the host's own need an administrator", async () => {
    const before = execsLogged()
    const refusals: [string, unknown, RegExp][] = [
      ['bridge.delete', { name: 'bh-sysbr' }, /^bh-sysbr is not a bridge Berth made/],
      ['link.master', { name: 'bh-uplink', master: 'bh-sysbr' }, /^bh-sysbr is not a bridge Berth made/],
      ['tap.create', { name: 'bh-tap', bridge: 'bh-sysbr' }, /^Joining bh-sysbr needs an administrator's password/],
      ['tap.create', { name: 'bh-tap', owner: 0, bridge: null }, /^Bad arguments for tap.create/],
      ['address.add', { name: 'bh-uplink', address: '10.77.0.1/24' }, /^Changing the addresses of bh-uplink needs an administrator's password/],
      ['route.default', { via: '10.77.0.254', dev: 'bh-uplink' }, /^Changing the host's default route needs an administrator's password/],
      ['dhcp.start', { bridge: 'bh-uplink', from: '10.77.0.10', to: '10.77.0.20' }, /^bh-uplink is not a bridge Berth made/],
      ['nat.enable', { bridge: 'bh-sysbr', uplink: 'bh-uplink', subnet: '0.0.0.0/0' }, /^Bad arguments|^bh-sysbr is not a bridge Berth made/],
      ['tap.delete', { name: 'bh-uplink' }, /^bh-uplink is not a tap device/],
    ]
    for (const [verb, args, reason] of refusals) {
      const answer = await ask(verb, args)
      expect([verb, answer.ok, answer.message]).toEqual([verb, false, expect.stringMatching(reason)])
    }
    expect(execsLogged()).toBe(before)
    expect(existsSync('/sys/class/net/bh-uplink/master')).toBe(false)
    expect(link('bh-sysbr')).toBe(true)
    expect(ip('-j', 'addr', 'show', 'dev', 'bh-uplink')).not.toContain('10.77.0.1')

    // Its own bridge, and a tap on it that belongs to the user.
    expect((await ask('bridge.create', { name: 'bh-br' })).ok).toBe(true)
    expect((await ask('tap.create', { name: 'bh-tap', bridge: 'bh-br' })).ok).toBe(true)
    expect(readFileSync('/sys/class/net/bh-tap/owner', 'utf8').trim()).toBe(String(uid))
    expect((await ask('nat.enable', { bridge: 'bh-br', uplink: 'bh-uplink', subnet: '0.0.0.0/0' })).message).toBe("0.0.0.0/0 is not a bridge's subnet: NAT is for a subnet of /8 to /30")
    expect((await ask('tap.delete', { name: 'bh-tap' })).ok).toBe(true)
    expect((await ask('bridge.delete', { name: 'bh-br' })).ok).toBe(true)
    expect([link('bh-tap'), link('bh-br')]).toEqual([false, false])
  })

  it("never kills a pid planted in the user's folders, and acts only on Xen domains it created", async () => {
    const victim = spawn('sleep', ['60'], { stdio: 'ignore' })
    const planted = join('/run/user', String(uid), 'berth', 'helper')
    mkdirSync(planted, { recursive: true })
    writeFileSync(join(planted, 'dnsmasq-bh-sysbr.pid'), `${victim.pid}\n`)
    expect(await ask('dhcp.stop', { bridge: 'bh-sysbr' })).toMatchObject({ ok: false, message: 'No DHCP server of Berth runs on bh-sysbr' })
    expect(existsSync(`/proc/${victim.pid}`)).toBe(true)
    victim.kill('SIGKILL')
    rmSync(join('/run/user', String(uid)), { recursive: true, force: true })

    const before = execsLogged()
    const domain = { kind: 'xen', name: 'dom', host: 'local', type: 'pv', memoryMiB: 128, vcpus: 1, kernel: join(home, 'vmlinuz') }
    writeFileSync(join(home, 'vmlinuz'), 'not really a kernel')
    chownSync(join(home, 'vmlinuz'), uid, uid)
    const xen: [Record<string, unknown>, string][] = [
      [{ ...domain, disks: [{ target: '/dev/vda', vdev: 'xvda' }] }, `its disk xvda /dev/vda is not a file of yours`],
      [{ ...domain, ramdisk: '/etc/shadow' }, 'its ramdisk /etc/shadow is not a file of yours'],
      [{ ...domain, shares: [{ tag: 'root', path: '/' }] }, 'it shares /, which is not a folder of yours'],
    ]
    for (const [request, reason] of xen)
      expect((await ask('xen.create', { id: 'dddddddddddd', spec: request })).message).toBe(
        `Creating the Xen domain dom needs an administrator's password, which was not given: ${reason}`,
      )
    for (const name of ['Domain-0', '0'])
      expect((await ask('xen.domain', { action: 'destroy', name })).message).toMatch(/^Bad arguments for xen.domain/)
    expect((await ask('xen.domain', { action: 'shutdown', name: 'someone-elses' })).message).toBe(
      'someone-elses is not a domain Berth created: the helper acts only on its own domains',
    )
    expect(execsLogged()).toBe(before)
    expect(existsSync('/var/lib/berth/xen') ? readdirSync('/var/lib/berth/xen').filter((f) => f.startsWith('dddddddddddd')) : []).toEqual([])

    // The user's own kernel is allowed: xl is given the place where root mounted what it checked.
    const own = await ask('xen.create', { id: 'eeeeeeeeeeee', spec: domain })
    expect(own.ok).toBe(false) // no Xen under this host: xl create itself fails, after the config is written
    const config = readFileSync('/var/lib/berth/xen/eeeeeeeeeeee.cfg', 'utf8')
    const kernel = /^kernel = "(.*)"$/m.exec(config)![1]!
    expect(kernel).toMatch(new RegExp(`^/var/lib/berth/xen/\\.berth-pinned/${uid}/eeeeeeeeeeee\\.[0-9a-z]+/kernel$`))
    expect(readFileSync(kernel, 'utf8')).toBe('not really a kernel')
    expect((await ask('xen.removeConfig', { id: 'eeeeeeeeeeee' })).ok).toBe(true)
    expect(existsSync(kernel)).toBe(false)
    expect(readFileSync(join(home, 'vmlinuz'), 'utf8')).toBe('not really a kernel')
  })
})
