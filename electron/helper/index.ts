// Berth's privileged helper: runs as root (pkexec once per session on a desktop, or directly when
// Berth already is root) and does only what verbs.ts allows. One JSON request per line on stdin, one
// JSON answer per line on stdout. Every request and its outcome go to the log; anything else is
// refused with a reason and changes nothing.
import { spawnSync } from 'node:child_process'
import { closeSync, constants, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { userInfo } from 'node:os'
import { z } from 'zod'
import { resolvePaths } from '../main/paths'
import { hostRunsSystemd } from '../main/backends/nspawn/host'
import { commandsFor, programPaths, requestSchema, verbSchemas, type Verb, type VerbContext } from './verbs'
import { Refusal } from './refusal'
import { runXenVerb, xenVerbSchemas, type XenVerb } from './xen-verbs'
import { containerVerbSchemas, runContainerVerb, type ContainerVerb } from './containers'
import { requireApproval, type Caller } from './policy'
import { readRecord, rootFolder, updateRecord } from './record'
import { onLines } from '../main/lines'

/** Longest request line accepted; longer ones are refused without being parsed. */
export const MAX_REQUEST_BYTES = 64 * 1024

/** The user Berth runs for: pkexec says who (PKEXEC_UID), never what a request claims; else root itself. */
function callerAccount(): { uid: number; gid: number; home: string } {
  const uid = process.env.PKEXEC_UID
  if (!uid) return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, home: process.env.HOME ?? '/root' }
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[2] === uid)
  if (!entry) throw new Error(`No user with uid ${uid}`)
  return { uid: Number(uid), gid: Number(entry[3]), home: entry[5]! }
}

const account = callerAccount()
// A caller through pkexec gets the paths of their own account; root (Berth itself running as root)
// keeps its environment, test homes (BERTH_HOME) included.
const paths = resolvePaths(process.env.PKEXEC_UID ? { HOME: account.home, XDG_RUNTIME_DIR: `/run/user/${account.uid}` } : process.env)
const caller: Caller = {
  ...account,
  pid: process.ppid,
  ownFolders: [account.home, ...(process.env.PKEXEC_UID ? [] : paths.own)],
  containersDir: paths.containers,
}
/** Root's own state for this user (dnsmasq's pid and lease files): never in a folder the user can write. */
const stateDir = join('/run/berth', String(account.uid))
const logFile = process.env.PKEXEC_UID ? '/var/log/berth/helper.log' : join(paths.runtime, 'helper.log')
// A root Berth's log sits in its own runtime folder; for anyone else, in root's.
if (process.env.PKEXEC_UID) rootFolder(dirname(logFile))
else mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 })
for (const dir of ['/run/berth', stateDir]) rootFolder(dir)

/** Every request and its outcome; a log that cannot be written (its folder removed) goes to stderr. */
function log(entry: Record<string, unknown>): void {
  const line = `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`
  try {
    // Never through a link: a log root appends to is root's own file.
    const fd = openSync(logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600)
    try {
      writeSync(fd, line)
    } finally {
      closeSync(fd)
    }
  } catch {
    process.stderr.write(line)
  }
}

/** Runs one of the helper's programs, by its fixed path (never a name looked up in PATH). */
function run(argv: string[]): void {
  log({ exec: argv })
  const program = programPaths[argv[0]!]
  if (!program) throw new Error(`${argv[0]} is not a program of the helper's`)
  const result = spawnSync(program, argv.slice(1), { encoding: 'utf8', timeout: 30_000 })
  if (result.error) throw new Error(`${argv[0]}: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${(result.stderr || result.stdout).trim().split('\n').pop()}`)
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
    const result = Object.hasOwn(containerVerbSchemas, verb)
      ? runContainerVerb(verb as ContainerVerb, args.data, caller, { systemd: hostRunsSystemd() }, log)
      : Object.hasOwn(xenVerbSchemas, verb)
        ? runXenVerb(verb as XenVerb, args.data, { caller, stateDir, log })
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

/** Root's own record of the links it made for this caller. */
const madeFile = join(stateDir, 'made.json')
const noLinks: { bridge: string[]; tap: string[] } = { bridge: [], tap: [] }
const record = (kind: 'bridge' | 'tap', name: string, made: boolean) =>
  updateRecord(madeFile, noLinks, (all) => ({ ...all, [kind]: [...all[kind].filter((n) => n !== name), ...(made ? [name] : [])] }))

function runVerb(verb: Verb, args: unknown): null {
  const made = readRecord(madeFile, noLinks)
  const context: VerbContext = {
    stateDir,
    owner: caller.uid,
    made: { has: (kind, name) => made[kind].includes(name) },
    approve: (what, reasons) => requireApproval(caller, what, reasons, log),
  }
  for (const argv of commandsFor(verb, args as never, context)) run(argv)
  const name = (args as { name?: string }).name!
  if (verb === 'bridge.create' || verb === 'bridge.delete') record('bridge', name, verb === 'bridge.create')
  if (verb === 'tap.create' || verb === 'tap.delete') record('tap', name, verb === 'tap.create')
  return null
}

log({ started: true, pid: process.pid, user: userInfo().username, invokedBy: process.env.PKEXEC_UID ?? null })
// An over-long line is answered once (refused) and skipped up to its end, never kept in memory.
onLines(process.stdin, (line) => line.trim() && process.stdout.write(`${handle(line)}\n`), {
  maxBytes: MAX_REQUEST_BYTES,
  onOverlong: (start) => process.stdout.write(`${handle(start)}\n`),
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
