// Test harness: a real Berth server (real QEMU) in a temporary home, reached over the in-memory pair.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RpcClient } from '../../../shared/rpc/client'
import { createTransportPair } from '../../../shared/rpc/transport'
import type { QemuSpecInput } from '../../../shared/model/machine'
import { createBerthServer, type BerthServer } from '../server'
import { removeTestHome } from './cleanup'
import { requireTestGuest } from './guest'

export interface Harness {
  home: string
  server: BerthServer
  client: RpcClient
  /** Simulates Berth exiting (machines keep running) and starting again on the same home; whileDown runs in between. */
  restart(whileDown?: () => Promise<void>): Promise<void>
  /** Ends every QEMU this harness started and removes the home. */
  cleanup(): Promise<void>
}

export async function startHarness(): Promise<Harness> {
  const home = mkdtempSync(join(tmpdir(), 'berth-it-'))
  const env = { ...process.env, BERTH_HOME: home }
  const connect = async () => {
    const server = await createBerthServer({ env })
    const [clientSide, serverSide] = createTransportPair()
    server.rpc.accept(serverSide)
    return { server, client: new RpcClient(clientSide) }
  }
  const harness: Harness = {
    home,
    ...(await connect()),
    async restart(whileDown) {
      harness.client.close()
      harness.server.dispose()
      await whileDown?.()
      Object.assign(harness, await connect())
    },
    async cleanup() {
      harness.client.close()
      harness.server.dispose()
      await removeTestHome(home)
    },
  }
  return harness
}

export function tinyGuestSpec(name: string, extra: Partial<QemuSpecInput> = {}): QemuSpecInput {
  const guest = requireTestGuest()
  return {
    kind: 'qemu',
    name,
    memoryMiB: 256,
    cores: 1,
    boot: { type: 'kernel', kernel: guest.vmlinux, initrd: guest.initrd, append: guest.append },
    ...extra,
  }
}

/** A console viewer that keeps everything it receives and can wait for text to appear. */
export async function watchConsole(client: RpcClient, id: string) {
  let text = ''
  const waiters = new Set<() => void>()
  const decoder = new TextDecoder()
  const stream = await client.openStream('console.open', { id }, {
    onData: (bytes) => {
      text += decoder.decode(bytes, { stream: true })
      for (const wake of waiters) wake()
    },
  })
  return {
    stream,
    get text() {
      return text
    },
    type(line: string) {
      stream.write(new TextEncoder().encode(line))
    },
    /** Runs a shell command in the guest's console; what the console showed from then until it ended. */
    async run(command: string, timeoutMs = 60_000): Promise<string> {
      const marker = `ok-${Math.random().toString(36).slice(2, 8)}`
      const from = text.length
      // The marker typed in two halves: only its echo, on a line of its own, matches.
      this.type(`${command}; echo; echo ${marker.slice(0, 3)}""${marker.slice(3)}\r`)
      await this.waitFor(new RegExp(`\\n${marker}`), timeoutMs)
      return text.slice(from)
    },
    waitFor(pattern: RegExp | string, timeoutMs = 60_000): Promise<void> {
      const found = () => (typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text))
      if (found()) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`Console did not show ${pattern} within ${timeoutMs} ms; it shows:\n${text.slice(-2000)}`))
        }, timeoutMs)
        const check = () => {
          if (!found()) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        waiters.add(check)
      })
    },
  }
}

export async function waitForState(client: RpcClient, id: string, state: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  while (Date.now() < deadline) {
    const { machines } = await client.call('machines.list', {})
    last = machines.find((m) => m.id === id)?.state ?? 'missing'
    if (last === state) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`Machine ${id} is ${last}, not ${state}, after ${timeoutMs} ms; its console ends:\n${await consoleTail(client, id)}`)
}

/** The last lines a machine's console holds (its scrollback), for a wait that timed out. */
async function consoleTail(client: RpcClient, id: string): Promise<string> {
  try {
    const viewer = await watchConsole(client, id)
    await new Promise((r) => setTimeout(r, 500))
    viewer.stream.close()
    return viewer.text.split('\n').slice(-20).join('\n')
  } catch (error) {
    return `(no console: ${(error as Error).message})`
  }
}

/** Waits for check; on time-out says what it waited for and, where given, what was seen last. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number, seen: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${seen() ? `; last seen:\n${seen().slice(-2000)}` : ''}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
