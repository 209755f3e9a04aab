// A VM's screen in the window: QEMU serves VNC or SPICE on a unix socket only; this proxy carries it
// over a WebSocket on 127.0.0.1 to noVNC or spice-html5. A connection needs a ticket that Berth
// issued for that one machine (display.open), used within seconds, once (SPICE opens one connection
// per channel: a few), from Berth's own page (Origin); tickets end, and connections close, when it
// stops.
import { createServer, type IncomingMessage } from 'node:http'
import { createConnection, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { sameToken } from '../tokens'
import { MAIN_CHANNEL, SpiceLinkWatch } from './spice-link'

const HOST = '127.0.0.1'

interface Ticket {
  machineId: string
  socketPath: string
  protocol: 'vnc' | 'spice'
  /** Until when it may be used to connect (a connection made stays open). */
  expires: number
  /** How many connections it still admits: one for VNC, one per SPICE channel. */
  connections: number
}

/** How long a ticket may wait for its connection. */
export const TICKET_LIFETIME_MS = 30_000
/** SPICE's channels (main, display, inputs, cursor, playback, record, usbredir ...) each connect once. */
const SPICE_CHANNELS = 8
/** Tickets never pile up: past this many, the oldest go. */
const MAX_TICKETS = 64
/** A SPICE channel whose server never spoke after the link is closed anyway this long after it opened. */
const SPICE_SETTLE_LIMIT_MS = 10_000

/** One connection through the proxy: the viewer's WebSocket and QEMU's socket. */
interface Channel {
  upstream: Socket
  /** SPICE only: its link, read to know when it may be closed. */
  link: SpiceLinkWatch | null
  opened: number
  /** The viewer went away: QEMU's side closes as soon as that is safe. */
  leaving: boolean
}

export class DisplayProxy {
  private readonly tickets = new Map<string, Ticket>()
  private readonly open = new Map<string, Set<WebSocket>>()
  /** The channels of each viewer: one ticket is one viewer's session (SPICE: a connection per channel). */
  private readonly sessions = new Map<Ticket, Set<Channel>>()
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // noVNC and spice-html5 ask for the "binary" subprotocol
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  })
  private readonly http = createServer((_req, res) => res.writeHead(404).end())
  private port = 0

  /** The origins of Berth's own pages (Electron's file://, browser mode's http://127.0.0.1:PORT). */
  private readonly origins = new Set<string>()

  constructor(private readonly log: (line: string) => void = () => undefined) {
    this.http.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head))
  }

  /** A page of Berth's that may show screens (a browser sends its Origin with every WebSocket). */
  allowOrigin(origin: string): void {
    this.origins.add(origin)
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen(0, HOST, () => resolve())
    })
    this.port = (this.http.address() as { port: number }).port
  }

  /** A WebSocket URL that reaches this machine's screen, and only this machine's. */
  issue(machineId: string, socketPath: string, protocol: 'vnc' | 'spice'): string {
    const now = Date.now()
    for (const [ticket, t] of this.tickets) if (t.expires < now) this.tickets.delete(ticket)
    while (this.tickets.size >= MAX_TICKETS) this.tickets.delete(this.tickets.keys().next().value!)
    const ticket = randomBytes(24).toString('hex')
    this.tickets.set(ticket, { machineId, socketPath, protocol, expires: now + TICKET_LIFETIME_MS, connections: protocol === 'vnc' ? 1 : SPICE_CHANNELS })
    return `ws://${HOST}:${this.port}/display/${machineId}?ticket=${ticket}`
  }

  /** The machine stopped: its tickets end and its viewers are disconnected. */
  closeMachine(machineId: string): void {
    for (const [ticket, t] of this.tickets) if (t.machineId === machineId) this.tickets.delete(ticket)
    for (const ws of this.open.get(machineId) ?? []) ws.close(1001, 'The machine stopped')
    this.open.delete(machineId)
  }

  /**
   * Runs act once every SPICE channel of this machine's viewers is running (spice-link.ts), waiting at
   * most SPICE_SETTLE_LIMIT_MS: a VM stopped, paused or reset while a channel is still being set up
   * in spice-server's worker crashes QEMU. With nothing being set up, act runs at once (requests keep
   * their order).
   */
  async afterSettling<T>(machineId: string, act: () => Promise<T>): Promise<T> {
    const unsettled = () =>
      [...this.sessions].some(([ticket, channels]) => ticket.machineId === machineId && [...channels].some((c) => c.link && !c.link.settled))
    if (!unsettled()) return act()
    const deadline = Date.now() + SPICE_SETTLE_LIMIT_MS
    while (unsettled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    return act()
  }

  async close(): Promise<void> {
    for (const id of [...this.open.keys()]) this.closeMachine(id)
    this.tickets.clear()
    this.wss.close()
    this.http.closeAllConnections()
    await new Promise<void>((resolve) => this.http.close(() => resolve()))
  }

  /** The ticket this connection may use, counted as used; null when there is none. */
  private find(req: IncomingMessage): Ticket | null {
    const url = new URL(req.url ?? '/', 'http://x')
    const match = /^\/display\/([a-z0-9]{12})$/.exec(url.pathname)
    const given = url.searchParams.get('ticket') ?? ''
    const origin = req.headers.origin
    if (!match || req.headers.host !== `${HOST}:${this.port}`) return null
    if (origin !== undefined && !this.origins.has(origin)) return null
    for (const [ticket, t] of this.tickets) {
      if (!sameToken(given, ticket) || t.machineId !== match[1]) continue
      if (t.expires < Date.now()) break
      if (--t.connections <= 0) this.tickets.delete(ticket)
      return t
    }
    return null
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const ticket = this.find(req)
    if (!ticket) {
      this.log('refused a display connection: no valid ticket for that machine')
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.pipe(ws, ticket))
  }

  private pipe(ws: WebSocket, ticket: Ticket): void {
    const viewers = this.open.get(ticket.machineId) ?? new Set()
    this.open.set(ticket.machineId, viewers.add(ws))
    const session = this.sessions.get(ticket) ?? new Set()
    this.sessions.set(ticket, session)
    const channel: Channel = {
      upstream: createConnection(ticket.socketPath),
      link: ticket.protocol === 'spice' ? new SpiceLinkWatch() : null,
      opened: Date.now(),
      leaving: false,
    }
    session.add(channel)
    const { upstream, link } = channel
    upstream.on('data', (chunk: Buffer) => {
      link?.server(chunk)
      if (channel.leaving) return this.closeSafely(ticket)
      ws.send(chunk)
      // Back-pressure: stop reading QEMU while the viewer has not taken what was sent.
      if (ws.bufferedAmount > 4 * 1024 * 1024) {
        upstream.pause()
        const resume = setInterval(() => {
          if (ws.bufferedAmount < 1024 * 1024 || ws.readyState !== ws.OPEN) {
            clearInterval(resume)
            upstream.resume()
          }
        }, 5)
      }
    })
    ws.on('message', (data: Buffer) => {
      link?.client(data)
      upstream.write(data)
    })
    const viewerGone = () => {
      viewers.delete(ws)
      if (channel.leaving) return
      channel.leaving = true
      upstream.resume()
      this.closeSafely(ticket)
      if (session.has(channel)) setTimeout(() => this.closeSafely(ticket), channel.opened + SPICE_SETTLE_LIMIT_MS - Date.now()).unref()
    }
    const upstreamGone = () => {
      session.delete(channel)
      if (session.size === 0) this.sessions.delete(ticket)
      viewers.delete(ws)
      upstream.destroy()
      if (ws.readyState === ws.OPEN) ws.close()
      this.closeSafely(ticket)
    }
    upstream.on('error', upstreamGone)
    upstream.on('close', upstreamGone)
    ws.on('close', viewerGone)
    ws.on('error', viewerGone)
  }

  /**
   * Closes QEMU's side of the channels whose viewer left, once that is safe (spice-link.ts): VNC at
   * once; a SPICE channel once its server spoke after the link, the main channel once all have.
   */
  private closeSafely(ticket: Ticket): void {
    const session = this.sessions.get(ticket)
    if (!session) return
    const isMain = (c: Channel) => c.link?.channelType === MAIN_CHANNEL
    for (const channel of [...session]) {
      if (!channel.leaving) continue
      const late = Date.now() - channel.opened >= SPICE_SETTLE_LIMIT_MS
      const othersUnsettled = [...session].some((c) => c !== channel && !c.link?.settled)
      if (!channel.link || late || (channel.link.settled && !(isMain(channel) && othersUnsettled))) {
        session.delete(channel)
        channel.upstream.destroy()
      }
    }
    if (session.size === 0) this.sessions.delete(ticket)
  }
}
