// Every external command runs through here: an argv array, never a shell string.
import { spawn } from 'node:child_process'
import { BerthError } from '../../shared/errors'

export interface ExecResult {
  code: number
  stdout: string
  stderr: string
}

export class ExecError extends BerthError {
  constructor(
    readonly argv: readonly string[],
    readonly result: ExecResult | null,
    message: string,
  ) {
    super('failed', message, { argv, exitCode: result?.code ?? null, stderr: result?.stderr ?? '' })
  }
}

export interface ExecOptions {
  input?: string
  timeoutMs?: number
  signal?: AbortSignal
  env?: NodeJS.ProcessEnv
}

/** Runs argv and resolves with its output; rejects with ExecError on a non-zero exit or a spawn failure. */
export function exec(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [command, ...args] = argv
  if (!command) throw new Error('exec: empty argv')
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      // No stdin unless there is input: a program that exits before reading it would make the
      // write fail with EPIPE.
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      signal: options.signal,
      env: options.env ?? process.env,
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? `${command} is not installed` : error.message
      reject(new ExecError(argv, null, why))
    })
    child.on('close', (code, signal) => {
      const result = { code: code ?? -1, stdout, stderr }
      if (code === 0) return resolve(result)
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`
      const detail = stderr.trim().split('\n').slice(-3).join(' ')
      reject(new ExecError(argv, result, `${command} ${how}${detail ? `: ${detail}` : ''}`))
    })
    if (child.stdin) {
      child.stdin.on('error', () => undefined) // the program exited without reading its input: its exit code says why
      child.stdin.end(options.input)
    }
  })
}
