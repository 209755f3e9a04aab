import { afterEach, describe, expect, it } from 'vitest'
import { createServer, type Server, type Socket } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { QmpClient, QmpError } from './qmp'

let server: Server | null = null
let dir = ''

/** A stand-in QMP server: greets, accepts qmp_capabilities, then lets the test script replies. */
async function fakeQmp(onCommand: (cmd: { execute: string; id: string; arguments?: unknown }, socket: Socket) => void) {
  dir = mkdtempSync(join(tmpdir(), 'berth-qmp-'))
  const path = join(dir, 'qmp.sock')
  const sockets: Socket[] = []
  server = createServer((socket) => {
    sockets.push(socket)
    socket.write(JSON.stringify({ QMP: { version: { qemu: { major: 7 } }, capabilities: [] } }) + '\r\n')
    let buffer = ''
    socket.on('data', (chunk) => {
      buffer += chunk.toString()
      let nl
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const cmd = JSON.parse(buffer.slice(0, nl))
        buffer = buffer.slice(nl + 1)
        if (cmd.execute === 'qmp_capabilities') socket.write(JSON.stringify({ return: {}, id: cmd.id }) + '\r\n')
        else onCommand(cmd, socket)
      }
    })
  })
  await new Promise<void>((r) => server!.listen(path, r))
  return { path, sockets }
}

afterEach(() => {
  server?.close()
  server = null
  if (dir) rmSync(dir, { recursive: true, force: true })
})

describe('QmpClient', () => {
  it('negotiates capabilities and routes replies by id, even out of order', async () => {
    const held: { id: string; socket: Socket }[] = []
    const { path } = await fakeQmp((cmd, socket) => {
      held.push({ id: cmd.id, socket })
      if (held.length === 2) {
        // answer the second command first
        for (const { id, socket: s } of [...held].reverse()) s.write(JSON.stringify({ return: { answer: id }, id }) + '\r\n')
      }
    })
    const qmp = await QmpClient.connect(path)
    const [a, b] = await Promise.all([qmp.execute('query-status'), qmp.execute('query-kvm')])
    expect(a).toEqual({ answer: held[0]!.id })
    expect(b).toEqual({ answer: held[1]!.id })
    qmp.close()
  })

  it('turns QMP errors into QmpError with the class and description', async () => {
    const { path } = await fakeQmp((cmd, socket) =>
      socket.write(JSON.stringify({ error: { class: 'GenericError', desc: 'Duplicate device ID' }, id: cmd.id }) + '\n'),
    )
    const qmp = await QmpClient.connect(path)
    const error = await qmp.execute('device_add', { id: 'x' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(QmpError)
    expect(error).toMatchObject({ message: 'Duplicate device ID', qmpClass: 'GenericError', command: 'device_add' })
    qmp.close()
  })

  it('delivers events and fails pending commands when the socket drops', async () => {
    const { path, sockets } = await fakeQmp(() => undefined)
    const qmp = await QmpClient.connect(path)
    const event = new Promise((resolve) => qmp.onEvent(resolve))
    sockets[0]!.write(JSON.stringify({ event: 'STOP', timestamp: { seconds: 1, microseconds: 0 } }) + '\r\n')
    expect(await event).toMatchObject({ event: 'STOP' })
    const pending = qmp.execute('query-status')
    const closed = new Promise<void>((resolve) => qmp.onClose(resolve))
    sockets[0]!.destroy()
    await expect(pending).rejects.toThrow(/QMP connection closed \(query-status\)/)
    await closed
    expect(qmp.isClosed).toBe(true)
    await expect(qmp.execute('cont')).rejects.toThrow(/closed/)
  })

  it('refuses a socket that does not speak QMP', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-qmp-'))
    const path = join(dir, 'other.sock')
    server = createServer((socket) => socket.write('SSH-2.0-OpenSSH\r\n'))
    await new Promise<void>((r) => server!.listen(path, r))
    await expect(QmpClient.connect(path)).rejects.toThrow(/is not a QMP socket/)
  })

  it('gives up when no greeting comes', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-qmp-'))
    const path = join(dir, 'silent.sock')
    server = createServer(() => undefined)
    await new Promise<void>((r) => server!.listen(path, r))
    await expect(QmpClient.connect(path, 100)).rejects.toThrow(/No QMP greeting/)
  })

  it('waitFor: the matching event only, null after the timeout or when the connection closes', async () => {
    const { path, sockets } = await fakeQmp(() => undefined)
    const qmp = await QmpClient.connect(path)
    const event = (name: string, data: object) => sockets[0]!.write(JSON.stringify({ event: name, data, timestamp: {} }) + '\r\n')
    const found = qmp.waitFor('DEVICE_DELETED', (data) => data.device === 'd1-dev', 2000)
    event('DEVICE_DELETED', { device: 'other-dev' })
    event('BLOCK_JOB_COMPLETED', { device: 'd1-dev' })
    event('DEVICE_DELETED', { device: 'd1-dev', path: '/x' })
    expect(await found).toMatchObject({ event: 'DEVICE_DELETED', data: { device: 'd1-dev' } })
    expect(await qmp.waitFor('DEVICE_DELETED', () => true, 50)).toBeNull()
    const gone = qmp.waitFor('DEVICE_DELETED', () => true, 5000)
    sockets[0]!.destroy()
    expect(await gone).toBeNull()
  })
})
