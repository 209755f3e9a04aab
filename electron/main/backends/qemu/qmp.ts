// QMP client: greeting → qmp_capabilities → commands routed by id; events to listeners.
import { createConnection, type Socket } from 'node:net'
import { BerthError } from '../../../../shared/errors'
import { Emitter, type Disposable } from '../../../../shared/rpc/transport'
import { onLines, parseJsonLine } from '../../lines'

export interface QmpEvent {
  event: string
  data?: Record<string, unknown>
  timestamp?: { seconds: number; microseconds: number }
}

interface Pending {
  command: string
  resolve(value: unknown): void
  reject(error: Error): void
}

export class QmpError extends BerthError {
  constructor(
    readonly command: string,
    readonly qmpClass: string,
    desc: string,
  ) {
    super('failed', desc, { command, class: qmpClass })
  }
}

export class QmpClient {
  private nextId = 1
  private readonly pending = new Map<string, Pending>()
  private readonly events = new Emitter<QmpEvent>()
  private readonly closes = new Emitter<void>()
  private closed = false

  private constructor(private readonly socket: Socket) {
    onLines(socket, (line) => this.onMessage(line))
    socket.on('error', () => undefined) // 'close' follows and fails what is pending
    socket.on('close', () => this.handleClose())
  }

  /** Connects, reads the greeting and negotiates capabilities. */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const socket = createConnection(path)
    const greeting = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new BerthError('failed', `No QMP greeting on ${path} within ${timeoutMs} ms`))
      }, timeoutMs)
      let seen = ''
      const onData = (chunk: Buffer) => {
        seen += chunk.toString('utf8')
        const newline = seen.indexOf('\n')
        if (newline < 0) return
        clearTimeout(timer)
        socket.off('data', onData)
        socket.off('error', onError)
        const rest = seen.slice(newline + 1)
        if (!seen.slice(0, newline).includes('"QMP"')) return reject(new BerthError('failed', `${path} is not a QMP socket`))
        if (rest) socket.unshift(Buffer.from(rest, 'utf8'))
        resolve()
      }
      const onError = (error: Error) => {
        clearTimeout(timer)
        reject(error)
      }
      socket.on('data', onData)
      socket.once('error', onError)
    })
    await greeting
    const client = new QmpClient(socket)
    await client.execute('qmp_capabilities')
    return client
  }

  get isClosed(): boolean {
    return this.closed
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(new BerthError('failed', `QMP connection closed (${command})`))
    const id = String(this.nextId++)
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject })
      this.socket.write(JSON.stringify(args ? { execute: command, arguments: args, id } : { execute: command, id }) + '\n')
    })
  }

  onEvent(listener: (event: QmpEvent) => void): Disposable {
    return this.events.on(listener)
  }

  /**
   * The next event of that name for which matches() holds, or null after timeoutMs or when the
   * connection closes. Subscribe before the command that causes it, so that it cannot be missed.
   */
  waitFor(event: string, matches: (data: Record<string, unknown>) => boolean, timeoutMs: number): Promise<QmpEvent | null> {
    return new Promise((resolve) => {
      const done = (found: QmpEvent | null) => {
        clearTimeout(timer)
        sub.dispose()
        closed.dispose()
        resolve(found)
      }
      const timer = setTimeout(() => done(null), timeoutMs)
      const sub = this.onEvent((e) => e.event === event && matches(e.data ?? {}) && done(e))
      const closed = this.onClose(() => done(null))
    })
  }

  /**
   * Runs a QMP job (snapshot-save, snapshot-load, snapshot-delete) to its end; the job's own error,
   * if it had one, is thrown. The job is dismissed either way.
   */
  async runJob(command: string, args: Record<string, unknown>, timeoutMs: number): Promise<void> {
    const jobId = `berth-${command}-${this.nextId}`
    const concluded = this.waitFor('JOB_STATUS_CHANGE', (data) => data.id === jobId && data.status === 'concluded', timeoutMs)
    await this.execute(command, { ...args, 'job-id': jobId })
    if (!(await concluded)) throw new BerthError('failed', `${command} did not finish within ${Math.round(timeoutMs / 1000)} s`)
    const jobs = await this.execute<{ id: string; error?: string }[]>('query-jobs')
    const error = jobs.find((job) => job.id === jobId)?.error
    await this.execute('job-dismiss', { id: jobId })
    if (error) throw new QmpError(command, 'GenericError', error)
  }

  onClose(listener: () => void): Disposable {
    if (this.closed) {
      queueMicrotask(listener)
      return { dispose: () => undefined }
    }
    return this.closes.on(listener)
  }

  close(): void {
    this.socket.destroy()
  }

  private onMessage(line: string): void {
    const message = parseJsonLine(line) as { id?: string; return?: unknown; error?: { class: string; desc: string }; event?: string } | undefined
    if (!message) return
    if (message.event) return this.events.emit(message as QmpEvent)
    const pending = message.id !== undefined ? this.pending.get(String(message.id)) : undefined
    if (!pending) return
    this.pending.delete(String(message.id))
    if (message.error) pending.reject(new QmpError(pending.command, message.error.class, message.error.desc))
    else pending.resolve(message.return)
  }

  private handleClose(): void {
    if (this.closed) return
    this.closed = true
    for (const p of this.pending.values()) p.reject(new BerthError('failed', `QMP connection closed (${p.command})`))
    this.pending.clear()
    this.closes.emit()
    this.events.clear()
    this.closes.clear()
  }
}
