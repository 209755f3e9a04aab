import { describe, expect, it, vi } from 'vitest'
import { BerthError } from '../errors'
import { RpcClient } from './client'
import { RpcServer, type MethodHandlers, type StreamHandlers, type ServerStream } from './server'
import { createTransportPair, type Transport } from './transport'
import { MAX_DATA_CHUNK, STREAM_WINDOW } from './protocol'
import { qemuSpecSchema, type Machine } from '../model/machine'

const machine: Machine = {
  id: 'abcdefghijkl',
  spec: qemuSpecSchema.parse({ kind: 'qemu', name: 'm', memoryMiB: 64, cores: 1, boot: { type: 'disk' }, disk: { sizeMiB: 1 } }),
  state: 'stopped',
  lastError: null,
  capabilities: ['drives', 'pause'],
  actions: ['start', 'edit', 'remove'],
  runtime: { kind: 'qemu', accelerator: null, drives: [], cdrom: null },
  stopping: null,
  createdAt: 'now',
}

function setup(overrides: Partial<MethodHandlers> = {}, streams: Partial<StreamHandlers> = {}) {
  const notImplemented = async () => {
    throw new BerthError('failed', 'not in this test')
  }
  const methods = {
    'host.info': notImplemented,
    'machines.list': async () => ({ machines: [machine], broken: [] }),
    'machines.preview': notImplemented,
    'machines.create': async () => machine,
    'machines.start': notImplemented,
    'machines.stop': notImplemented,
    'machines.pause': notImplemented,
    'machines.resume': notImplemented,
    'machines.remove': notImplemented,
    ...overrides,
  } as MethodHandlers
  const refused: string[] = []
  const server = new RpcServer({
    methods,
    streams: { 'console.open': notImplemented, ...streams } as StreamHandlers,
    onRefused: (r) => refused.push(r),
  })
  const [clientSide, serverSide] = createTransportPair()
  server.accept(serverSide)
  return { server, client: new RpcClient(clientSide), clientSide, refused }
}

/** The error a call fails with; a call that succeeds fails the test. */
const failure = (call: Promise<unknown>) =>
  call.then(
    () => {
      throw new Error('expected the call to fail')
    },
    (e: unknown) => e as BerthError,
  )

/** Sends a raw frame and resolves with the next frame the server answers. */
function rawExchange(transport: Transport, frame: unknown): Promise<unknown> {
  return new Promise((resolve) => {
    const sub = transport.onFrame((answer) => {
      sub.dispose()
      resolve(answer)
    })
    transport.send(frame as never)
  })
}

describe('rpc', () => {
  it('calls a method and returns its output', async () => {
    const { client } = setup()
    const list = await client.call('machines.list', {})
    expect(list.machines[0]?.id).toBe('abcdefghijkl')
  })

  it('refuses invalid input with a message per field, and the handler never runs', async () => {
    let ran = false
    const { client } = setup({ 'machines.start': async () => ((ran = true), machine) })
    const error = await client.call('machines.start', { id: '../../etc' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BerthError)
    expect((error as BerthError).code).toBe('invalid_input')
    expect((error as BerthError).details).toEqual({ fields: { id: 'Not a machine id' } })
    expect(ran).toBe(false)
  })

  it('refuses extra fields (strict schemas)', async () => {
    const { client } = setup()
    const error = await failure(client.call('machines.list', { evil: 1 } as never))
    expect(error.code).toBe('invalid_input')
  })

  it('answers unknown methods and malformed frames with an error and keeps serving', async () => {
    const { client, clientSide, refused } = setup()
    const unknown = await failure(client.call('nope' as never, {} as never))
    expect(unknown.code).toBe('unknown_method')
    const answer = (await rawExchange(clientSide, { t: 'req', id: 99, method: 42 })) as { ok: boolean; error: { code: string } }
    expect(answer.ok).toBe(false)
    expect(answer.error.code).toBe('invalid_input')
    clientSide.send({ t: 'bogus' } as never)
    clientSide.send(null as never)
    await new Promise((r) => setTimeout(r, 10))
    expect(refused.length).toBeGreaterThanOrEqual(3)
    expect((await client.call('machines.list', {})).machines).toHaveLength(1)
  })

  it('does not let a prototype key pose as a method', async () => {
    const { client } = setup()
    const error = await failure(client.call('constructor' as never, {} as never))
    expect(error.code).toBe('unknown_method')
  })

  it('turns handler failures into { code, message, details }', async () => {
    const { client } = setup({
      'machines.start': async () => {
        throw new BerthError('conflict', 'm is already running', { state: 'running' })
      },
    })
    const error = await failure(client.call('machines.start', { id: 'abcdefghijkl' }))
    expect(error).toMatchObject({ code: 'conflict', message: 'm is already running', details: { state: 'running' } })
  })

  it('cancels a call: the handler sees the abort and the caller gets cancelled', async () => {
    let aborted = false
    const { client } = setup({
      'machines.start': (_args, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true
            reject(new Error('stopped'))
          })
        }),
    })
    const controller = new AbortController()
    const pending = client.call('machines.start', { id: 'abcdefghijkl' }, { signal: controller.signal })
    setTimeout(() => controller.abort(), 5)
    const error = await failure(pending)
    expect(error.code).toBe('cancelled')
    expect(aborted).toBe(true)
  })

  it('broadcasts events to every client', async () => {
    const { server, client } = setup()
    const seen = new Promise((resolve) => client.on('machines.changed', resolve))
    server.broadcast('machines.changed', { id: 'x', machine: null })
    expect(await seen).toEqual({ id: 'x', machine: null })
  })

  it('fails pending calls when the connection drops', async () => {
    const { client, clientSide } = setup({ 'machines.start': () => new Promise(() => undefined) })
    const pending = client.call('machines.start', { id: 'abcdefghijkl' })
    clientSide.close()
    const error = await failure(pending)
    expect(error.code).toBe('unavailable')
  })

  it('streams bytes in order and never has more than the window unacknowledged', async () => {
    const total = 3 * STREAM_WINDOW + 123
    let serverStream: ServerStream<unknown> | null = null
    const { client } = setup(
      {},
      {
        'console.open': async (_args, stream) => {
          serverStream = stream as ServerStream<unknown>
          const bytes = new Uint8Array(total)
          for (let i = 0; i < total; i++) bytes[i] = i % 251
          stream.send(bytes)
        },
      },
    )
    const received: number[] = []
    let release!: () => void
    let gate = new Promise<void>((r) => (release = r))
    const stream = await client.openStream('console.open', { id: 'abcdefghijkl' }, {
      onData: async (bytes) => {
        received.push(...bytes)
        if (received.length === STREAM_WINDOW) await gate // hold the acknowledgement
      },
    })
    await new Promise((r) => setTimeout(r, 30))
    // The consumer is stuck on its 4th chunk: the server holds the rest back at one window in flight.
    expect(received.length).toBe(STREAM_WINDOW)
    const sent = total - serverStream!.buffered
    const acknowledged = STREAM_WINDOW - MAX_DATA_CHUNK
    expect(serverStream!.buffered).toBeGreaterThan(0)
    expect(sent - acknowledged).toBe(STREAM_WINDOW)
    release()
    gate = Promise.resolve()
    await new Promise((r) => setTimeout(r, 50))
    expect(received.length).toBe(total)
    expect(received.every((b, i) => b === i % 251)).toBe(true)
    stream.close()
  })

  it('carries keystrokes and valid controls to the server; invalid controls are refused', async () => {
    const input: number[] = []
    const controls: unknown[] = []
    const { client, refused } = setup(
      {},
      {
        'console.open': async (_args, stream) => {
          stream.onInput((b) => void input.push(...b))
          stream.onControl((c) => controls.push(c))
        },
      },
    )
    const stream = await client.openStream('console.open', { id: 'abcdefghijkl' }, { onData: () => undefined })
    stream.write(new TextEncoder().encode('ls\r'))
    stream.control({ cols: 80, rows: 24 })
    stream.control({ cols: -1, rows: 'x' } as never)
    await new Promise((r) => setTimeout(r, 10))
    expect(new TextDecoder().decode(new Uint8Array(input))).toBe('ls\r')
    expect(controls).toEqual([{ cols: 80, rows: 24 }])
    expect(refused).toContain('Invalid stream control')
  })

  it('reports a stream that fails to open', async () => {
    const { client } = setup(
      {},
      {
        'console.open': async () => {
          throw new BerthError('not_found', 'No machine with id abcdefghijkl')
        },
      },
    )
    const error = await failure(client.openStream('console.open', { id: 'abcdefghijkl' }, { onData: () => undefined }))
    expect(error).toMatchObject({ code: 'not_found' })
  })
})

describe('data frames', () => {
  it('carry bytes; a JSON carrier writes them as base64, and what is not base64 stays a malformed frame', async () => {
    const { fromJsonWire, toJsonWire, MAX_DATA_CHUNK } = await import('./protocol')
    const { clientFrameSchema } = await import('./client-frames')
    for (const bytes of [[], [1], [1, 2], [1, 2, 3], [0, 255, 10, 13]]) {
      const text = toJsonWire({ t: 'data', id: 1, data: new Uint8Array(bytes) })
      expect(JSON.parse(text).data).toBe(btoa(String.fromCharCode(...bytes)))
      const frame = clientFrameSchema.parse(fromJsonWire(text))
      expect(frame.t === 'data' && [...frame.data]).toEqual(bytes)
    }
    for (const data of ['%%%', 'AAA', 'AA=A', 'A===', 'QUJD\n', 42])
      expect(clientFrameSchema.safeParse(fromJsonWire(JSON.stringify({ t: 'data', id: 1, data }))).success, String(data)).toBe(false)
    expect(clientFrameSchema.safeParse({ t: 'data', id: 1, data: new Uint8Array(MAX_DATA_CHUNK + 1) }).success).toBe(false)
  })
})

describe('frames', () => {
  it('coalesce bytes that come one at a time: the first goes out at once, the rest together', async () => {
    const { OutgoingBytes, COALESCE_MS } = await import('./flow')
    // The clock is the test's: a busy machine cannot stretch the pushes past the coalescing window.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    try {
      const frames: Uint8Array[] = []
      const out = new OutgoingBytes((frame) => frames.push(frame))
      out.enable()
      for (let i = 0; i < 1000; i++) out.push(new Uint8Array([i % 256]))
      expect(frames.map((f) => f.length)).toEqual([1])
      vi.advanceTimersByTime(COALESCE_MS)
      expect(frames.map((f) => f.length)).toEqual([1, 999])
      expect(Array.from(frames[1]!.subarray(0, 3))).toEqual([1, 2, 3])
      // After a quiet moment the next byte goes out at once again.
      vi.advanceTimersByTime(COALESCE_MS + 1)
      out.push(new Uint8Array([7]))
      expect(frames.map((f) => f.length)).toEqual([1, 999, 1])
    } finally {
      vi.useRealTimers()
    }
  })
})
