// Berth's browser-mode server as a real process (tsx electron/serve.ts) in a given home, for tests
// that kill it, restart it, or drive it over its WebSocket.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { WebSocket } from 'ws'
import { RpcClient } from '../../../shared/rpc/client'
import { tokenProtocol, webSocketTransport, WS_PROTOCOL, type WebSocketLike } from '../../../shared/rpc/websocket'
import { MAX_SERVER_FRAME_BYTES } from '../../../shared/rpc/protocol'

export interface ServeProcess {
  child: ChildProcess
  /** http://127.0.0.1:PORT/#token=… */
  url: string
}

/** Starts the server; onOutput sees everything it prints. Resolves once it serves. */
export function launchServe(home: string, onOutput: (text: string) => void = () => undefined): Promise<ServeProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'electron/serve.ts'], {
    env: { ...process.env, BERTH_HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  let serving = false
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Berth did not start:\n${output}`)), 30_000)
    const onData = (chunk: Buffer) => {
      onOutput(chunk.toString())
      if (serving) return
      output += chunk.toString()
      // Its output is a pipe, not a terminal: the address with the token is in a 0600 file.
      const file = /\(address with the access token: (\S+)\)/.exec(output)?.[1]
      if (file) {
        serving = true
        clearTimeout(timer)
        resolve({ child, url: readFileSync(file, 'utf8').trim() })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      onOutput(`\n[berth server exited: ${signal ?? code}]\n`)
      reject(new Error(`Berth exited with ${code}:\n${output}`))
    })
  })
}

/** An RPC client over the server's WebSocket, with the token from its URL. */
export async function connectWebSocket(url: string): Promise<RpcClient> {
  const { port, hash } = new URL(url)
  const token = new URLSearchParams(hash.slice(1)).get('token')!
  const socket = new WebSocket(`ws://127.0.0.1:${port}/rpc`, [WS_PROTOCOL, tokenProtocol(token)])
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))
  return new RpcClient(webSocketTransport(socket as unknown as WebSocketLike, MAX_SERVER_FRAME_BYTES))
}
