// The baseline side of the benchmarks: the same QEMU command line Berth would run, started by
// hand in its own directory and driven with bare sockets.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join } from 'node:path'

/** Berth's argv with its sockets, log and pidfile moved to dir, and without -S (nobody resumes it). */
export function rawArgv(argv: string[], dir: string, replace: [RegExp, string][] = []): string[] {
  mkdirSync(dir, { recursive: true })
  const patched = argv
    .filter((a) => a !== '-S')
    .map((a) =>
      [
        [/(unix:|path=|addr=)[^,]*\/(qmp|serial|vnc|spice)\.sock/, `$1${dir}/$2.sock`] as [RegExp, string],
        [/logfile=[^,]*/, `logfile=${join(dir, 'serial.log')}`] as [RegExp, string],
        ...replace,
      ].reduce((arg, [from, to]) => arg.replace(from, to), a),
    )
  patched[patched.indexOf('-pidfile') + 1] = join(dir, 'qemu.pid')
  return patched
}

export function startRaw(argv: string[]): ChildProcess {
  return spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' })
}

export interface GuestConsole {
  type(text: string): void
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>
}

/** A plain client on a QEMU serial socket, retried until QEMU listens. */
export async function rawConsole(path: string): Promise<GuestConsole> {
  let text = ''
  for (let attempt = 0; ; attempt++) {
    try {
      const socket = createConnection(path)
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
      socket.on('data', (d) => (text += d.toString()))
      return {
        type: (line) => void socket.write(line),
        async waitFor(pattern, timeoutMs = 60_000) {
          const deadline = Date.now() + timeoutMs
          while (!pattern.test(text)) {
            if (Date.now() > deadline) throw new Error(`raw console never showed ${pattern}`)
            await new Promise((r) => setTimeout(r, 2))
          }
        },
      }
    } catch (error) {
      if (attempt > 500) throw error
      await new Promise((r) => setTimeout(r, 10))
    }
  }
}
