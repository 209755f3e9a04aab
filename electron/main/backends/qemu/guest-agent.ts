// A client for the QEMU guest agent on the VM's virtio-serial channel (qga.sock): what the guest
// says about itself. The channel may hold stale bytes from an earlier client, so every session
// starts with guest-sync-delimited: the agent answers with 0xFF, then JSON; anything before is junk.
import { withTimeout } from '../with-timeout'
import { createConnection, type Socket } from 'node:net'
import { randomInt } from 'node:crypto'
import { BerthError } from '../../../../shared/errors'
import type { GuestInfo } from '../../../../shared/model/guest-agent'

interface Reply {
  return?: unknown
  error?: { class: string; desc: string }
}

class AgentSession {
  private buffer = Buffer.alloc(0)
  private synced = false
  private waiter: ((reply: Reply) => void) | null = null

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      this.drain()
    })
  }

  /** Hands the next answer to whoever waits for one; what no one waits for yet stays in the buffer. */
  private drain(): void {
    while (this.waiter) {
      if (!this.synced) {
        const mark = this.buffer.indexOf(0xff)
        if (mark < 0) return
        this.buffer = this.buffer.subarray(mark + 1)
        this.synced = true
      }
      const newline = this.buffer.indexOf(10)
      if (newline < 0) return
      const line = this.buffer.subarray(0, newline).toString('utf8').trim()
      this.buffer = this.buffer.subarray(newline + 1)
      let reply: Reply
      try {
        reply = JSON.parse(line) as Reply
      } catch {
        continue // not JSON (or an empty line): not an answer
      }
      const wake = this.waiter
      this.waiter = null
      wake(reply)
    }
  }

  execute(command: string, args?: object): Promise<unknown> {
    const reply = this.reply(command)
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`)
    return reply
  }

  /** The next answer the agent sends. */
  private reply(command: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiter = (reply) => (reply.error ? reject(new BerthError('failed', `The guest agent refused ${command}: ${reply.error.desc}`)) : resolve(reply.return))
    })
  }

  /**
   * Discards stale bytes: the agent marks where its answer starts with 0xFF. An earlier client that
   * left before its own sync was answered leaves that answer, 0xFF and all, in the channel: then the
   * answer with this session's id follows the next 0xFF.
   */
  async sync(): Promise<void> {
    const id = randomInt(1, 2 ** 31)
    this.socket.write(Buffer.from([0xff]))
    let answer = await this.execute('guest-sync-delimited', { id })
    while (answer !== id) {
      this.synced = false
      const next = this.reply('guest-sync-delimited')
      this.drain()
      answer = await next
    }
  }
}

const noAgent = 'No guest agent answers: install and start qemu-guest-agent in the guest'

/** One conversation with the agent: connected and synced, then work, then closed. */
async function withAgent<T>(socketPath: string, timeoutMs: number, work: (ask: (command: string, args?: object) => Promise<unknown>) => Promise<T>): Promise<T> {
  const socket = createConnection(socketPath)
  socket.on('error', () => undefined)
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)),
      timeoutMs,
      'The guest agent channel is not open',
    )
    const session = new AgentSession(socket)
    await withTimeout(session.sync(), timeoutMs, noAgent)
    return await work((command, args) => withTimeout(session.execute(command, args), timeoutMs, noAgent))
  } finally {
    socket.destroy()
  }
}

interface AgentInterface {
  name: string
  'hardware-address'?: string
  'ip-addresses'?: { 'ip-address': string; prefix: number }[]
  /** Only for cards with an address (the agent reads them while it goes through addresses). */
  statistics?: { 'rx-bytes': number; 'tx-bytes': number }
}

/** Asks the agent who the guest is; rejects with a clear reason when no agent answers. */
export function queryGuestAgent(socketPath: string, timeoutMs = 3000): Promise<GuestInfo> {
  return withAgent(socketPath, timeoutMs, async (ask) => {
    const info = (await ask('guest-info')) as { version: string }
    const host = (await ask('guest-get-host-name').catch(() => null)) as { 'host-name': string } | null
    const os = (await ask('guest-get-osinfo').catch(() => null)) as { 'pretty-name'?: string; 'kernel-release'?: string } | null
    const nics = ((await ask('guest-network-get-interfaces').catch(() => [])) ?? []) as AgentInterface[]
    return {
      agentVersion: info.version,
      hostName: host?.['host-name'] ?? null,
      os: os?.['pretty-name'] ?? null,
      kernel: os?.['kernel-release'] ?? null,
      interfaces: nics.map((nic) => ({ name: nic.name, addresses: (nic['ip-addresses'] ?? []).map((a) => `${a['ip-address']}/${a.prefix}`) })),
    }
  })
}

/**
 * What the guest's card with this MAC received and sent, as the guest counts it: the one view of a
 * user-mode card, which has no link on the host. null when the guest has no such card (or it has no
 * address yet, for which the agent gives no figures).
 */
export function guestTraffic(socketPath: string, mac: string, timeoutMs: number): Promise<{ rxBytes: number; txBytes: number } | null> {
  return withAgent(socketPath, timeoutMs, async (ask) => {
    const nics = ((await ask('guest-network-get-interfaces')) ?? []) as AgentInterface[]
    const card = nics.find((nic) => nic['hardware-address']?.toLowerCase() === mac.toLowerCase())
    return card?.statistics ? { rxBytes: card.statistics['rx-bytes'], txBytes: card.statistics['tx-bytes'] } : null
  })
}

/** A mounted filesystem as the agent sees it, with the disks it lies on. */
export interface GuestFilesystem {
  /** The block device's name: vdb, vdb1, nvme0n1p2, dm-0. */
  name: string
  mountpoint: string
  type: string
  totalBytes: number | null
  disks: { pci: { domain: number; bus: number; slot: number; function: number }; busType: string; serial: string | null; dev: string | null }[]
}

interface AgentFilesystem {
  name: string
  mountpoint: string
  type: string
  'total-bytes'?: number
  disk: { 'pci-controller': { domain: number; bus: number; slot: number; function: number }; 'bus-type': string; serial?: string; dev?: string }[]
}

export function guestFilesystems(socketPath: string, timeoutMs = 5000): Promise<GuestFilesystem[]> {
  return withAgent(socketPath, timeoutMs, async (ask) =>
    ((await ask('guest-get-fsinfo')) as AgentFilesystem[]).map((fs) => ({
      name: fs.name,
      mountpoint: fs.mountpoint,
      type: fs.type,
      totalBytes: fs['total-bytes'] ?? null,
      disks: fs.disk.map((d) => ({ pci: d['pci-controller'], busType: d['bus-type'], serial: d.serial ?? null, dev: d.dev ?? null })),
    })),
  )
}

export interface GuestRun {
  exitCode: number
  output: string
}

/**
 * Runs a program in the guest (found on the guest's PATH) with an argv array and waits for it, at most
 * timeoutMs; what it printed comes back, stdout then stderr.
 */
export function guestRun(socketPath: string, argv: [string, ...string[]], timeoutMs: number): Promise<GuestRun> {
  const [path, ...arg] = argv
  return withAgent(socketPath, 5000, async (ask) => {
    const { pid } = (await ask('guest-exec', { path, arg, 'capture-output': true })) as { pid: number }
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const status = (await ask('guest-exec-status', { pid })) as { exited: boolean; exitcode?: number; signal?: number; 'out-data'?: string; 'err-data'?: string }
      if (status.exited) {
        const text = (data?: string) => (data ? Buffer.from(data, 'base64').toString('utf8') : '')
        return { exitCode: status.exitcode ?? 128 + (status.signal ?? 0), output: `${text(status['out-data'])}${text(status['err-data'])}`.trim() }
      }
      if (Date.now() > deadline) throw new BerthError('failed', `${argv.join(' ')} did not finish in the guest within ${Math.round(timeoutMs / 1000)} s`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })
}
