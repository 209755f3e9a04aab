// Making a container's root file system where machinectl expects it (/var/lib/machines/NAME): from a
// tarball or with debootstrap. The work happens in a hidden folder beside the target, renamed into
// place only when complete, so a failed or cancelled run leaves nothing that looks like a root. The
// log is kept (rootLogs/NAME.log) either way.
import { spawn } from 'node:child_process'
import { createReadStream, createWriteStream, existsSync, readFileSync, readdirSync } from 'node:fs'
import { lstat, mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { BerthError, fieldErrors } from '../../../../shared/errors'
import type { RootSource } from '../../../../shared/model/container'
import type { BerthPaths } from '../../paths'
import { onLines } from '../../lines'

export interface RootProgress {
  phase: string
  /** 0..1, or null while the amount of work is not known. */
  fraction: number | null
}

export interface RootJob {
  onLog(line: string): void
  onProgress(progress: RootProgress): void
  signal: AbortSignal
}

/** Beside a root Berth made: what it was made from. Only such roots are deleted with their container. */
export const madeMarker = (paths: BerthPaths, name: string) => join(paths.containers, `.${name}.berth.json`)
export function isMadeRoot(paths: BerthPaths, root: string): boolean {
  const name = root.slice(paths.containers.length + 1)
  return root.startsWith(`${paths.containers}/`) && !name.includes('/') && existsSync(madeMarker(paths, name))
}

/** Why a directory cannot be a container's root, or null. */
export async function osTreeProblem(root: string, boot: boolean): Promise<string | null> {
  const info = await stat(root).catch(() => null)
  if (!info) return `${root} does not exist`
  if (!info.isDirectory()) return `${root} is not a folder: choose the folder holding the container's file system`
  if (root === '/') return 'The host\'s own root cannot be a container\'s root'
  const has = (path: string) => lstat(join(root, path)).then(() => true, () => false)
  if (!(await has('usr')) || !((await has('etc/os-release')) || (await has('usr/lib/os-release'))))
    return `${root} is not an operating system tree: it needs a /usr folder and /etc/os-release (or /usr/lib/os-release)`
  if (boot && !(await has('sbin/init')) && !(await has('usr/lib/systemd/systemd')) && !(await has('lib/systemd/systemd')))
    return `${root} has no init to boot (/sbin/init or systemd): choose "Run one command" instead`
  return null
}

/** What makeRoot refuses before it starts: a taken name, a tarball that is not a file. */
export async function checkNewRoot(paths: BerthPaths, name: string, source: RootSource): Promise<void> {
  const target = join(paths.containers, name)
  if (existsSync(target))
    throw fieldErrors(
      { name: `${target} already exists: choose another name, or use that folder as an existing root` },
      `${target} already exists`,
    )
  if (source.type === 'tarball') {
    const info = await stat(source.file).catch(() => null)
    if (!info?.isFile()) throw fieldErrors({ 'source.file': `${source.file} is not a file` }, `${source.file} is not a file`)
    if (!(await looksLikeTarball(source.file))) {
      const why = `${source.file} is not a tarball (.tar, or .tar compressed with gzip, xz, zstd or bzip2)`
      throw fieldErrors({ 'source.file': why }, why)
    }
  }
}

/** A compressed file tar can unpack, or a tar archive (ustar magic at offset 257). */
async function looksLikeTarball(file: string): Promise<boolean> {
  if (await compressionFlag(file)) return true
  const handle = await open(file, 'r')
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(8), 0, 8, 257)
    return bytesRead >= 5 && buffer.subarray(0, 5).toString() === 'ustar'
  } finally {
    await handle.close()
  }
}

export async function makeRoot(paths: BerthPaths, name: string, source: RootSource, job: RootJob): Promise<string> {
  await checkNewRoot(paths, name, source)
  const target = join(paths.containers, name)
  await mkdir(paths.containers, { recursive: true, mode: 0o700 })
  await mkdir(paths.rootLogs, { recursive: true, mode: 0o700 })
  const work = join(paths.containers, `.${name}.partial-${randomBytes(4).toString('hex')}`)
  await mkdir(work, { mode: 0o755 })
  const log = createWriteStream(join(paths.rootLogs, `${name}.log`), { flags: 'w' })
  const say = (line: string) => {
    log.write(`${line}\n`)
    job.onLog(line)
  }
  try {
    say(`Making ${target} from ${source.type === 'tarball' ? source.file : `Debian ${source.suite} (${source.variant})`}`)
    const tree = source.type === 'tarball' ? await importTarball(source.file, work, job, say) : await debootstrap(source, work, job, say)
    const problem = await osTreeProblem(tree, false)
    if (problem) throw new BerthError('invalid_input', `The result is not a container root: ${problem.replace(tree, 'it')}`)
    await rename(tree, target)
    await writeFile(madeMarker(paths, name), JSON.stringify({ madeBy: 'berth', source, at: new Date().toISOString() }))
    say(`Done: ${target}`)
    job.onProgress({ phase: 'Done', fraction: 1 })
    return target
  } catch (error) {
    say(`Failed: ${(error as Error).message}`)
    throw job.signal.aborted ? new BerthError('cancelled', 'Cancelled: nothing was kept') : error
  } finally {
    await rm(work, { recursive: true, force: true })
    await new Promise((resolve) => log.end(resolve))
  }
}

/** tar's flag for the compression the file's first bytes show. */
async function compressionFlag(file: string): Promise<string | null> {
  const handle = await open(file, 'r')
  try {
    const { buffer } = await handle.read(Buffer.alloc(6), 0, 6, 0)
    if (buffer[0] === 0x1f && buffer[1] === 0x8b) return '--gzip'
    if (buffer.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return '--xz'
    if (buffer.readUInt32LE(0) === 0xfd2fb528) return '--zstd'
    if (buffer.subarray(0, 3).toString() === 'BZh') return '--bzip2'
    return null
  } finally {
    await handle.close()
  }
}

async function importTarball(file: string, work: string, job: RootJob, say: (line: string) => void): Promise<string> {
  const total = (await stat(file)).size
  const compression = await compressionFlag(file)
  const argv = ['tar', '--extract', '--file=-', `--directory=${work}`, '--numeric-owner', '--same-permissions', ...(compression ? [compression] : [])]
  say(`$ ${argv.join(' ')} < ${file}`)
  let read = 0
  const input = createReadStream(file)
  input.on('data', (chunk) => {
    read += chunk.length
    job.onProgress({ phase: 'Extracting', fraction: read / total })
  })
  await runLogged(argv, job, say, input)
  // A tarball of a folder (NAME/usr, NAME/etc, …) rather than of a tree's contents.
  const entries = await readdir(work, { withFileTypes: true })
  const only = entries.length === 1 && entries[0]!.isDirectory() ? join(work, entries[0]!.name) : null
  if (only && !(await osTreeProblem(only, false))) {
    const inner = `${work}.inner`
    await rename(only, inner)
    await rm(work, { recursive: true, force: true })
    await rename(inner, work)
  }
  return work
}

/** The Debian mirror this host's apt uses, so debootstrap works wherever apt does. */
export function hostDebianMirror(): string {
  const texts: string[] = []
  for (const dir of ['/etc/apt/sources.list.d'])
    for (const name of existsSync(dir) ? readdirSync(dir) : [])
      if (/\.(sources|list)$/.test(name)) texts.push(readFileSync(join(dir, name), 'utf8'))
  if (existsSync('/etc/apt/sources.list')) texts.push(readFileSync('/etc/apt/sources.list', 'utf8'))
  for (const text of texts) {
    const uri = /(?:URIs:\s*|^deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?(\s|$)/m.exec(text)?.[1]
    if (uri) return uri
  }
  return 'http://deb.debian.org/debian'
}

const debootstrapPhases: [RegExp, string, number][] = [
  [/^I: Retrieving Release/, 'Checking the release', 0.02],
  [/^I: Retrieving Packages/, 'Reading the package lists', 0.05],
  [/^I: Resolving dependencies/, 'Resolving dependencies', 0.08],
  [/^I: Retrieving /, 'Downloading', 0.1],
  [/^I: Validating /, 'Downloading', 0.1],
  [/^I: Extracting /, 'Extracting', 0.45],
  [/^I: Installing core packages/, 'Installing', 0.6],
  [/^I: Unpacking /, 'Installing', 0.65],
  [/^I: Configuring /, 'Configuring', 0.8],
  [/^I: Base system installed successfully/, 'Finishing', 0.99],
]

async function debootstrap(
  source: Extract<RootSource, { type: 'debootstrap' }>,
  work: string,
  job: RootJob,
  say: (line: string) => void,
): Promise<string> {
  const mirror = hostDebianMirror()
  const argv = [
    'debootstrap',
    `--variant=${source.variant === 'standard' ? '' : source.variant}`,
    ...(source.include.length > 0 ? [`--include=${source.include.join(',')}`] : []),
    source.suite,
    work,
    mirror,
  ].filter((arg) => arg !== '--variant=')
  say(`$ ${argv.join(' ')}`)
  // Each phase's share grows with the packages it has seen, so the bar moves within a phase too.
  let phaseStart = 0
  let seen = 0
  let shown = 0
  job.onProgress({ phase: 'Starting', fraction: 0 })
  await runLogged(argv, job, (line) => {
    say(line)
    const match = debootstrapPhases.find(([pattern]) => pattern.test(line))
    if (!match) return
    const [, phase, start] = match
    if (start !== phaseStart) seen = 0
    phaseStart = start
    seen++
    const next = debootstrapPhases.find(([, , s]) => s > start)?.[2] ?? 1
    // Phases repeat (dependencies are resolved more than once): the bar never moves back.
    shown = Math.max(shown, start + (next - start) * (1 - 1 / (1 + seen / 20)))
    job.onProgress({ phase, fraction: shown })
  })
  return work
}

/** Runs argv, passing its output line by line; stdin from input when given. Cancelled through job.signal. */
function runLogged(argv: string[], job: RootJob, onLine: (line: string) => void, input?: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'], signal: job.signal })
    let tail: string[] = []
    for (const out of [child.stdout!, child.stderr!])
      onLines(out, (line) => {
        tail = [...tail.slice(-4), line]
        onLine(line)
      })
    if (input && child.stdin) {
      child.stdin.on('error', () => undefined)
      input.pipe(child.stdin)
    }
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new BerthError('unavailable', `${argv[0]} is not installed: apt-get install ${argv[0]}`)
          : new BerthError(error.name === 'AbortError' ? 'cancelled' : 'failed', error.message),
      ),
    )
    child.on('close', (code) => {
      if (code === 0) resolve()
      else reject(new BerthError('failed', `${argv[0]} failed (exit code ${code}): ${tail.filter(Boolean).slice(-2).join(' ')}`))
    })
  })
}
