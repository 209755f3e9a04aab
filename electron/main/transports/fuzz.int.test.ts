// Thousands of hostile frames at the real Berth behind its real WebSocket server: each is answered
// with an error or dropped, nothing runs, the server keeps serving and its memory stays flat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'
import { RpcClient } from '../../../shared/rpc/client'
import { tokenProtocol, webSocketTransport, WS_PROTOCOL } from '../../../shared/rpc/websocket'
import { MAX_SERVER_FRAME_BYTES } from '../../../shared/rpc/protocol'
import { createBerthServer, type BerthServer } from '../server'
import { startBrowserServer, type BrowserServer } from './browser-server'
import { heapAfterGc } from '../testing/memory'

let home: string
let berth: BerthServer
let server: BrowserServer
beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'berth-fuzz-'))
  berth = await createBerthServer({ env: { ...process.env, BERTH_HOME: home } })
  server = await startBrowserServer({ rpc: berth.rpc, staticDir: fileURLToPath(new URL('../../../dist/renderer', import.meta.url)) })
})
afterAll(async () => {
  await server?.close()
  berth?.dispose()
  rmSync(home, { recursive: true, force: true })
})

function connect(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/rpc`, [WS_PROTOCOL, tokenProtocol(server.token)])
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

function random(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
}

/** Frames a hostile or broken client could send. `answered`: a res frame must come back for its id. */
function hostileFrames(count: number): { text: string; answered: number | null }[] {
  const next = random(7)
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!
  const methods = ['machines.list', 'machines.start', 'machines.create', 'drives.attach', 'networks.create', 'host.loadModule', 'images.inspect']
  const junkMethods = ['__proto__', 'constructor', 'toString', 'machines', 'machines.list ', 'eval', '../machines.list', 'x'.repeat(100)]
  const paths = ['/etc/shadow', '../../etc/passwd', '/proc/self/environ', '/dev/sda', 'relative', '', '/tmp/../../root/.ssh/id_rsa']
  let id = 1_000_000
  const frames: (() => { text: string; answered: number | null })[] = [
    () => ({ text: 'not json', answered: null }),
    () => ({ text: '{"t":"req","id":1,', answered: null }),
    () => ({ text: JSON.stringify([1, 2]), answered: null }),
    () => ({ text: JSON.stringify({ t: 'nope', id: 1 }), answered: null }),
    () => ({ text: JSON.stringify({ t: 'req', id: -1, method: 'machines.list', input: {} }), answered: null }),
    () => ({ text: JSON.stringify({ t: 'req', id: 'x', method: 'machines.list', input: {} }), answered: null }),
    () => {
      const n = id++
      return { text: JSON.stringify({ t: 'req', id: n, method: pick(junkMethods), input: {} }), answered: n }
    },
    () => {
      const n = id++
      const input = pick([null, 42, 'x', [], { id: '../../x' }, { id: 'aaaaaaaaaaaa', extra: 1 }, { spec: { kind: 'qemu', name: '$(reboot)' } }])
      return { text: JSON.stringify({ t: 'req', id: n, method: pick(methods), input }), answered: n }
    },
    () => {
      const n = id++
      return { text: JSON.stringify({ t: 'req', id: n, method: 'images.inspect', input: { path: pick(paths) } }), answered: n }
    },
    () => {
      const n = id++
      return { text: JSON.stringify({ t: 'req', id: n, method: 'drives.attach', input: { id: 'aaaaaaaaaaaa', path: pick(paths), bus: 'virtio', persist: true, allowOutsideBacking: true } }), answered: n }
    },
    () => {
      const n = id++
      return { text: JSON.stringify({ t: 'open', id: n, stream: pick(['console.open', 'nope', 'roots.create', 'images.upload']), input: pick([{}, { id: 'zz' }, { name: '../../x', size: -1 }, { name: 'a', source: { type: 'tarball', file: '/etc/shadow' } }]) }), answered: n }
    },
    // Stream frames for streams that are not open: dropped.
    () => ({ text: JSON.stringify({ t: 'data', id: 999_999, data: 'AAAA' }), answered: null }),
    () => ({ text: JSON.stringify({ t: 'ack', id: 999_998, bytes: 100 }), answered: null }),
    () => ({ text: JSON.stringify({ t: 'ctl', id: 999_997, payload: { cols: 1e9 } }), answered: null }),
    () => ({ text: JSON.stringify({ t: 'close', id: 999_996 }), answered: null }),
    () => ({ text: JSON.stringify({ t: 'cancel', id: 999_995 }), answered: null }),
    () => ({ text: JSON.stringify({ t: 'data', id: 1, data: 'x'.repeat(200_000) }), answered: null }),
    // Big but under the cap, and deeply nested.
    () => {
      const n = id++
      return { text: JSON.stringify({ t: 'req', id: n, method: 'machines.create', input: { spec: { kind: 'qemu', name: 'x'.repeat(500_000) } } }), answered: n }
    },
    () => {
      const n = id++
      return { text: `{"t":"req","id":${n},"method":"machines.list","input":${'['.repeat(5000)}${']'.repeat(5000)}}`, answered: n }
    },
  ]
  return Array.from({ length: count }, () => pick(frames)())
}

describe('WebSocket fuzz (real Berth)', () => {
  it('answers or drops thousands of malformed frames, keeps serving, and memory stays flat', async () => {
    const ws = await connect()
    const answers = new Map<number, { ok: boolean }>()
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { t: string; id?: number; ok?: boolean }
      if (frame.t === 'res' && frame.id !== undefined) answers.set(frame.id, { ok: frame.ok === true })
    })
    const frames = hostileFrames(5000)
    const expected = frames.filter((f) => f.answered !== null).map((f) => f.answered!)
    const storm = async () => {
      answers.clear()
      for (const frame of frames) ws.send(frame.text)
      const deadline = Date.now() + 60_000
      while (expected.some((n) => !answers.has(n)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    }
    // The same storm three times: what the server keeps afterwards must not grow with it.
    const retained = []
    for (let round = 0; round < 3; round++) {
      await storm()
      retained.push(heapAfterGc())
    }
    const unanswered = frames.filter((f) => f.answered !== null && !answers.has(f.answered)).map((f) => f.text.slice(0, 160))
    expect([...new Set(unanswered)]).toEqual([])
    const succeeded = frames.filter((f) => f.answered !== null && answers.get(f.answered)!.ok).map((f) => f.text.slice(0, 160))
    expect([...new Set(succeeded)]).toEqual([]) // nothing hostile succeeded
    expect(ws.readyState).toBe(WebSocket.OPEN)
    console.log(`heap kept after each of 3 storms of ${frames.length} frames: ${retained.map((b) => (b / 1e6).toFixed(1)).join(', ')} MB`)
    expect(retained[2]! - retained[0]!, `heap after each storm: ${retained.map((b) => Math.round(b / 1e6)).join(', ')} MB`).toBeLessThan(10 * 1024 * 1024)

    // Nothing was made, and the same connection still serves real requests.
    expect(readdirSync(join(home, 'config', 'machines'))).toEqual([])
    const client = new RpcClient(webSocketTransport(ws as never, MAX_SERVER_FRAME_BYTES))
    expect(await client.call('machines.list', {})).toEqual({ machines: [], broken: [] })

    // A frame over the cap closes that connection only; a new one works.
    const big = await connect()
    const closed = new Promise<number>((r) => big.once('close', r))
    big.send('x'.repeat(2 * 1024 * 1024))
    expect(await closed).toBe(1009)
    const again = new RpcClient(webSocketTransport((await connect()) as never, MAX_SERVER_FRAME_BYTES))
    expect((await again.call('machines.list', {})).machines).toEqual([])
    again.close()
    client.close()
  }, 120_000)
})
