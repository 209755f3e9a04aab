// The baseline side of the benchmarks: the same QEMU command line Berth would run, started by
// hand in its own directory and driven with bare sockets.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createConnection, type Socket } from 'node:net'
import { join } from 'node:path'
import { resolvePaths } from '../electron/main/paths'
import { QmpClient } from '../electron/main/backends/qemu/qmp'

/** The folders under which Berth keeps each machine's runtime files and kept files, one per machine id. */
export const berthMachineFolders = (home: string) => {
  const paths = resolvePaths({ BERTH_HOME: home })
  return [paths.runtime, paths.machineFiles]
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * Berth's argv for the baseline: one rule moves every path inside a machine's folders (sockets, logs,
 * pidfile, UEFI variables, whatever Berth adds next) into dir; and no -S (nobody resumes it).
 */
export function rawArgv(argv: string[], dir: string, machineFolders: string[], replace: [RegExp, string][] = []): string[] {
  mkdirSync(dir, { recursive: true })
  const moves: [RegExp, string][] = machineFolders.map((root) => [new RegExp(`${escape(root)}/[a-z0-9]{12}(?=/)`, 'g'), dir])
  return argv.filter((a) => a !== '-S').map((a) => [...moves, ...replace].reduce((arg, [from, to]) => arg.replace(from, to), a))
}

export interface RawQemu {
  child: ChildProcess
  /** The last of what QEMU wrote to stderr (why it exited, when it did). */
  stderr(): string
  /** Throws, with QEMU's stderr, when it has exited. */
  check(what: string): void
  /** Kills it and resolves once it is gone (at once when it already is). */
  stop(): Promise<void>
}

export function startRaw(argv: string[]): RawQemu {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr = (stderr + text).slice(-4000)))
  // Made now, so that an exit before anyone waits is not missed.
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const gone = () => child.exitCode !== null || child.signalCode !== null
  return {
    child,
    stderr: () => stderr,
    check(what) {
      if (gone()) throw new Error(`The baseline QEMU exited (${child.exitCode ?? child.signalCode}) while ${what}: ${stderr.trim() || 'it printed nothing'}`)
    },
    async stop() {
      if (!gone()) child.kill('SIGKILL')
      await exited
    },
  }
}

export interface GuestConsole {
  type(text: string): void
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>
}

/** Connects to a unix socket QEMU is about to open, for as long as that QEMU runs (at most timeoutMs). */
export async function connectWhenReady(path: string, raw: RawQemu, timeoutMs = 30_000): Promise<Socket> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      const socket = createConnection(path)
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
      return socket
    } catch (error) {
      raw.check(`waiting for ${path}`)
      if (Date.now() > deadline) throw new Error(`The baseline QEMU did not open ${path} within ${timeoutMs} ms (${(error as Error).message})`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
}

/** A plain client on the baseline QEMU's serial socket. */
export async function rawConsole(path: string, raw: RawQemu): Promise<GuestConsole> {
  let text = ''
  const socket = await connectWhenReady(path, raw)
  socket.on('data', (d) => (text += d.toString()))
  return {
    type: (line) => void socket.write(line),
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs
      while (!pattern.test(text)) {
        raw.check(`waiting for ${pattern} on its console`)
        if (Date.now() > deadline) throw new Error(`The baseline's console did not show ${pattern} within ${timeoutMs} ms; it shows:\n${text.slice(-1500)}`)
        await new Promise((r) => setTimeout(r, 2))
      }
    },
  }
}

/**
 * Berth's command line for a machine, started by hand in dir; resolves once its QMP socket answers
 * and its guest's shell prompt shows on its serial console.
 */
export async function startRawGuest(argv: string[], dir: string, home: string): Promise<{ raw: RawQemu; qmp: QmpClient; guest: GuestConsole }> {
  const raw = startRaw(rawArgv(argv, dir, berthMachineFolders(home)))
  try {
    let qmp: QmpClient | null = null
    for (let i = 0; i < 500 && !qmp; i++) {
      qmp = await QmpClient.connect(join(dir, 'qmp.sock'), 1000).catch(() => null)
      if (!qmp) raw.check('waiting for its QMP socket')
      if (!qmp) await new Promise((r) => setTimeout(r, 10))
    }
    if (!qmp) throw new Error(`The baseline QEMU did not open ${join(dir, 'qmp.sock')} within 5 s`)
    const guest = await rawConsole(join(dir, 'serial.sock'), raw)
    guest.type('\r')
    await guest.waitFor(/guest# /, 60_000)
    return { raw, qmp, guest }
  } catch (error) {
    await raw.stop()
    throw error
  }
}
