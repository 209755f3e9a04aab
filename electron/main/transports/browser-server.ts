// Browser mode: the renderer's files over HTTP and the RPC over a WebSocket, on 127.0.0.1 only.
// Every WebSocket must carry the session token; Host and Origin must be this server's own.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import { randomBytes } from 'node:crypto'
import { sameToken } from '../tokens'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { MAX_CLIENT_FRAME_BYTES } from '../../../shared/rpc/protocol'
import type { RpcServer } from '../../../shared/rpc/server'
import { tokenProtocol, webSocketTransport, WS_PROTOCOL } from '../../../shared/rpc/websocket'
import { CONTENT_SECURITY_POLICY } from '../csp'

export interface BrowserServer {
  url: string
  port: number
  token: string
  close(): Promise<void>
}

export interface BrowserServerOptions {
  rpc: RpcServer
  /** The built renderer (index.html and assets). */
  staticDir: string
  port?: number
  token?: string
  log?: (line: string) => void
}

const HOST = '127.0.0.1'

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
}

export async function startBrowserServer(options: BrowserServerOptions): Promise<BrowserServer> {
  const token = options.token ?? randomBytes(24).toString('hex')
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME_BYTES, handleProtocols: () => WS_PROTOCOL })
  let failures = 0
  let port = 0

  const http = createServer((req, res) => void serveFile(options.staticDir, req, res))
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const own = [`${HOST}:${port}`, `localhost:${port}`]
    const origin = req.headers.origin
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
    const given = protocols.find((p) => p.startsWith(tokenProtocol('')))?.slice(tokenProtocol('').length) ?? ''
    const why =
      req.url !== '/rpc'
        ? 'unknown path'
        : !own.includes(req.headers.host ?? '')
          ? 'foreign Host header'
          : origin !== undefined && !own.some((o) => origin === `http://${o}`)
            ? `foreign Origin ${origin}`
            : !protocols.includes(WS_PROTOCOL) || !sameToken(given, token)
              ? 'missing or wrong token'
              : null
    if (why) {
      // Repeated failures are answered more and more slowly, to make guessing the token pointless.
      failures++
      options.log?.(`refused a WebSocket: ${why}`)
      setTimeout(() => {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      }, Math.min(failures, 20) * 50)
      return
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const connection = options.rpc.accept(webSocketTransport(ws, MAX_CLIENT_FRAME_BYTES))
      ws.on('close', () => connection.dispose())
      // e.g. a frame over the size cap: ws closes the connection (1009); the server keeps serving
      ws.on('error', (error) => options.log?.(`closed a WebSocket: ${error.message}`))
    })
  })

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(options.port ?? 0, HOST, () => resolve())
  })
  port = (http.address() as { port: number }).port
  return {
    url: `http://${HOST}:${port}/#token=${token}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate()
        wss.close()
        http.close(() => resolve())
        http.closeAllConnections()
      }),
  }
}

async function serveFile(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = {
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, headers).end()
    return
  }
  let pathname: string
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
  } catch {
    res.writeHead(400, { ...headers, 'Content-Type': 'text/plain' }).end('Malformed %-escape in the path')
    return
  }
  const relative = normalize(pathname === '/' ? '/index.html' : pathname)
  const file = join(root, relative)
  if (!file.startsWith(root + sep) || relative.includes('\0')) {
    res.writeHead(404, headers).end()
    return
  }
  try {
    const body = await readFile(file)
    res.writeHead(200, { ...headers, 'Content-Type': contentTypes[extname(file)] ?? 'application/octet-stream' })
    res.end(req.method === 'HEAD' ? undefined : body)
  } catch {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('Not found')
  }
}
