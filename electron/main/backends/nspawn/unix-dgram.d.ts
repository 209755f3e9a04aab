// The part of unix-dgram (Unix datagram sockets, which node:net lacks) that the supervisor uses.
declare module 'unix-dgram' {
  import type { EventEmitter } from 'node:events'
  interface UnixDgramSocket extends EventEmitter {
    bind(path: string): void
    close(): void
    on(event: 'message', listener: (message: Buffer) => void): this
    on(event: 'error', listener: (error: Error) => void): this
  }
  export function createSocket(type: 'unix_dgram', onMessage?: (message: Buffer) => void): UnixDgramSocket
}
