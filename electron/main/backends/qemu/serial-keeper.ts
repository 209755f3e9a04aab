// The keeper of one VM's serial console: a small detached process, started with QEMU, that is QEMU's
// one client on its serial socket from the first byte to the last. It appends every byte to the log
// exactly once, in order (QEMU's own logfile= doubles and drops bytes when its reader is fast or slow),
// and serves viewers on a console socket of its own: each connection starts with the log offset its
// live bytes begin at (8 bytes, big-endian), so history and live bytes join exactly. Writing the log
// is synchronous: a slow disk slows the guest's UART. A full disk stops the keeper reading: the
// guest's writes to its serial port wait (viewers see nothing new) until there is space again, and
// then everything goes on where it stopped, no byte lost or repeated. Berth's window or main process
// may come and go; the keeper stays until QEMU closes the socket.
//   usage: serial-keeper QEMU_SERIAL_SOCKET LOG CONSOLE_SOCKET
import { closeSync, constants, fstatSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { dirname, join } from 'node:path'

const [serialPath, logPath, consolePath] = process.argv.slice(2) as [string, string, string]
/** A viewer this far behind is let go: it reconnects and reads the rest from the log. */
const VIEWER_LIMIT = 8 * 1024 * 1024

const logFd = openSync(logPath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600)
let logged = fstatSync(logFd).size
const viewers = new Set<Socket>()

/** Bytes from QEMU not yet in the log, and how much of the first is. */
const unlogged: Buffer[] = []
let partly = 0
let retry: NodeJS.Timeout | null = null

/** Logs what came, then gives it to viewers; on a full disk, holds it and QEMU until there is room. */
function drain(qemu: Socket): void {
  while (unlogged.length > 0) {
    const chunk = unlogged[0]!
    try {
      while (partly < chunk.length) partly += writeSync(logFd, chunk, partly)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw error
      qemu.pause()
      retry ??= setTimeout(() => ((retry = null), drain(qemu)), 1000)
      return
    }
    unlogged.shift()
    partly = 0
    logged += chunk.length
    for (const viewer of viewers) {
      viewer.write(chunk)
      if (viewer.writableLength > VIEWER_LIMIT) viewer.destroy()
    }
  }
  qemu.resume()
}

async function connectToQemu(): Promise<Socket> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const socket = createConnection(serialPath)
    try {
      await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
      return socket
    } catch (error) {
      if (Date.now() > deadline) throw error
      await new Promise((r) => setTimeout(r, 10))
    }
  }
}

async function main(): Promise<void> {
  const qemu = await connectToQemu()
  const pidFile = join(dirname(consolePath), 'serial-keeper.pid')
  const server = createServer((viewer) => {
    const header = Buffer.alloc(8)
    header.writeBigUInt64BE(BigInt(logged))
    viewer.write(header)
    viewers.add(viewer)
    viewer.on('data', (keys: Buffer) => qemu.write(keys))
    viewer.on('error', () => undefined)
    viewer.on('close', () => viewers.delete(viewer))
  })
  qemu.on('data', (chunk: Buffer) => {
    unlogged.push(chunk)
    if (!retry) drain(qemu)
  })
  qemu.on('error', () => undefined)
  qemu.on('close', () => {
    // QEMU has exited: everything it sent is in the log.
    for (const viewer of viewers) viewer.end()
    server.close()
    closeSync(logFd)
    rmSync(consolePath, { force: true })
    rmSync(pidFile, { force: true })
    process.exit(0)
  })
  rmSync(consolePath, { force: true })
  await new Promise<void>((resolve) => server.listen(consolePath, resolve))
  writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 })
  process.on('SIGHUP', () => undefined)
  // Berth resumes the guest only after this line.
  process.stdout.write('ready\n')
}

main().catch((error: Error) => {
  process.stderr.write(`serial-keeper: ${error.message}\n`)
  process.exit(1)
})
