// The unprivileged side of the privileged helper (electron/helper/): started once, on first need —
// directly when Berth runs as root, otherwise through pkexec (one password prompt per session) — and
// asked for allow-listed verbs over its stdin/stdout.
import { spawn, type ChildProcess } from 'node:child_process'
import { BerthError } from '../../shared/errors'
import { programCommand } from './programs'
import { onLines, parseJsonLine } from './lines'
import type { Verb, VerbArgs, VerbResults } from '../helper/verbs'

interface Answer {
  id: number
  ok: boolean
  result?: unknown
  error?: { code: 'invalid_input' | 'failed'; message: string }
}

/** Where a packaged Berth installs the helper's launcher (build/berth-helper); the polkit policy names it. */
export const INSTALLED_HELPER = '/usr/libexec/berth/berth-helper'

export class PrivilegedHelper {
  private child: ChildProcess | null = null
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  private start(): ChildProcess {
    const { argv, env } = programCommand('helper')
    const root = process.getuid?.() === 0
    const [command, ...args] = root ? argv : ['pkexec', INSTALLED_HELPER]
    const child = spawn(command!, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...this.env, ...env } })
    onLines(child.stdout!, (line) => this.onAnswer(line))
    child.on('error', (error) => this.failAll(new BerthError('unavailable', `The privileged helper could not start: ${error.message}`)))
    child.on('exit', (code) => {
      this.child = null
      this.failAll(new BerthError('unavailable', `The privileged helper ended (${code === 126 ? 'authorization was refused' : `exit code ${code}`})`))
    })
    return child
  }

  private onAnswer(line: string): void {
    const answer = parseJsonLine(line) as Answer | undefined
    const waiter = answer && this.pending.get(answer.id)
    if (!answer || !waiter) return
    this.pending.delete(answer.id)
    if (answer.ok) waiter.resolve(answer.result)
    else waiter.reject(new BerthError(answer.error!.code, answer.error!.message))
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error)
    this.pending.clear()
  }

  request<V extends Verb>(verb: V, args: VerbArgs<V>): Promise<VerbResults[V]> {
    this.child ??= this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.child!.stdin!.write(`${JSON.stringify({ id, verb, args })}\n`)
    })
  }

  dispose(): void {
    this.child?.stdin?.end()
    this.child = null
  }
}
