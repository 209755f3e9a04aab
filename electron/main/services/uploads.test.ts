import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BerthError } from '../../../shared/errors'
import { RpcClient } from '../../../shared/rpc/client'
import { RpcServer, type MethodHandlers, type StreamHandlers } from '../../../shared/rpc/server'
import { createTransportPair } from '../../../shared/rpc/transport'
import { STREAM_WINDOW } from '../../../shared/rpc/protocol'
import { receiveUpload, safeImageName } from './uploads'

let dir: string
let client: RpcClient
let accepted: string[]

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-upload-'))
  accepted = []
  const server = new RpcServer({
    methods: {} as MethodHandlers,
    streams: {
      'images.upload': (input, stream) =>
        receiveUpload(dir, input, stream, async (path) => {
          if (readFileSync(path).subarray(0, 4).toString() === 'PK\x03\x04') throw new Error(`${path} looks like a ZIP archive`)
          accepted.push(path)
        }),
    } as StreamHandlers,
  })
  const [a, b] = createTransportPair()
  server.accept(b)
  client = new RpcClient(a)
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

function upload(name: string, bytes: Uint8Array, options: { stopAfter?: number } = {}) {
  let acked = 0
  let maxInFlight = 0
  let written = 0
  const result = new Promise<string>((resolve, reject) => {
    void client
      .openStream('images.upload', { name, size: bytes.length }, {
        onAck: (n) => (acked += n),
        onControl: ({ path }) => resolve(path),
        onClose: (error) => reject(error ?? new Error('closed')),
      })
      .then(async (stream) => {
        for (let i = 0; i < bytes.length; i += 32 * 1024) {
          if (options.stopAfter !== undefined && i >= options.stopAfter) return (stream.close(), resolve('cancelled'))
          stream.write(bytes.subarray(i, i + 32 * 1024))
          written = Math.min(bytes.length, i + 32 * 1024)
          await stream.drained()
          maxInFlight = Math.max(maxInFlight, written - acked)
        }
        stream.control({ done: true })
      })
  })
  return { result, stats: () => ({ acked, maxInFlight }) }
}

const settle = () => new Promise((r) => setTimeout(r, 50))

describe('uploads into the image folder', () => {
  it('stores a complete upload under a safe, unique name and reports its path', async () => {
    const bytes = new Uint8Array(1024 * 1024).map((_, i) => i % 256)
    const first = await upload('../../etc/disk image.qcow2', bytes).result
    expect(first).toBe(join(dir, 'disk_image.qcow2'))
    expect(readFileSync(first).equals(Buffer.from(bytes))).toBe(true)
    const second = await upload('disk image.qcow2', bytes).result
    expect(second).toBe(join(dir, 'disk_image-1.qcow2'))
    expect(readdirSync(dir).sort()).toEqual(['disk_image-1.qcow2', 'disk_image.qcow2'])
  })

  it('the sender never has more than one window in flight (flow control client → server)', async () => {
    const bytes = new Uint8Array(3 * 1024 * 1024)
    const job = upload('big.img', bytes)
    await job.result
    expect(job.stats().acked).toBe(bytes.length)
    expect(job.stats().maxInFlight).toBeLessThanOrEqual(STREAM_WINDOW)
  })

  it('a cancelled upload leaves nothing behind', async () => {
    const job = upload('partial.qcow2', new Uint8Array(2 * 1024 * 1024), { stopAfter: 512 * 1024 })
    await job.result.catch(() => undefined)
    await settle()
    expect(readdirSync(dir)).toEqual([])
  })

  it('a file the check refuses is removed and the reason reaches the client', async () => {
    const zip = Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(4096)])
    const error = await upload('photos.zip', zip).result.catch((e: BerthError) => e)
    expect(error).toBeInstanceOf(BerthError)
    expect((error as BerthError).message).toBe('photos.zip looks like a ZIP archive')
    await settle()
    expect(readdirSync(dir)).toEqual([])
  })

  it('refuses more bytes than announced', async () => {
    const stream = await client.openStream('images.upload', { name: 'liar.img', size: 10 }, {
      onClose: () => undefined,
    })
    stream.write(new Uint8Array(100))
    await settle()
    expect(stream.closed).toBe(true)
    expect(readdirSync(dir)).toEqual([])
  })

  it('makes names safe', () => {
    expect(safeImageName('..')).toBe('image')
    expect(safeImageName('C:\\Users\\me\\win.vhdx')).toBe('win.vhdx')
    expect(safeImageName('.hidden.img')).toBe('hidden.img')
    expect(safeImageName('a b$(x).iso')).toBe('a_b__x_.iso')
  })
})
