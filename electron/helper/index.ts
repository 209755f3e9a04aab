// Berth's privileged helper: runs as root (pkexec once per session on a desktop, or directly when
// Berth already is root) and does only what verbs.ts allows. One JSON request per line on stdin, one
// JSON answer per line on stdout. Every request and its outcome go to the log; anything else is
// refused with a reason and changes nothing.
import { spawn, spawnSync } from 'node:child_process'
import { appendFileSync, chmodSync, closeSync, lstatSync, mkdirSync, openSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join, sep } from 'node:path'
import { userInfo } from 'node:os'
import { z } from 'zod'
import { resolvePaths } from '../main/paths'
import { programCommand } from '../main/programs'
import { supervisorConfigSchema } from '../main/backends/nspawn/supervisor-protocol'
import { commandsFor, Refusal, requestSchema, verbSchemas, type Verb } from './verbs'
import { runXenVerb, xenVerbSchemas, type XenVerb } from './xen-verbs'

/** Longest request line accepted; longer ones are refused without being parsed. */
export const MAX_REQUEST_BYTES = 64 * 1024

/** The folders of the user Berth runs for (pkexec says who), never what a request claims. */
function userEnv(): NodeJS.ProcessEnv {
  const uid = process.env.PKEXEC_UID
  if (!uid) return process.env
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[2] === uid)
  if (!entry) throw new Error(`No user with uid ${uid}`)
  return { HOME: entry[5], XDG_RUNTIME_DIR: `/run/user/${uid}` }
}

const paths = resolvePaths(userEnv())
const allowedRoots = [paths.runtime, paths.machineFiles, paths.containers]
/** Root's own state for this user (dnsmasq's pid and lease files): never in a folder the user can write. */
const stateDir = join('/run/berth', process.env.PKEXEC_UID ?? String(process.getuid?.() ?? 0))
const logFile = process.env.PKEXEC_UID ? '/var/log/berth/helper.log' : join(paths.runtime, 'helper.log')
mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 })
for (const dir of ['/run/berth', stateDir]) rootFolder(dir)

/** A folder of root's, 0700: made, or checked to be a real folder root owns (never a symlink). */
function rootFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const info = lstatSync(dir)
  if (info.isSymbolicLink() || !info.isDirectory() || info.uid !== 0)
    throw new Error(`${dir} is not a folder of root's: the helper will not keep its state there`)
  chmodSync(dir, 0o700)
}

/** Every request and its outcome; a log that cannot be written (its folder removed) goes to stderr. */
function log(entry: Record<string, unknown>): void {
  const line = `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`
  try {
    appendFileSync(logFile, line)
  } catch {
    process.stderr.write(line)
  }
}

/** The real path, which must lie inside one of the allowed folders (no .., no symlink out). */
function checkedPath(path: string): string {
  let real: string
  try {
    real = realpathSync(path)
  } catch {
    throw new Refusal(`${path} does not exist`)
  }
  if (!allowedRoots.some((root) => real === root || real.startsWith(root + sep)))
    throw new Refusal(`${path} is outside the folders the helper may use`)
  return real
}

function run(argv: string[]): void {
  log({ exec: argv })
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 30_000 })
  if (result.error) throw new Error(`${argv[0]}: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${(result.stderr || result.stdout).trim().split('\n').pop()}`)
}

function startContainer(configPath: string): { pid: number } {
  const config = checkedPath(configPath)
  const parsed = supervisorConfigSchema.safeParse(JSON.parse(readFileSync(config, 'utf8')))
  if (!parsed.success) throw new Refusal(`${configPath} is not a container supervisor configuration`)
  const { log: consoleLog, consoleSocket, shellSocket, controlSocket, status } = parsed.data
  for (const file of [consoleLog, consoleSocket, shellSocket, controlSocket, status]) checkedPath(dirname(file))
  const { argv, env } = programCommand('nspawn-supervisor')
  log({ exec: [...argv, config] })
  const out = openSync(join(dirname(consoleLog), 'supervisor.log'), 'a')
  try {
    const child = spawn(argv[0]!, [...argv.slice(1), config], { detached: true, stdio: ['ignore', out, out], env: { ...process.env, ...env }, cwd: '/' })
    child.unref()
    return { pid: child.pid ?? 0 }
  } finally {
    closeSync(out)
  }
}

function handle(line: string): string {
  let id: number | null = null
  try {
    if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) throw new Refusal(`Requests are limited to ${MAX_REQUEST_BYTES} bytes`)
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch {
      throw new Refusal('Not JSON')
    }
    const request = requestSchema.safeParse(json)
    if (!request.success) throw new Refusal('A request is { id, verb, args } and nothing else')
    id = request.data.id
    const { verb } = request.data
    if (!Object.hasOwn(verbSchemas, verb)) throw new Refusal(`Unknown verb: ${verb.slice(0, 64)}`)
    const schema = verbSchemas[verb as Verb] as z.ZodType
    const args = schema.safeParse(request.data.args)
    if (!args.success) throw new Refusal(`Bad arguments for ${verb}: ${args.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ')}`)
    log({ id, verb, args: args.data })
    const result =
      verb === 'container.start'
        ? startContainer((args.data as { config: string }).config)
        : Object.hasOwn(xenVerbSchemas, verb)
          ? runXenVerb(verb as XenVerb, args.data, log)
          : runVerb(verb as Verb, args.data)
    log({ id, ok: true })
    return JSON.stringify({ id, ok: true, result })
  } catch (error) {
    const refused = error instanceof Refusal
    const message = error instanceof Error ? error.message : String(error)
    log({ id, ok: false, refused, error: message })
    return JSON.stringify({ id, ok: false, error: { code: refused ? 'invalid_input' : 'failed', message } })
  }
}

function runVerb(verb: Verb, args: unknown): null {
  for (const argv of commandsFor(verb, args as never, { stateDir })) run(argv)
  return null
}

log({ started: true, pid: process.pid, user: userInfo().username, invokedBy: process.env.PKEXEC_UID ?? null })
let buffered = ''
let discarding = false
process.stdin.setEncoding('utf8')
process.stdin.on('data', (text: string) => {
  buffered += text
  for (;;) {
    const newline = buffered.indexOf('\n')
    if (newline < 0) {
      // An over-long line is answered once and skipped up to its end, never kept in memory.
      if (Buffer.byteLength(buffered) > MAX_REQUEST_BYTES) {
        if (!discarding) process.stdout.write(`${handle(buffered)}\n`)
        discarding = true
        buffered = ''
      }
      return
    }
    const line = buffered.slice(0, newline)
    buffered = buffered.slice(newline + 1)
    if (discarding) {
      discarding = false
      continue
    }
    if (line.trim()) process.stdout.write(`${handle(line)}\n`)
  }
})
process.stdin.on('end', () => {
  log({ stopped: true })
  process.exit(0)
})
// The client went away while an answer was on its way (EPIPE): the request itself ran to its end
// (every verb is synchronous), so there is nothing to undo; say so and stop.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  log({ stopped: true, reason: `the client went away (${error.code ?? error.message})` })
  process.exit(0)
})
