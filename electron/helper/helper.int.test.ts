// The privileged helper for real (as root): its allow-list holds against thousands of hostile
// requests — every one refused, no command run, no crash — and its real verbs do what they say.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { programCommand } from '../main/programs'

let home: string
let helper: ChildProcess
const answers: { id: number | null; ok: boolean; error?: { code: string; message: string } }[] = []
let output = ''

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('The helper tests run as root (CI does)')
  home = mkdtempSync(join(tmpdir(), 'berth-helper-'))
  const { argv, env } = programCommand('helper')
  helper = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env, BERTH_HOME: home } })
  helper.stdout!.setEncoding('utf8').on('data', (text: string) => {
    output += text
    const lines = output.split('\n')
    output = lines.pop()!
    for (const line of lines) answers.push(JSON.parse(line) as (typeof answers)[number])
  })
  helper.stderr!.setEncoding('utf8').on('data', (text: string) => process.stderr.write(text))
})
afterAll(async () => {
  if (helper && helper.exitCode === null) {
    const exited = new Promise((r) => helper.once('exit', r))
    helper.stdin!.end()
    await exited
  }
  rmSync(home, { recursive: true, force: true })
})

const send = (line: string) => helper.stdin!.write(`${line}\n`)
async function answered(count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (answers.length < count) {
    if (Date.now() > deadline) throw new Error(`${answers.length} of ${count} answers`)
    if (helper.exitCode !== null) throw new Error(`The helper exited with ${helper.exitCode}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
const logEntries = () =>
  readFileSync(join(home, 'run', 'helper.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
}

const hostileNames = [
  'br0; rm -rf /', '$(reboot)', '`id`', '../../etc', 'a b', 'averyveryverylongname', '', ' ', 'eth0\nip link del lo',
  '-rf', '--help', 'name\u0000x', 'brü', '*', 'lo/../x', '|cat', '&&', "'", '"', '\\', 'a:b', '%s%s%s',
]
const hostilePaths = ['/etc/shadow', '/tmp/../etc/passwd', 'relative/path', '', '/', '/proc/self/environ', '../../../../etc/passwd', '/dev/sda']

function hostileRequests(count: number): string[] {
  const next = random(42)
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!
  const verbs = ['bridge.create', 'bridge.delete', 'link.master', 'address.add', 'tap.create', 'tap.delete', 'module.load', 'nat.enable', 'nat.disable', 'dhcp.start', 'dhcp.stop', 'container.start']
  const junkVerbs = ['rm', 'exec', 'shell', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'BRIDGE.CREATE', 'bridge.create ', 'xl', 'sh -c', '../bridge.create']
  const makers: (() => string)[] = [
    () => 'not json at all',
    () => '{"id": 1, "verb": "bridge.create", "args": {"name": "br0"}', // cut short
    () => JSON.stringify([1, 2, 3]),
    () => JSON.stringify(null),
    () => JSON.stringify(next() * 1000),
    () => JSON.stringify({ verb: 'bridge.create', args: { name: 'br0' } }), // no id
    () => JSON.stringify({ id: 'one', verb: 'bridge.create', args: { name: 'br0' } }),
    () => JSON.stringify({ id: 1, verb: 'bridge.create', args: { name: 'brok' }, extra: true }),
    () => JSON.stringify({ id: 1, verb: pick(junkVerbs), args: {} }),
    () => JSON.stringify({ id: 1, verb: pick(verbs), args: { name: pick(hostileNames) } }),
    () => JSON.stringify({ id: 1, verb: pick(verbs), args: { name: 'brok', extra: 'x' } }), // extra field
    () => JSON.stringify({ id: 1, verb: pick(verbs), args: null }),
    () => JSON.stringify({ id: 1, verb: pick(verbs), args: 'bridge' }),
    () => JSON.stringify({ id: 1, verb: 'module.load', args: { name: pick(['evil', 'bridge; reboot', 'ext4', '../bridge', 'BRIDGE']) } }),
    () => JSON.stringify({ id: 1, verb: 'address.add', args: { name: 'brok', address: pick(['1.2.3.4; reboot', '999.1.1.1', 'fe80::1::2', '$(id)', '10.0.0.1/99']) } }),
    () => JSON.stringify({ id: 1, verb: 'nat.enable', args: { bridge: 'brok', uplink: pick(hostileNames), subnet: '10.0.0.0/24' } }),
    () => JSON.stringify({ id: 1, verb: 'nat.enable', args: { bridge: 'brok', uplink: 'eth0', subnet: pick(['10.0.0.1', 'any', '0/0; flush ruleset']) } }),
    () => JSON.stringify({ id: 1, verb: 'dhcp.start', args: { bridge: 'brok', from: pick(['10.0.0.10 --conf-file=/etc/shadow', 'x']), to: '10.0.0.20' } }),
    () => JSON.stringify({ id: 1, verb: 'tap.create', args: { name: 'tapok', owner: pick([-1, 'root', 1.5, 2 ** 40]), bridge: null } }),
    () => JSON.stringify({ id: 1, verb: 'container.start', args: { config: pick(hostilePaths) } }),
    () => JSON.stringify({ id: 1, verb: 'container.start', args: { config: join(home, 'run', 'escape', 'supervisor.json') } }),
    () => JSON.stringify({ id: 1, verb: 'container.start', args: { config: join(home, 'run', 'bad.json') } }),
    () => `{"id":1,"verb":"bridge.create","args":{"__proto__":{"name":"br0"}}}`,
    () => `{"id":1,"__proto__":{"verb":"bridge.create"},"args":{"name":"br0"}}`,
    () => JSON.stringify({ id: 1, verb: 'bridge.delete', args: { name: 'lo' } }), // not a bridge: refused
    () => JSON.stringify({ id: 1, verb: 'tap.delete', args: { name: 'lo' } }), // not a tap: refused
    () => JSON.stringify({ id: 1, verb: 'dhcp.stop', args: { bridge: 'nosuchbr' } }), // nothing of Berth's runs there
    () => 'x'.repeat(70 * 1024), // over the size cap, one line
    () => JSON.stringify({ id: 1, verb: 'bridge.create', args: { name: 'a'.repeat(100_000) } }),
  ]
  return Array.from({ length: count }, () => pick(makers)())
}

describe('privileged helper (real, as root)', () => {
  it('refuses thousands of malformed and malicious requests, runs nothing, and keeps serving', async () => {
    // A symlink inside an allowed folder that points outside it, and a file that is not a config.
    mkdirSync(join(home, 'run'), { recursive: true })
    symlinkSync('/etc', join(home, 'run', 'escape'))
    writeFileSync(join(home, 'run', 'bad.json'), JSON.stringify({ id: 'x', argv: ['/bin/sh', '-c', 'reboot'] }))

    const requests = hostileRequests(3000)
    const before = answers.length
    for (const request of requests) send(request)
    await answered(before + requests.length)
    const mine = answers.slice(before)
    expect(mine.every((a) => a.ok === false && a.error && a.error.message.length > 0)).toBe(true)
    expect(helper.exitCode).toBeNull()

    const log = logEntries()
    expect(log.filter((e) => 'exec' in e)).toEqual([]) // no command ran
    expect(log.filter((e) => e.ok === false).length).toBeGreaterThanOrEqual(requests.length)
    // No process of the helper's is left (nothing was started).
    expect(readFileSync(`/proc/${helper.pid}/task/${helper.pid}/children`, 'utf8').trim()).toBe('')
    // Reasons are specific.
    const messages = new Set(mine.map((a) => a.error!.message.split(':')[0]))
    expect([...messages]).toEqual(expect.arrayContaining(['Not JSON', 'Unknown verb', 'Requests are limited to 65536 bytes']))
    // A supervisor configuration, a path or an argv is never taken: only a checked spec.
    expect(mine.some((a) => /^Bad arguments for container.start: .*args: Unrecognized key: "config"/.test(a.error!.message))).toBe(true)
  })

  it("never kills a pid read from the user's folders: dhcp.stop reads only root's own state", async () => {
    // What a hostile user could plant where the helper used to keep dnsmasq's pid file.
    const victim = spawn('sleep', ['60'], { stdio: 'ignore' })
    mkdirSync(join(home, 'run', 'helper'), { recursive: true })
    writeFileSync(join(home, 'run', 'helper', 'dnsmasq-br-victim.pid'), `${victim.pid}\n`)
    const before = answers.length
    send(JSON.stringify({ id: 6001, verb: 'dhcp.stop', args: { bridge: 'br-victim' } }))
    await answered(before + 1)
    expect(answers.at(-1)).toMatchObject({ id: 6001, ok: false, error: { message: 'No DHCP server of Berth runs on br-victim' } })
    expect(victim.exitCode).toBeNull()
    expect(existsSync(`/proc/${victim.pid}`)).toBe(true)
    victim.kill('SIGKILL')
  })

  it('really makes and removes a bridge with an address, and logs each command', async () => {
    const before = answers.length
    send(JSON.stringify({ id: 7001, verb: 'bridge.create', args: { name: 'br-berthh' } }))
    send(JSON.stringify({ id: 7002, verb: 'address.add', args: { name: 'br-berthh', address: '10.231.160.1/24' } }))
    await answered(before + 2)
    expect(answers.slice(before).map((a) => a.ok)).toEqual([true, true])
    expect(existsSync('/sys/class/net/br-berthh/bridge')).toBe(true)
    send(JSON.stringify({ id: 7003, verb: 'bridge.delete', args: { name: 'br-berthh' } }))
    await answered(before + 3)
    expect(answers.at(-1)).toMatchObject({ id: 7003, ok: true })
    expect(readdirSync('/sys/class/net')).not.toContain('br-berthh')
    const execs = logEntries().filter((e) => 'exec' in e).map((e) => (e.exec as string[]).join(' '))
    expect(execs).toEqual([
      'ip link add br-berthh type bridge',
      'ip link set br-berthh up',
      'ip addr add 10.231.160.1/24 dev br-berthh',
      'ip link del br-berthh',
    ])
  })
})
