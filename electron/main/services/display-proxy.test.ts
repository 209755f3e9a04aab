import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createServer, type Server } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { DisplayProxy, TICKET_LIFETIME_MS } from './display-proxy'

let dir: string
let proxy: DisplayProxy
let qemu: Server
const A = 'aaaaaaaaaaaa'
const B = 'bbbbbbbbbbbb'

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-display-'))
  // Stands in for QEMU's VNC socket: greets like RFB, then echoes what it receives.
  qemu = createServer((socket) => {
    socket.write('RFB 003.008\n')
    socket.on('data', (d) => socket.write(d))
    socket.on('error', () => undefined)
  })
  await new Promise<void>((r) => qemu.listen(join(dir, 'vnc.sock'), r))
  proxy = new DisplayProxy()
  await proxy.start()
})

afterEach(async () => {
  await proxy.close()
  qemu.close()
  rmSync(dir, { recursive: true, force: true })
})

function connect(url: string, origin?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, ['binary'], origin ? { origin } : {})
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

const firstMessage = (ws: WebSocket) => new Promise<string>((r) => ws.once('message', (d) => r(String(d))))

describe('display proxy', () => {
  it('carries the screen protocol both ways for a valid ticket, on 127.0.0.1', async () => {
    const url = proxy.issue(A, join(dir, 'vnc.sock'), 'vnc')
    expect(url).toMatch(new RegExp(`^ws://127\\.0\\.0\\.1:\\d+/display/${A}\\?ticket=[0-9a-f]{48}$`))
    const ws = await connect(url)
    expect(ws.protocol).toBe('binary')
    expect(await firstMessage(ws)).toBe('RFB 003.008\n')
    ws.send(Buffer.from('hello'))
    expect(await firstMessage(ws)).toBe('hello')
    ws.close()
  })

  it('refuses a missing or wrong ticket, and a ticket used for another machine', async () => {
    const url = proxy.issue(A, join(dir, 'vnc.sock'), 'vnc')
    const base = url.split('?')[0]!
    await expect(connect(base)).rejects.toThrow('HTTP 401')
    await expect(connect(`${base}?ticket=${'0'.repeat(48)}`)).rejects.toThrow('HTTP 401')
    await expect(connect(url.replace(A, B))).rejects.toThrow('HTTP 401')
    await expect(connect(url.replace('/display/', '/other/'))).rejects.toThrow('HTTP 401')
  })

  it('closes the viewers of a machine that stops, and its tickets stop working', async () => {
    const url = proxy.issue(A, join(dir, 'vnc.sock'), 'vnc')
    const ws = await connect(url)
    const closed = new Promise<number>((r) => ws.once('close', r))
    proxy.closeMachine(A)
    expect(await closed).toBe(1001)
    await expect(connect(url)).rejects.toThrow('HTTP 401')
  })

  it('a VNC ticket admits one connection; a SPICE ticket one per channel; both only from Berth\'s pages', async () => {
    const vnc = proxy.issue(A, join(dir, 'vnc.sock'), 'vnc')
    ;(await connect(vnc)).close()
    await expect(connect(vnc)).rejects.toThrow('HTTP 401')
    const spice = proxy.issue(A, join(dir, 'vnc.sock'), 'spice')
    for (let channel = 0; channel < 8; channel++) (await connect(spice)).close()
    await expect(connect(spice)).rejects.toThrow('HTTP 401')
    proxy.allowOrigin('http://127.0.0.1:4000')
    const fromPage = proxy.issue(A, join(dir, 'vnc.sock'), 'vnc')
    await expect(connect(fromPage, 'http://evil.example')).rejects.toThrow('HTTP 401')
    ;(await connect(fromPage, 'http://127.0.0.1:4000')).close()
  })

  it('a ticket not used within its lifetime ends, and tickets never pile up', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const late = proxy.issue(A, join(dir, 'vnc.sock'), 'vnc')
      vi.setSystemTime(Date.now() + TICKET_LIFETIME_MS + 1)
      await expect(connect(late)).rejects.toThrow('HTTP 401')
      const first = proxy.issue(A, join(dir, 'vnc.sock'), 'vnc')
      for (let i = 0; i < 64; i++) proxy.issue(A, join(dir, 'vnc.sock'), 'vnc')
      await expect(connect(first)).rejects.toThrow('HTTP 401') // the oldest went
    } finally {
      vi.useRealTimers()
    }
  })

  it('closes QEMU’s side of a SPICE channel only once its server has spoken after the link, the main channel once all have', async () => {
    // Stands in for spice-server: answers a link (header + 4-byte body, then the 4-byte result) and
    // speaks on the channel only when told to.
    const speak = new Map<number, () => void>()
    const closed = new Set<number>()
    const spice = createServer((socket) => {
      socket.once('data', (link: Buffer) => {
        const type = link[20]!
        const reply = Buffer.alloc(16 + 4 + 4)
        reply.write('REDQ')
        reply.writeUInt32LE(4, 12)
        socket.write(reply)
        speak.set(type, () => socket.write(Buffer.from('init')))
        socket.on('close', () => closed.add(type))
      })
      socket.on('error', () => undefined)
    })
    await new Promise<void>((r) => spice.listen(join(dir, 'spice.sock'), r))
    try {
      const url = proxy.issue(A, join(dir, 'spice.sock'), 'spice')
      const linkOf = (type: number) => Buffer.concat([Buffer.from('REDQ'), Buffer.alloc(16), Buffer.from([type]), Buffer.alloc(3)])
      const [main, display] = [await connect(url), await connect(url)]
      main.send(linkOf(1))
      display.send(linkOf(2))
      await vi.waitFor(() => expect(speak.size).toBe(2))
      speak.get(1)!()
      await firstMessage(main)
      let settled = false
      void proxy.afterSettling(A, async () => (settled = true))
      // The viewer leaves while the display channel is still being set up: QEMU's side stays open.
      main.close()
      display.close()
      await new Promise((r) => setTimeout(r, 200))
      expect([...closed]).toEqual([])
      expect(settled).toBe(false)
      speak.get(2)!()
      await vi.waitFor(() => expect(closed.size).toBe(2))
      await vi.waitFor(() => expect(settled).toBe(true))
    } finally {
      spice.close()
    }
  })
})
