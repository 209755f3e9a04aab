// The Electron carrier without Electron: the main side's IPC transport and the renderer's bridge
// transport joined by a fake pipe that copies frames the way Electron's IPC does (structured clone).
import { describe, expect, it } from 'vitest'
import { RpcClient } from '../../../shared/rpc/client'
import { RpcServer, type MethodHandlers, type StreamHandlers } from '../../../shared/rpc/server'
import { BerthError } from '../../../shared/errors'
import { bridgeTransport } from '../../../shared/rpc/transport'
import { ipcTransport, trustedSender, type IpcSenderInfo } from './ipc'

function carrier() {
  const toRenderer = new Set<(frame: unknown) => void>()
  let alive = true
  const main = ipcTransport({ post: (frame) => toRenderer.forEach((l) => l(structuredClone(frame))), alive: () => alive })
  const bridge = {
    send: (frame: unknown) => main.receive(structuredClone(frame)),
    onFrame(listener: (frame: unknown) => void) {
      toRenderer.add(listener)
      return () => toRenderer.delete(listener)
    },
    pathForFile: () => '',
  }
  const fail = async () => {
    throw new BerthError('failed', 'not in this test')
  }
  const server = new RpcServer({
    methods: new Proxy({ 'machines.list': async () => ({ machines: [], broken: [] }) }, { get: (t, k) => (t as Record<string, unknown>)[k as string] ?? fail }) as unknown as MethodHandlers,
    streams: {
      'console.open': async (_args: unknown, stream: { send(b: Uint8Array): void; onInput(l: (b: Uint8Array) => void): void }) => {
        stream.onInput((bytes) => stream.send(Uint8Array.from(bytes, (b) => b + 1)))
      },
    } as unknown as StreamHandlers,
  })
  server.accept(main)
  return { main, client: new RpcClient(bridgeTransport(bridge)), kill: () => (alive = false) }
}

describe('the IPC carrier', () => {
  it('carries calls and stream bytes both ways between the window and the main process', async () => {
    const { client } = carrier()
    expect(await client.call('machines.list', {})).toEqual({ machines: [], broken: [] })
    const received: number[] = []
    const stream = await client.openStream('console.open', { id: 'abcdefghijkl' }, { onData: (bytes) => void received.push(...bytes) })
    stream.write(new Uint8Array([1, 2, 3]))
    await expect.poll(() => received).toEqual([2, 3, 4])
    const refused = await client.call('machines.start', { id: 'abcdefghijkl' }).then(() => null, (e: BerthError) => e)
    expect(refused?.message).toBe('not in this test')
  })

  it('sends nothing to a window that is gone, and a reload ends the old transport', async () => {
    const { main, client, kill } = carrier()
    let closed = false
    main.onClose(() => (closed = true))
    kill()
    const pending = client.call('machines.list', {})
    let settled = false
    void pending.finally(() => (settled = true)).catch(() => undefined)
    await new Promise((r) => setTimeout(r, 50))
    expect(settled).toBe(false) // the answer had nowhere to go
    main.end()
    expect(closed).toBe(true)
    main.receive({ t: 'call', id: 99, method: 'machines.list', args: {} }) // after the end: ignored
  })
})

describe('trustedSender', () => {
  const url = 'file:///opt/berth/renderer/index.html'
  const contents = { id: 1, mainFrame: { url } }
  const window = { webContents: contents }
  const event = (over: Partial<IpcSenderInfo> = {}): IpcSenderInfo => ({ sender: contents, senderFrame: contents.mainFrame, ...over })

  it("accepts Berth's own page in Berth's own window, with or without a route after #", () => {
    expect(trustedSender(event(), window, url)).toBe(true)
    const routed = { id: 1, mainFrame: { url: `${url}#/machines/x` } }
    expect(trustedSender(event({ sender: routed, senderFrame: routed.mainFrame }), { webContents: routed }, url)).toBe(true)
  })

  it('refuses other windows, subframes, other pages, a frame that is gone and no window', () => {
    const other = { id: 2, mainFrame: { url } }
    expect(trustedSender(event({ sender: other, senderFrame: other.mainFrame }), window, url)).toBe(false)
    expect(trustedSender(event({ senderFrame: { url } }), window, url)).toBe(false) // a subframe at the same address
    const elsewhere = { id: 1, mainFrame: { url: 'https://example.com/' } }
    expect(trustedSender(event({ sender: elsewhere, senderFrame: elsewhere.mainFrame }), { webContents: elsewhere }, url)).toBe(false)
    expect(trustedSender(event({ senderFrame: null }), window, url)).toBe(false)
    expect(trustedSender(event(), null, url)).toBe(false)
  })
})
