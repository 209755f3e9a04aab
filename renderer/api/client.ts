// Picks the transport: the Electron preload's frame pipe when present, else the WebSocket of browser mode.
import { RpcClient } from '../../shared/rpc/client'
import { bridgeTransport } from '../../shared/rpc/transport'
import { tokenProtocol, webSocketTransport, WS_PROTOCOL } from '../../shared/rpc/websocket'
import { MAX_SERVER_FRAME_BYTES } from '../../shared/rpc/protocol'

/**
 * The session token arrives in the URL fragment (never sent to a server). Taken out of the address
 * before the router reads it, and kept in this tab's session storage for reloads.
 */
export function takeSessionToken(): void {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token')
  if (!fromHash) return
  sessionStorage.setItem('berth.token', fromHash)
  history.replaceState(null, '', location.pathname + location.search)
}

export async function connect(): Promise<RpcClient> {
  if (window.berthBridge) return new RpcClient(bridgeTransport(window.berthBridge))
  const socket = new WebSocket(`ws://${location.host}/rpc`, [WS_PROTOCOL, tokenProtocol(sessionStorage.getItem('berth.token') ?? '')])
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true })
    socket.addEventListener(
      'error',
      () => reject(new Error('Berth refused the connection: open the address Berth printed, with its token')),
      { once: true },
    )
  })
  return new RpcClient(webSocketTransport(socket, MAX_SERVER_FRAME_BYTES))
}
