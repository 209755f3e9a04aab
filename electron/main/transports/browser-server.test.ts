import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { RpcServer, type MethodHandlers, type StreamHandlers } from '../../../shared/rpc/server'
import { RpcClient } from '../../../shared/rpc/client'
import { tokenProtocol, webSocketTransport, WS_PROTOCOL } from '../../../shared/rpc/websocket'
import { MAX_SERVER_FRAME_BYTES } from '../../../shared/rpc/protocol'
import { startBrowserServer, type BrowserServer } from './browser-server'
import { sameToken } from '../tokens'

let root: string
let server: BrowserServer

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-static-'))
  await mkdir(join(root, 'static'))
  await writeFile(join(root, 'static', 'index.html'), '<!doctype html><title>Berth</title>')
  await writeFile(join(root, 'secret.txt'), 'outside the static root')
  const rpc = new RpcServer({
    methods: {
      'machines.list': async () => ({ machines: [], broken: [] }),
      // An answer as large as the list of a few thousand machines.
      'hosts.list': async () => ({ hosts: Array.from({ length: 3000 }, (_, i) => ({ id: `h${i}`, note: 'x'.repeat(1000) })) }),
    } as unknown as MethodHandlers,
    streams: {} as StreamHandlers,
  })
  server = await startBrowserServer({ rpc, staticDir: join(root, 'static') })
})

afterEach(async () => {
  await server.close()
  await rm(root, { recursive: true, force: true })
})

function open(protocols: string[], headers: Record<string, string> = {}, path = '/rpc'): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}${path}`, protocols, { headers })
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

describe('browser mode server', () => {
  it('binds 127.0.0.1 and prints a URL that carries the token in the fragment', () => {
    expect(server.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/#token=[0-9a-f]{48}$`))
  })

  it('serves the RPC to a client with the token', async () => {
    const ws = await open([WS_PROTOCOL, tokenProtocol(server.token)])
    expect(ws.protocol).toBe(WS_PROTOCOL)
    const client = new RpcClient(webSocketTransport(ws as never, MAX_SERVER_FRAME_BYTES))
    expect(await client.call('machines.list', {})).toEqual({ machines: [], broken: [] })
    ws.close()
  })

  it('gives a client an answer larger than the frames a client may send (a list of thousands of machines)', async () => {
    const ws = await open([WS_PROTOCOL, tokenProtocol(server.token)])
    const client = new RpcClient(webSocketTransport(ws as never, MAX_SERVER_FRAME_BYTES))
    const { hosts } = (await client.call('hosts.list', {})) as unknown as { hosts: unknown[] }
    expect(hosts).toHaveLength(3000)
    ws.close()
  })

  it('refuses a missing or wrong token, a foreign Origin and a foreign Host', async () => {
    await expect(open([WS_PROTOCOL])).rejects.toThrow('HTTP 401')
    await expect(open([WS_PROTOCOL, tokenProtocol('0'.repeat(48))])).rejects.toThrow('HTTP 401')
    await expect(open([WS_PROTOCOL, tokenProtocol(server.token.slice(1))])).rejects.toThrow('HTTP 401')
    const good = [WS_PROTOCOL, tokenProtocol(server.token)]
    await expect(open(good, { Origin: 'http://evil.example' })).rejects.toThrow('HTTP 401')
    await expect(open(good, { Host: 'evil.example' })).rejects.toThrow('HTTP 401')
    await expect(open(good, {}, '/other')).rejects.toThrow('HTTP 401')
  })

  it('answers a malformed frame with an error and keeps the connection', async () => {
    const ws = await open([WS_PROTOCOL, tokenProtocol(server.token)])
    const answer = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))))
    ws.send('{"t":"req","id":1,"method":')
    ws.send(JSON.stringify({ t: 'req', id: 2, method: 'machines.list', input: {} }))
    expect(JSON.parse(await answer)).toMatchObject({ t: 'res', id: 2, ok: true })
    ws.close()
  })

  it('closes a connection that sends a frame over the size cap', async () => {
    const ws = await open([WS_PROTOCOL, tokenProtocol(server.token)])
    const closed = new Promise<number>((resolve) => ws.once('close', resolve))
    ws.send('x'.repeat(2 * 1024 * 1024))
    expect(await closed).toBe(1009)
  })

  it('serves the renderer with a CSP and nothing outside its folder', async () => {
    const base = `http://127.0.0.1:${server.port}`
    const index = await fetch(`${base}/`)
    expect(index.status).toBe(200)
    expect(index.headers.get('content-security-policy')).toMatch(/script-src 'self'/)
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt'])
      expect((await fetch(`${base}${path}`)).status).toBe(404)
  })

  it('answers a path with a malformed %-escape with 400, and goes on serving', async () => {
    const base = `http://127.0.0.1:${server.port}`
    const answer = await fetch(`${base}/%E0%A4%A`)
    expect([answer.status, await answer.text()]).toEqual([400, 'Malformed %-escape in the path'])
    expect((await fetch(`${base}/`)).status).toBe(200)
  })

  it('refuses a data frame that is not base64 as malformed, without ending the server', async () => {
    const ws = await open([WS_PROTOCOL, tokenProtocol(server.token)])
    const answer = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))))
    ws.send(JSON.stringify({ t: 'data', id: 1, data: '%%%not base64%%%' }))
    ws.send(JSON.stringify({ t: 'req', id: 2, method: 'machines.list', input: {} }))
    expect(JSON.parse(await answer)).toMatchObject({ t: 'res', id: 2, ok: true })
    ws.close()
  })

  it('answers repeated wrong tokens more and more slowly', async () => {
    const refusal = async () => {
      const begun = performance.now()
      await open([WS_PROTOCOL, tokenProtocol('f'.repeat(48))]).catch(() => undefined)
      return performance.now() - begun
    }
    const first = await refusal()
    for (let i = 0; i < 5; i++) await refusal()
    const seventh = await refusal()
    // The delay grows by 50 ms per failure: the 7th waits about 300 ms more than the 1st.
    expect(seventh - first).toBeGreaterThan(200)
  })

  it('compares tokens in constant time and only equal ones match', () => {
    expect(sameToken('abc', 'abc')).toBe(true)
    expect(sameToken('abd', 'abc')).toBe(false)
    expect(sameToken('ab', 'abc')).toBe(false)
  })
})
