// The terminal owner of one container (what conmon is to Podman). Started detached by Berth, it runs
// systemd-nspawn in a pseudo-terminal, appends every console byte to the log, serves the console and
// a control socket, sets up the veths, restarts on reboot (exit 133) and on failure, and cleans up
// the container's cgroup when it ends. Closing or killing Berth never hangs up a container.
//   usage: supervisor CONFIG.json
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, closeSync, constants, existsSync, fchownSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { spawn as spawnPty, type IPty } from 'node-pty'
import { createSocket } from 'unix-dgram'
import { lastLines, TAIL_BYTES } from '../../consoles/log-tail'
import { unpin } from '../../../helper/pin'
import { onLines, parseJsonLine } from '../../lines'
import { cgroupPids, freezeCgroup, joinCgroup, killCgroup, removeCgroup } from './cgroup'
import { confineDevices } from './devices'
import {
  containerFiles,
  controlMessageSchema,
  programs,
  REBOOT_EXIT_CODE,
  type ControlMessage,
  type SupervisorConfig,
  type SupervisorStatus,
} from './supervisor-protocol'

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as SupervisorConfig
const files = containerFiles(config.owner.uid, config.id)
const payload = config.cgroup ? join(config.cgroup, 'payload') : null

/** A file of the owner's, opened by root without following a link and handed over on its descriptor. */
function ownersFile(path: string, flags: number): number {
  const fd = openSync(path, flags | constants.O_CREAT | constants.O_NOFOLLOW, 0o600)
  fchownSync(fd, config.owner.uid, config.owner.gid)
  return fd
}
const logFd = ownersFile(files.log, constants.O_WRONLY | constants.O_APPEND)
const controlClients = new Set<Socket>()
const consoleClients = new Set<Socket>()
let status: SupervisorStatus = { state: 'starting', supervisorPid: process.pid, leaderPid: null, exitCode: null, lastError: null, restarts: 0 }
let term: IPty | null = null
let size = { cols: 80, rows: 24 }
let stopRequested = false
/** Why Berth ended the container itself (start timeout, network setup), shown as its error. */
let failReason: string | null = null
let killTimer: NodeJS.Timeout | null = null
/** When recent failures happened: restarts stop after 5 within 10 s, as systemd's default start limit. */
let failures: number[] = []
/** Login shells inside the container, by number. */
const shells = new Map<number, IPty>()
let shellCount = 0
/** The container's init said READY=1 (with notifyReady) in this run. */
let ready = false

function setStatus(patch: Partial<SupervisorStatus>): void {
  status = { ...status, ...patch }
  const temp = `${files.status}.tmp`
  const fd = ownersFile(temp, constants.O_WRONLY | constants.O_TRUNC)
  try {
    writeFileSync(fd, JSON.stringify(status))
  } finally {
    closeSync(fd)
  }
  renameSync(temp, files.status)
  const line = `${JSON.stringify(status)}\n`
  for (const client of controlClients) client.write(line)
}

function run(argv: string[]): { ok: boolean; output: string } {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 })
  return { ok: result.status === 0, output: `${result.stderr ?? ''}${result.error?.message ?? ''}`.trim() }
}

/**
 * Without udevd (no /run/udev/control) nspawn refuses to move or macvlan an interface "not
 * initialized yet". Marks them initialized in udev's database, as udev does; returns the files made.
 */
function markUdevInitialized(): string[] {
  if (existsSync('/run/udev/control')) return []
  const made: string[] = []
  for (const name of config.udevInterfaces) {
    const index = readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim()
    const file = `/run/udev/data/n${index}`
    if (existsSync(file)) continue
    mkdirSync('/run/udev/data', { recursive: true })
    writeFileSync(file, `I:${Math.round(performance.timeOrigin * 1000)}\n`)
    made.push(file)
  }
  return made
}

let udevEntries: string[] = []

function start(): void {
  for (const step of config.cleanup) run([programs.ip, ...step])
  try {
    udevEntries = markUdevInitialized()
  } catch {
    // an interface that does not exist: nspawn says so in the console
  }
  setStatus({ state: 'starting', leaderPid: null, exitCode: null })
  ready = false
  term = spawnPty(programs.nspawn, config.nspawnArgs, {
    name: 'xterm-256color',
    cols: size.cols,
    rows: size.rows,
    cwd: '/',
    env: {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      TERM: 'xterm-256color',
      LANG: process.env.LANG ?? 'C.UTF-8',
      ...(config.notifyReady ? { NOTIFY_SOCKET: files.notify } : {}),
    },
    encoding: null,
  })
  term.onData((chunk) => {
    const bytes = chunk as unknown as Buffer
    writeSync(logFd, bytes)
    for (const client of consoleClients) client.write(bytes)
  })
  // The last output can arrive after the exit: let it reach the log first.
  term.onExit(({ exitCode, signal }) => void setTimeout(() => exited(exitCode, signal ?? 0), 100))
  void waitForLeader(term)
}

/**
 * The container's PID 1 (first process of payload/), then its network, then (with notifyReady) its
 * READY=1, all within timeoutStartSec, as the module's Type=notify unit with TimeoutStartSec.
 */
async function waitForLeader(current: IPty): Promise<void> {
  const deadline = Date.now() + config.timeoutStartSec * 1000
  setTimeout(() => {
    if (term !== current || stopRequested || status.state !== 'starting') return
    fail(
      status.leaderPid
        ? `The container did not report ready within ${config.timeoutStartSec} s (timeoutStartSec): its init must send READY=1 through sd_notify, as systemd does; for another init, turn off "Wait until the container reports ready"`
        : `The container did not start within ${config.timeoutStartSec} s (timeoutStartSec)`,
    )
  }, config.timeoutStartSec * 1000)
  while (term === current && Date.now() < deadline) {
    const leader = payload ? cgroupPids(payload)[0] : childOf(current.pid)
    // Until it has exec'd the container's init, the leader is still nspawn's child setting the
    // container up (its namespaces and host0 are not ready yet).
    const comm = leader ? commOf(leader) : null
    if (leader && comm && comm !== 'systemd-nspawn') return configure(leader)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function commOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return null
  }
}

function childOf(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0]) || undefined
  } catch {
    return undefined
  }
}

function configure(leader: number): void {
  for (const file of udevEntries.splice(0)) rmSync(file, { force: true })
  const steps = [
    ...config.hostSetup.map((step) => [programs.ip, ...step]),
    ...config.containerSetup.map((step) => [programs.nsenter, `--target=${leader}`, '--net', '--', programs.ip, ...step]),
  ]
  for (const step of steps) {
    const { ok, output } = run(step)
    if (!ok) return fail(`Setting up the network failed: ${step.join(' ')}: ${output || 'failed'}`)
  }
  setStatus({ state: !config.notifyReady || ready ? 'running' : 'starting', leaderPid: leader, lastError: null })
}

/** nspawn passes the container's READY=1 on once (--notify-ready=yes); its other messages say nothing new. */
const notifications = config.notifyReady ? listenForReady() : null

function listenForReady() {
  rmSync(files.notify, { force: true })
  const socket = createSocket('unix_dgram', (message) => {
    if (!message.toString('utf8').split('\n').includes('READY=1')) return
    ready = true
    if (term && status.state === 'starting' && status.leaderPid) setStatus({ state: 'running' })
  })
  socket.on('error', () => undefined)
  // Root's folder: only nspawn (root) can send here.
  socket.bind(files.notify)
  return socket
}

/** Ends the container with an error the person sees. */
function fail(reason: string): void {
  failReason = reason
  stopRequested = true
  forceKill()
}

function forceKill(): void {
  if (payload) killCgroup(payload)
  else if (status.leaderPid) signal(status.leaderPid, 'SIGKILL')
  term?.kill('SIGKILL')
}

function signal(pid: number, sig: NodeJS.Signals | number): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

function exited(exitCode: number, bySignal: number): void {
  term = null
  if (killTimer) clearTimeout(killTimer)
  // nspawn killed hard leaves the container's processes behind: end them all.
  if (payload) killCgroup(payload)
  if (!stopRequested && exitCode === REBOOT_EXIT_CODE && !bySignal) {
    setStatus({ restarts: status.restarts + 1 })
    return start()
  }
  const failed = bySignal !== 0 || exitCode !== 0
  if (failed && !stopRequested && config.restartOnFailure) {
    const now = Date.now()
    failures = [...failures.filter((t) => now - t < 10_000), now]
    if (failures.length <= 5) {
      setStatus({ restarts: status.restarts + 1, lastError: describeExit(exitCode, bySignal) })
      return void setTimeout(start, 100 * failures.length)
    }
  }
  const crashed = failReason !== null || (failed && !stopRequested)
  finish({
    state: crashed ? 'crashed' : 'stopped',
    leaderPid: null,
    exitCode: bySignal ? null : exitCode,
    lastError: crashed ? (failReason ?? describeExit(exitCode, bySignal)) : null,
  })
}

function describeExit(exitCode: number, bySignal: number): string {
  const how = bySignal ? `systemd-nspawn was killed by signal ${bySignal}` : `systemd-nspawn exited with code ${exitCode}`
  const tail = logTail(3)
  return tail ? `${how}. Last console lines: ${tail}` : how
}

function logTail(count: number): string {
  const size = fstatSync(logFd).size
  const length = Math.min(size, TAIL_BYTES)
  const buffer = Buffer.alloc(length)
  const fd = openSync(files.log, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    return lastLines(buffer.subarray(0, readSync(fd, buffer, 0, length, size - length)).toString('utf8'), count)
  } finally {
    closeSync(fd)
  }
}

function finish(final: Partial<SupervisorStatus>): void {
  if (config.cgroup) {
    // Leave the container's cgroup so it can be removed.
    joinCgroup(join(config.cgroup, '..', '..'), process.pid)
    removeCgroup(config.cgroup)
  }
  if (config.devices) {
    joinCgroup(join(config.devices.cgroup, '..', '..'), process.pid)
    removeCgroup(config.devices.cgroup)
  }
  // Before the final status: a start that follows finds the sources unmounted.
  unpin(config.pinned)
  setStatus(final)
  for (const client of [...controlClients, ...consoleClients]) client.end()
  closeSync(logFd)
  for (const server of servers) server.close()
  for (const shell of shells.values()) shell.kill('SIGHUP')
  rmSync(files.console, { force: true })
  rmSync(files.shell, { force: true })
  rmSync(files.control, { force: true })
  notifications?.close()
  rmSync(files.notify, { force: true })
  setTimeout(() => process.exit(0), 50)
}

function stop(force: boolean, timeoutSec: number): void {
  stopRequested = true
  if (!term) return
  setStatus({ state: 'stopping' })
  if (force || !status.leaderPid) return forceKill()
  signal(status.leaderPid, config.poweroffSignal)
  if (killTimer) clearTimeout(killTimer)
  killTimer = setTimeout(forceKill, timeoutSec * 1000)
}

function control(message: ControlMessage): void {
  if (message.op === 'stop') return stop(message.force, message.timeoutSec)
  if (message.op === 'resize') {
    const target = message.shell !== undefined ? shells.get(message.shell) : term
    if (message.shell === undefined) size = { cols: message.cols, rows: message.rows }
    try {
      target?.resize(message.cols, message.rows)
    } catch {
      // the terminal's program has just ended
    }
    return
  }
  if (!payload || !status.leaderPid) return
  freezeCgroup(payload, message.frozen)
  setStatus({ state: message.frozen ? 'paused' : 'running' })
}

function serve(path: string, onClient: (socket: Socket) => void): Server {
  rmSync(path, { force: true })
  const server = createServer(onClient)
  // By path, the one way for a socket: safe here, in a folder only root writes.
  server.listen(path, () => {
    chownSync(path, config.owner.uid, config.owner.gid)
    chmodSync(path, 0o600)
  })
  return server
}

const servers = [
  serve(files.console, (socket) => {
    // Every byte logged before this offset is in the log; every byte after it comes through here.
    const header = Buffer.alloc(8)
    header.writeBigUInt64BE(BigInt(fstatSync(logFd).size))
    socket.write(header)
    consoleClients.add(socket)
    socket.on('data', (bytes) => term?.write(bytes))
    socket.on('error', () => undefined)
    socket.on('close', () => consoleClients.delete(socket))
  }),
  serve(files.shell, (socket) => {
    // A login shell in the container's namespaces and cgroup (so stopping the container ends it).
    const leader = status.leaderPid
    if (status.state !== 'running' || !leader) return socket.end('0\n')
    const number = ++shellCount
    const root = join('/proc', String(leader), 'root')
    const shell = existsSync(join(root, 'bin/bash')) ? '/bin/bash' : '/bin/sh'
    const pty = spawnPty(programs.nsenter, [`--target=${leader}`, '--all', '--root', '--wd', '--', shell, '-l'], {
      name: 'xterm-256color',
      cols: 80,
      rows: 24,
      cwd: '/',
      env: { TERM: 'xterm-256color', HOME: '/root', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
      encoding: null,
    })
    if (payload) joinCgroup(payload, pty.pid)
    shells.set(number, pty)
    socket.write(`${number}\n`)
    pty.onData((chunk) => socket.write(chunk as unknown as Buffer))
    pty.onExit(() => {
      shells.delete(number)
      socket.end()
    })
    socket.on('data', (bytes) => pty.write(bytes))
    socket.on('error', () => undefined)
    socket.on('close', () => shells.has(number) && pty.kill('SIGHUP'))
  }),
  serve(files.control, (socket) => {
    controlClients.add(socket)
    socket.write(`${JSON.stringify(status)}\n`)
    const refuse = () => socket.write(`${JSON.stringify({ refused: 'not a control message' })}\n`)
    onLines(
      socket,
      (line) => {
        const message = controlMessageSchema.safeParse(parseJsonLine(line))
        if (message.success) control(message.data)
        else refuse()
      },
      { maxBytes: 64 * 1024, onOverlong: () => socket.destroy() },
    )
    socket.on('error', () => undefined)
    socket.on('close', () => controlClients.delete(socket))
  }),
]

if (config.cgroup) {
  mkdirSync(config.cgroup, { recursive: true })
  joinCgroup(config.cgroup, process.pid)
}
// Before nspawn starts: it and every process of the container inherit the device rules.
if (config.devices) confineDevices(config.devices.cgroup, config.devices.rules, process.pid)
process.on('SIGTERM', () => stop(false, 30))
process.on('SIGHUP', () => undefined)
process.on('SIGINT', () => stop(false, 30))
start()
