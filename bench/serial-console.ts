// The serial console, Berth against a bare socket on the same kind of VM: guest → viewer throughput
// (MB/s) and keystroke → echo latency (p50, p95). Berth's side goes through its whole path: QEMU's
// socket, the fan-out, the RPC stream with flow control; the baseline reads QEMU's socket directly.
import { join } from 'node:path'
import { startHarness, tinyGuestSpec } from '../electron/main/testing/harness'
import { qemuSpecSchema } from '../shared/model/machine'
import { median } from './stats'
import type { BenchResult } from './run'
import { berthMachineFolders, connectWhenReady, rawArgv, startRaw } from './raw-qemu'

interface Terminal {
  type(text: string): void
  /** Resolves once everything received so far matches pattern; fails after timeoutMs saying so. */
  until(pattern: RegExp, timeoutMs?: number): Promise<void>
  received(): number
}

function terminal(write: (text: string) => void): Terminal & { feed(text: string): void } {
  let text = ''
  let bytes = 0
  const waiters = new Set<() => void>()
  return {
    type: write,
    received: () => bytes,
    feed(chunk: string) {
      text = (text + chunk).slice(-4096)
      bytes += chunk.length
      for (const wake of waiters) wake()
    },
    until(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`The terminal did not show ${pattern} within ${timeoutMs} ms; it ends:\n${text.slice(-1500)}`))
        }, timeoutMs)
        const check = () => {
          if (!pattern.test(text)) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        waiters.add(check)
        check()
      })
    },
  }
}

const LINES = 30_000
const KEYS = 30

/** How long each request takes, made one after another until done settles. */
async function timeRequests(request: () => Promise<unknown>, done: Promise<unknown>): Promise<number[]> {
  let finished = false
  void done.then(() => (finished = true))
  const times: number[] = []
  while (!finished) {
    const begun = performance.now()
    await request()
    times.push(performance.now() - begun)
    await new Promise((r) => setTimeout(r, 20))
  }
  return times
}

/**
 * Throughput (MB/s) of `seq 1 LINES`, each keystroke's echo time (ms), and, when there is a request
 * to make, how long it takes with the console idle and while the guest floods it.
 */
async function measure(t: Terminal, request?: () => Promise<unknown>): Promise<{ mbps: number; latencies: number[]; idle: number[]; flooded: number[] }> {
  await t.until(/guest# (\x1b\[6n)?$/)
  const idle = request ? await timeRequests(request, new Promise((r) => setTimeout(r, 1000))) : []
  const before = t.received()
  const begun = performance.now()
  t.type(`seq 1 ${LINES}; echo thr-""done\r`)
  const done = t.until(/thr-done/)
  const flooded = request ? await timeRequests(request, done) : []
  await done
  const mbps = (t.received() - before) / 1e6 / ((performance.now() - begun) / 1000)
  await t.until(/guest# (\x1b\[6n)?$/)
  const latencies: number[] = []
  for (let k = 1; k <= KEYS; k++) {
    const sent = performance.now()
    t.type(k % 2 ? 'a' : 'b')
    await t.until(new RegExp(`${k % 2 ? 'a' : 'b'}$`))
    latencies.push(performance.now() - sent)
  }
  t.type('\x15') // clear the line
  return { mbps, latencies, idle, flooded }
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!

export async function serialConsole(runs: number): Promise<BenchResult[]> {
  const h = await startHarness()
  const berth = { mbps: [] as number[], latencies: [] as number[] }
  const raw = { mbps: [] as number[], latencies: [] as number[] }
  const requests = { idle: [] as number[], flooded: [] as number[] }
  try {
    for (let run = 0; run < Math.max(1, Math.floor(runs / 2)); run++) {
      const spec = qemuSpecSchema.parse(tinyGuestSpec(`serial-${run}`))
      const machine = await h.client.call('machines.create', { spec })
      const { argv } = await h.client.call('machines.preview', { spec, id: machine.id })
      const viaBerth = terminal((text) => stream.write(new TextEncoder().encode(text)))
      const decoder = new TextDecoder()
      const stream = await h.client.openStream('console.open', { id: machine.id }, { onData: (b) => viaBerth.feed(decoder.decode(b, { stream: true })) })
      await h.client.call('machines.start', { id: machine.id })
      const b = await measure(viaBerth, () => h.client.call('machines.list', {}))
      requests.idle.push(...b.idle)
      requests.flooded.push(...b.flooded)
      berth.mbps.push(b.mbps)
      berth.latencies.push(...b.latencies)
      stream.close()
      await h.client.call('machines.stop', { id: machine.id, force: true })
      await h.client.call('machines.remove', { id: machine.id })

      const dir = join(h.home, `raw-${run}`)
      const qemu = startRaw(rawArgv(argv, dir, berthMachineFolders(h.home)))
      try {
        const socket = await connectWhenReady(join(dir, 'serial.sock'), qemu)
        const direct = terminal((text) => void socket.write(text))
        socket.setEncoding('utf8').on('data', (chunk: string) => direct.feed(chunk))
        const r = await measure(direct)
        raw.mbps.push(r.mbps)
        raw.latencies.push(...r.latencies)
        socket.destroy()
      } finally {
        await qemu.stop()
      }
    }
  } finally {
    await h.cleanup()
  }
  const mbps = { berth: median(berth.mbps), baseline: median(raw.mbps) }
  const p50 = { berth: percentile(berth.latencies, 0.5), baseline: percentile(raw.latencies, 0.5) }
  const p95 = { berth: percentile(berth.latencies, 0.95), baseline: percentile(raw.latencies, 0.95) }
  const answer = { berth: percentile(requests.flooded, 0.95), baseline: percentile(requests.idle, 0.95) }
  return [
    { name: 'serial throughput guest → viewer', unit: 'MB/s', ...mbps, ratio: mbps.berth / mbps.baseline, goal: '≥ 0.9', samples: { berth: berth.mbps, baseline: raw.mbps } },
    { name: 'keystroke → echo, p50', unit: 'ms', ...p50, ratio: p50.berth / p50.baseline, goal: '≤ 1.5', samples: { berth: berth.latencies, baseline: raw.latencies } },
    { name: 'keystroke → echo, p95', unit: 'ms', ...p95, ratio: p95.berth / p95.baseline, goal: '≤ 1.5', samples: { berth: [], baseline: [] } },
    { name: 'a request answered while a guest floods its console, p95 (baseline: console idle)', unit: 'ms', ...answer, ratio: answer.berth / answer.baseline, goal: '≤ 100 ms', samples: { berth: requests.flooded, baseline: requests.idle } },
  ]
}
