// This machine as a host: programs run directly (argv), terminals through node-pty. Xen's toolstack
// needs root; a Berth that is not root reaches this machine's dom0 as an SSH host (root@localhost).
import { dirname } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { spawn as spawnPty } from 'node-pty'
import { exec, ExecError } from '../exec'
import { writeFileAtomic } from '../store/atomic-write'
import type { HostConnection, RunResult, Terminal } from './connection'

export class LocalConnection implements HostConnection {
  readonly label = 'this computer'

  async run(argv: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    try {
      return await exec(argv, { input: options.stdin, timeoutMs: options.timeoutMs })
    } catch (error) {
      if (error instanceof ExecError && error.result) return error.result
      if (error instanceof ExecError) return { code: 127, stdout: '', stderr: `${argv[0]}: not found` }
      throw error
    }
  }

  async writeFile(path: string, content: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true })
    await writeFileAtomic(path, content)
  }

  async openTerminal(argv: string[], size: { cols: number; rows: number }): Promise<Terminal> {
    const pty = spawnPty(argv[0]!, argv.slice(1), { name: 'xterm-256color', ...size, encoding: null })
    return {
      write: (bytes) => pty.write(typeof bytes === 'string' ? bytes : Buffer.from(bytes)),
      resize: (cols, rows) => pty.resize(cols, rows),
      onData: (listener) => pty.onData((data) => listener(Buffer.from(data))),
      onExit: (listener) => pty.onExit(() => listener()),
      close: () => pty.kill(),
    }
  }

  dispose(): void {}
}
