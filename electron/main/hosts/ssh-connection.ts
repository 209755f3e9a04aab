// A host reached over SSH (ssh2): key-file or agent login, and a host key that must match the one the
// person accepted. Every failure names the host and its cause.
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2'
import { BerthError, fieldErrors } from '../../../shared/errors'
import type { SshTarget } from '../../../shared/model/remote-host'
import { atomicWriteArgv, shellQuote, type HostConnection, type RunResult, type Terminal } from './connection'

const CONNECT_TIMEOUT_MS = 15_000

export interface HostKey {
  algorithm: string
  fingerprint: string
}

/** OpenSSH's SHA256 fingerprint of a host key blob; the algorithm is the blob's first string. */
export function describeHostKey(blob: Buffer): HostKey {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0
  return {
    algorithm: blob.subarray(4, 4 + Math.min(length, 64)).toString('latin1'),
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
  }
}

export function describeTarget(target: SshTarget): string {
  return `${target.user}@${target.address}:${target.port}`
}

/** Login settings for ssh2: the key file's content, or the agent. */
async function loginConfig(target: SshTarget, label: string): Promise<ConnectConfig> {
  const base: ConnectConfig = { host: target.address, port: target.port, username: target.user, readyTimeout: CONNECT_TIMEOUT_MS }
  if (target.auth.kind === 'agent') {
    const agent = process.env.SSH_AUTH_SOCK
    if (!agent) throw new BerthError('unavailable', `${label}: no SSH agent runs for Berth (SSH_AUTH_SOCK is unset): use a key file instead`)
    return { ...base, agent }
  }
  try {
    return { ...base, privateKey: await readFile(target.auth.keyFile) }
  } catch (error) {
    const why = `cannot read the key file ${target.auth.keyFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})`
    throw fieldErrors({ 'ssh.auth.keyFile': why[0]!.toUpperCase() + why.slice(1) }, `${label}: ${why}`)
  }
}

/** ssh2's and the network's errors, said the way a person can act on. */
function connectError(label: string, target: SshTarget, error: Error & { code?: string; level?: string }): BerthError {
  const where = `${target.address}:${target.port}`
  switch (error.code) {
    case 'ECONNREFUSED':
      return new BerthError('unavailable', `Cannot reach ${label}: nothing accepts SSH connections on ${where} (connection refused)`)
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new BerthError('unavailable', `Cannot reach ${label}: the name ${target.address} does not resolve`)
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new BerthError('unavailable', `Cannot reach ${label}: no route to ${target.address}`)
  }
  if (error.level === 'client-timeout' || /Timed out/i.test(error.message))
    return new BerthError('unavailable', `Cannot reach ${label}: no SSH answer from ${where} within ${CONNECT_TIMEOUT_MS / 1000} s`)
  if (error.level === 'client-authentication') {
    const how = target.auth.kind === 'key' ? `the key ${target.auth.keyFile}` : 'the keys of the SSH agent'
    return new BerthError('failed', `${label} refused to log in ${target.user} with ${how}: add its public key to ~${target.user}/.ssh/authorized_keys there`)
  }
  if (/private key|parse/i.test(error.message) && target.auth.kind === 'key') {
    const why = `${target.auth.keyFile} is not a usable private key (${error.message})`
    return fieldErrors({ 'ssh.auth.keyFile': why }, `${label}: ${why}`)
  }
  return new BerthError('unavailable', `Cannot connect to ${label}: ${error.message}`)
}

/** Connects only far enough to see the host key, for the person to accept or refuse. */
export async function probeHostKey(target: SshTarget, label = describeTarget(target)): Promise<HostKey> {
  let seen: HostKey | null = null
  const client = new Client()
  try {
    await new Promise<void>((resolve, reject) => {
      client.on('ready', resolve)
      client.on('error', (error) => (seen ? resolve() : reject(connectError(label, target, error))))
      client.connect({
        host: target.address,
        port: target.port,
        username: target.user,
        readyTimeout: CONNECT_TIMEOUT_MS,
        hostVerifier: (key: Buffer) => {
          seen = describeHostKey(key)
          return false
        },
      })
    })
  } finally {
    client.end()
  }
  if (!seen) throw new BerthError('failed', `${label} did not present a host key`)
  return seen
}

export class SshConnection implements HostConnection {
  private client: Client | null = null
  private connecting: Promise<Client> | null = null

  constructor(
    readonly label: string,
    private readonly target: SshTarget,
    private readonly pinned: HostKey,
    /** Told when a connection opens (null), fails to open or closes (why). */
    private readonly onState: (error: BerthError | null) => void = () => undefined,
  ) {}

  /** The open connection, or a new one (concurrent callers share the attempt). */
  connect(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client)
    this.connecting ??= this.open()
      .catch((error: BerthError) => {
        this.onState(error)
        throw error
      })
      .finally(() => (this.connecting = null))
    return this.connecting
  }

  private async open(): Promise<Client> {
    const config = await loginConfig(this.target, this.label)
    const client = new Client()
    let presented: HostKey | null = null
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve)
      client.once('error', (error) => {
        if (presented && presented.fingerprint !== this.pinned.fingerprint)
          reject(
            new BerthError(
              'conflict',
              `${this.label} presented a different host key: pinned ${this.pinned.fingerprint}, now ${presented.fingerprint} (${presented.algorithm}). ` +
                'Berth refused to connect. If the host was reinstalled, remove it and add it again; otherwise someone may be intercepting the connection.',
              { pinned: this.pinned.fingerprint, presented: presented.fingerprint },
            ),
          )
        else reject(connectError(this.label, this.target, error))
      })
      client.connect({
        ...config,
        keepaliveInterval: 10_000,
        hostVerifier: (key: Buffer) => {
          presented = describeHostKey(key)
          return presented.fingerprint === this.pinned.fingerprint
        },
      })
    })
    client.on('error', () => undefined)
    client.on('close', () => {
      if (this.client !== client) return
      this.client = null
      this.onState(new BerthError('unavailable', `The connection to ${this.label} closed`))
    })
    this.client = client
    this.onState(null)
    return client
  }

  private async exec(argv: string[], pty?: { cols: number; rows: number }): Promise<ClientChannel> {
    // A server that cannot start the command at this moment (it could not fork or open pipes) refuses
    // the request; it is asked again a little later before Berth gives up.
    for (let attempt = 1; ; attempt++) {
      const client = await this.connect()
      try {
        return await new Promise<ClientChannel>((resolve, reject) =>
          client.exec(shellQuote(argv), pty ? { pty: { ...pty, term: 'xterm-256color' } } : {}, (error, channel) =>
            error ? reject(error) : resolve(channel),
          ),
        )
      } catch (error) {
        const refused = (error as Error).message === 'Unable to exec'
        if (refused && attempt < 3) {
          await new Promise((resolve) => setTimeout(resolve, 300 * attempt))
          continue
        }
        const why = refused ? 'the SSH server refused to start it' : (error as Error).message
        throw new BerthError('failed', `${this.label}: cannot run ${argv[0]}: ${why}`)
      }
    }
  }

  async run(argv: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    const channel = await this.exec(argv)
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    return new Promise((resolve, reject) => {
      const timer = options.timeoutMs
        ? setTimeout(() => {
            channel.close()
            reject(new BerthError('failed', `${this.label}: ${argv.join(' ')} did not finish within ${options.timeoutMs! / 1000} s`))
          }, options.timeoutMs)
        : null
      let code = -1
      channel.on('data', (chunk: Buffer) => stdout.push(chunk))
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
      channel.on('exit', (exitCode: number | null) => (code = exitCode ?? -1))
      channel.on('close', () => {
        if (timer) clearTimeout(timer)
        resolve({ code, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') })
      })
      channel.end(options.stdin ?? '')
    })
  }

  async writeFile(path: string, content: string): Promise<void> {
    const result = await this.run(atomicWriteArgv(path), { stdin: content, timeoutMs: 30_000 })
    if (result.code !== 0) throw new BerthError('failed', `${this.label}: cannot write ${path}: ${result.stderr.trim() || `exit code ${result.code}`}`)
  }

  async openTerminal(argv: string[], size: { cols: number; rows: number }): Promise<Terminal> {
    const channel = await this.exec(argv, size)
    return {
      write: (bytes) => channel.write(bytes),
      resize: (cols, rows) => channel.setWindow(rows, cols, 0, 0),
      onData: (listener) => channel.on('data', listener),
      onExit: (listener) => channel.on('close', listener),
      close: () => channel.close(),
    }
  }

  dispose(): void {
    const client = this.client
    this.client = null
    client?.end()
  }
}
