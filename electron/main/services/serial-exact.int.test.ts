// The serial console is byte-exact (real QEMU): the guest prints 2 MiB of random base64 and seq 1
// 100000 while one viewer reads fast, one slowly and one attaches half-way, and Berth is SIGKILLed in
// the middle and started again. The log holds exactly what the guest sent (its checksum, computed in
// the guest), and what each viewer received is one unbroken slice of that log: no byte lost, none
// repeated, history and live bytes joined at the exact offset.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { RpcClient } from '../../../shared/rpc/client'
import { tinyGuestSpec } from '../testing/harness'
import { connectWebSocket, launchServe, type ServeProcess } from '../testing/serve-process'
import { removeTestHome } from '../testing/cleanup'

let home: string
let serve: ServeProcess | undefined

/** A viewer that keeps every byte it gets; delayMs: how long it takes to "draw" each chunk. */
async function viewer(client: RpcClient, id: string, delayMs = 0) {
  const chunks: Buffer[] = []
  let size = 0
  let text = ''
  const stream = await client.openStream('console.open', { id }, {
    onData: (bytes) => {
      chunks.push(Buffer.from(bytes))
      text += Buffer.from(bytes).toString('latin1')
      size += bytes.length
      return delayMs ? new Promise<void>((r) => setTimeout(r, delayMs)) : undefined
    },
  })
  const bytes = () => Buffer.concat(chunks)
  return {
    stream,
    bytes,
    size: () => size,
    type: (text: string) => stream.write(new TextEncoder().encode(text)),
    async waitFor(pattern: RegExp, timeoutMs = 180_000): Promise<RegExpExecArray> {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const found = pattern.exec(text)
        if (found) return found
        if (Date.now() > deadline) throw new Error(`The console did not show ${pattern} within ${timeoutMs} ms; it ends:\n${text.slice(-1500)}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    },
  }
}

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'berth-exact-'))
})
afterAll(() => removeTestHome(home, [serve?.child]))

describe('serial console, byte-exact (real QEMU)', () => {
  it('the log and every viewer get exactly what the guest sent, also across a SIGKILL of Berth', async () => {
    serve = await launchServe(home)
    let client = await connectWebSocket(serve.url)
    const vm = await client.call('machines.create', { spec: tinyGuestSpec('exact') })
    await client.call('machines.start', { id: vm.id })
    const fast = await viewer(client, vm.id)
    await fast.waitFor(/guest# /, 120_000)
    fast.type('head -c 1572864 /dev/urandom | base64 > /tmp/d; seq 1 100000 >> /tmp/d; md5sum /tmp/d; echo SUM-""DONE\r')
    const sum = (await fast.waitFor(/([0-9a-f]{32}) {2}\/tmp\/d[\s\S]*SUM-DONE/))[1]!

    const slow = await viewer(client, vm.id, 20)
    fast.type('echo BEGIN-""MARK; cat /tmp/d; echo END-""MARK\r')
    await fast.waitFor(/BEGIN-MARK/)
    const begun = fast.size()
    const until = async (bytes: number) => {
      while (fast.size() - begun < bytes) await new Promise((r) => setTimeout(r, 20))
    }
    await until(600_000)
    const halfway = await viewer(client, vm.id)
    await until(1_300_000)
    // Berth dies hard in the middle of the stream; the guest goes on printing.
    const died = new Promise((r) => serve!.child.once('exit', r))
    serve.child.kill('SIGKILL')
    await died
    client.close()
    await new Promise((r) => setTimeout(r, 2000))
    serve = await launchServe(home)
    client = await connectWebSocket(serve.url)
    const after = await viewer(client, vm.id)
    await after.waitFor(/END-MARK\r\n/, 240_000)

    // The log is exactly what the guest wrote (its tty turned each \n into \r\n).
    const log = readFileSync(join(home, 'data', 'machines', vm.id, 'serial.log'))
    const text = log.toString('latin1')
    const start = text.indexOf('BEGIN-MARK\r\n') + 'BEGIN-MARK\r\n'.length
    const end = text.indexOf('END-MARK', start)
    const sent = text.slice(start, end).replace(/\r\n/g, '\n')
    expect(createHash('md5').update(sent, 'latin1').digest('hex')).toBe(sum)
    expect(sent.length).toBeGreaterThan(2_500_000)

    // Every viewer's bytes are one unbroken slice of the log.
    for (const [name, seen] of [['fast', fast], ['slow', slow], ['half-way', halfway], ['after the restart', after]] as const) {
      const bytes = seen.bytes()
      expect(bytes.length, name).toBeGreaterThan(0)
      expect(log.indexOf(bytes), `${name}: its ${bytes.length} bytes are not one slice of the log`).toBeGreaterThanOrEqual(0)
    }
    // The viewer after the restart got history and live bytes joined: everything to the end marker.
    expect(after.bytes().toString('latin1')).toContain('END-MARK\r\n')
    await client.call('machines.stop', { id: vm.id, force: true })
    client.close()
  }, 420_000)

  it('a full disk holds the guest at its serial port; with room again, the log goes on without a byte lost', async () => {
    if (process.getuid?.() !== 0) throw new Error('This test mounts a small tmpfs: it runs as root (CI does)')
    serve ??= await launchServe(home)
    const client = await connectWebSocket(serve.url)
    const vm = await client.call('machines.create', { spec: tinyGuestSpec('fulldisk') })
    const files = join(home, 'data', 'machines', vm.id)
    mkdirSync(files, { recursive: true })
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', files])
    try {
      await client.call('machines.start', { id: vm.id })
      const live = await viewer(client, vm.id)
      await live.waitFor(/guest# /, 120_000)
      // Leave about 40 KB: the 150 KB the guest prints next cannot all fit.
      const free = Number(execFileSync('df', ['--output=avail', '-B1', files], { encoding: 'utf8' }).split('\n')[1])
      writeFileSync(join(files, 'filler'), Buffer.alloc(Math.max(0, free - 40 * 1024)))
      live.type('seq 1 25000; echo FULL-""DONE\r')
      await live.waitFor(/\n1\r\n/)
      await new Promise((r) => setTimeout(r, 3000))
      expect(live.bytes().toString('latin1')).not.toContain('FULL-DONE') // held while the disk is full
      rmSync(join(files, 'filler'))
      await live.waitFor(/FULL-DONE/, 120_000)
      const log = readFileSync(join(files, 'serial.log'), 'latin1')
      const sent = Array.from({ length: 25000 }, (_, i) => `${i + 1}\r\n`).join('')
      const start = log.indexOf('\n1\r\n') + 1
      expect(log.slice(start, start + sent.length) === sent, 'the log holds every number once, in order').toBe(true)
      expect(live.bytes().toString('latin1')).toContain(sent)
      await client.call('machines.stop', { id: vm.id, force: true })
    } finally {
      client.close()
      execFileSync('umount', ['-l', files])
    }
  }, 300_000)
})
