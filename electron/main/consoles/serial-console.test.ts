import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createServer, type Server, type Socket } from 'node:net'
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ServerStream } from '../../../shared/rpc/server'
import { STREAM_WINDOW, type Frame } from '../../../shared/rpc/protocol'
import { contract } from '../../../shared/contract'
import { SerialConsole, VIEWER_BACKLOG_LIMIT } from './serial-console'

let dir: string
let server: Server
let guest: Socket | null
let guestReceived: string
const log = () => join(dir, 'serial.log')
const sock = () => join(dir, 'serial.sock')

/** Stands in for QEMU: every byte the guest writes goes to the log and to the connected client. */
function guestWrites(text: string) {
  appendFileSync(log(), text)
  guest?.write(text)
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-serial-'))
  guest = null
  guestReceived = ''
  server = createServer((socket) => {
    guest = socket
    socket.on('data', (d) => (guestReceived += d.toString()))
    socket.on('error', () => undefined) // Berth hung up: fine for a stand-in QEMU
  })
  await new Promise<void>((r) => server.listen(sock(), r))
})

afterEach(() => {
  server.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A viewer stream whose frames are collected; acknowledges everything unless told not to. */
function viewer(ack = true) {
  let text = ''
  const closes: unknown[] = []
  const stream: ServerStream<{ cols: number; rows: number }> = new ServerStream(
    1,
    (frame: Frame) => {
      if (frame.t === 'data') {
        const bytes = frame.data
        text += new TextDecoder().decode(bytes)
        if (ack) queueMicrotask(() => stream.receiveAck(bytes.length))
      } else if (frame.t === 'close') closes.push(frame.error)
    },
    contract.streams['console.open'].control,
  )
  return { stream, get text() { return text }, closes }
}

const settle = (ms = 30) => new Promise((r) => setTimeout(r, ms))

describe('SerialConsole', () => {
  it('sends the log first, then live bytes, with nothing lost or repeated', async () => {
    writeFileSync(log(), 'old line 1\nold line 2\n')
    const serial = new SerialConsole(log())
    await serial.attach(sock())
    await settle()
    guestWrites('live 1\n')
    await settle()
    const v = viewer()
    const opening = serial.open(v.stream)
    guestWrites('during open\n') // arrives while the scrollback is being read
    await opening
    v.stream.markOpen()
    guestWrites('after\n')
    await settle()
    expect(v.text).toBe('old line 1\nold line 2\nlive 1\nduring open\nafter\n')
    serial.close()
  })

  it('fans out to several viewers and carries their keystrokes to the guest', async () => {
    const serial = new SerialConsole(log())
    await serial.attach(sock())
    const a = viewer()
    const b = viewer()
    for (const v of [a, b]) {
      await serial.open(v.stream)
      v.stream.markOpen()
    }
    await settle()
    guestWrites('hello\n')
    a.stream.receiveData(new TextEncoder().encode('ls\r'))
    await settle()
    expect(a.text).toBe('hello\n')
    expect(b.text).toBe('hello\n')
    expect(guestReceived).toBe('ls\r')
    serial.close()
  })

  it('caps the scrollback and starts it at a line boundary', async () => {
    const line = 'x'.repeat(99) + '\n'
    writeFileSync(log(), 'FIRST\n' + line.repeat(3000))
    const serial = new SerialConsole(log(), 64 * 1024)
    const v = viewer()
    await serial.open(v.stream)
    v.stream.markOpen()
    await settle()
    expect(v.text.length).toBeLessThanOrEqual(64 * 1024)
    expect(v.text.length).toBeGreaterThan(60 * 1024)
    expect(v.text.startsWith('x'.repeat(99) + '\n')).toBe(true)
    expect(v.text).not.toContain('FIRST')
  })

  it('shows a stopped machine its earlier output', async () => {
    writeFileSync(log(), 'last words\n')
    const serial = new SerialConsole(log())
    const v = viewer()
    await serial.open(v.stream)
    v.stream.markOpen()
    await settle()
    expect(v.text).toBe('last words\n')
  })

  it('closes a viewer that stops acknowledging rather than buffering without bound', async () => {
    const serial = new SerialConsole(log())
    await serial.attach(sock())
    const stuck = viewer(false)
    const healthy = viewer()
    for (const v of [stuck, healthy]) {
      await serial.open(v.stream)
      v.stream.markOpen()
    }
    await settle()
    const chunk = 'y'.repeat(1024 * 1024)
    for (let i = 0; i < VIEWER_BACKLOG_LIMIT / chunk.length + 2; i++) guestWrites(chunk)
    for (let i = 0; i < 100 && !stuck.stream.closed; i++) await settle(20)
    expect(stuck.stream.closed).toBe(true)
    expect(stuck.closes[0]).toMatchObject({ code: 'too_large' })
    expect(stuck.text.length).toBe(STREAM_WINDOW)
    expect(healthy.stream.closed).toBe(false)
    serial.close()
  })
})
