// The cost of watching machines: the main process's CPU while Berth samples 20 running containers and
// 5 VMs once a second for viewers, against the bare cost of reading the same counters in a loop; and
// the memory an hour of one-second history takes for 100 machines.
import { join } from 'node:path'
import { startHarness, tinyGuestSpec, watchConsole } from '../electron/main/testing/harness'
import { makeBusyboxRoot } from '../electron/main/testing/container-root'
import { MetricsService } from '../electron/main/metrics/metrics-service'
import type { Counters } from '../shared/model/metrics'
import type { BenchResult } from './run'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

const cpuPercent = async (seconds: number, during?: () => void): Promise<number> => {
  const before = process.cpuUsage()
  during?.()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  const used = process.cpuUsage(before)
  return ((used.user + used.system) / 1e6 / seconds) * 100
}

/** 20 containers and 5 VMs: Berth's sampler with all of them watched, then a bare loop over the same reads. */
async function collectionCost(seconds: number): Promise<{ berth: number; bare: number; idle: number }> {
  const h = await startHarness()
  try {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec(`m-vm-${i}`, { vlans: [60] }) })
      await h.client.call('machines.start', { id })
      const guest = await watchConsole(h.client, id)
      await guest.waitFor('guest# ', 120_000)
      guest.stream.close()
      ids.push(id)
    }
    for (let i = 0; i < 20; i++) {
      const root = makeBusyboxRoot(join(h.home, 'roots', `mct${i}`))
      const { id } = await h.client.call('machines.create', {
        spec: { kind: 'nspawn', name: `mct${i}`, root, privateNetwork: true, hostAddress: `10.232.${i}.1`, localAddress: `10.232.${i}.2` },
      })
      await h.client.call('machines.start', { id })
      ids.push(id)
    }
    await new Promise((r) => setTimeout(r, 3000))
    // Nobody watching: the 10 s history sampling and everything else the process does.
    const idle = await cpuPercent(seconds)
    const streams = await Promise.all(ids.map((id) => h.client.openStream('metrics.watch', { id }, { onData: () => undefined, onControl: () => undefined })))
    await new Promise((r) => setTimeout(r, 2000))
    const berth = await cpuPercent(seconds)
    for (const stream of streams) stream.close()
    // The bare cost: the same counters (files and QMP) read once a second, nothing kept or sent.
    const source = h.server.machines.metricsSource
    let looping = true
    const bare = await cpuPercent(seconds, () => {
      void (async () => {
        while (looping) {
          const tick = Date.now()
          await Promise.all(source.running().map((id) => source.counters(id, 900)))
          await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - tick))))
        }
      })()
    })
    looping = false
    for (const id of ids) await h.client.call('machines.stop', { id, force: true, timeoutSec: 0 }).catch(() => undefined)
    return { berth, bare, idle }
  } finally {
    await h.cleanup()
  }
}

/**
 * An hour of one-second samples for 100 machines, on a simulated clock: what the process holds more
 * afterwards (JS heap and typed arrays, garbage collected), and its RSS growth, which also counts the
 * heap V8 kept from squeezing an hour's garbage into seconds.
 */
async function historyMemory(machineCount: number): Promise<{ grown: number; base: number; rssGrown: number; rssBase: number }> {
  const machines = Array.from({ length: machineCount }, (_, i) => `m${i}`)
  let now = 0
  const counters = (i: number): Counters => ({
    cpuSeconds: now / 2000 + i,
    memoryBytes: 1e8 + i,
    memoryLimitBytes: 2e8,
    readBytes: now * 10,
    writeBytes: now * 20,
    rxBytes: now * 3,
    txBytes: now * 4,
    unmeasured: [],
  })
  const service = new MetricsService({ running: () => machines, exists: () => true, counters: async (id) => counters(Number(id.slice(1))) }, () => now)
  for (const id of machines) service.watch(id, () => undefined)
  // Garbage collected before each reading, twice: typed arrays' memory is freed after the collection.
  setFlagsFromString('--expose_gc')
  const gc = runInNewContext('gc') as () => void
  const settle = async () => {
    gc()
    await new Promise((r) => setTimeout(r, 200))
    gc()
  }
  const live = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers
  await settle()
  const base = live()
  const rssBase = process.memoryUsage().rss
  for (let second = 0; second < 3600; second++) {
    now = 1_000_000 + second * 1000
    await service.tick()
  }
  await settle()
  const MiB = 1024 * 1024
  const held = { grown: (live() - base) / MiB, base: base / MiB, rssGrown: (process.memoryUsage().rss - rssBase) / MiB, rssBase: rssBase / MiB }
  service.dispose() // the service, and so its history, lives until here
  return held
}

export async function metricsCost(): Promise<BenchResult[]> {
  const seconds = Number(process.env.BERTH_BENCH_METRICS_SEC ?? 30)
  await historyMemory(5) // compiles the sampling code first: what is measured is the history
  const memory = await historyMemory(100)
  const cost = await collectionCost(seconds)
  const berth = cost.berth - cost.idle
  const bare = cost.bare - cost.idle
  return [
    single('metrics: main process CPU, 20 containers + 5 VMs watched at 1 Hz', '% of a core', berth, bare,
      '<= 2 % of a core; ratio <= 1.2 against reading the same counters in a bare loop (both above the unwatched process)'),
    single('metrics: memory held by an hour of 1 s history, 100 machines (heap + typed arrays)', 'MiB', memory.grown, memory.base,
      '<= 20 MB growth; baseline: the heap before'),
    single('metrics: RSS growth over that hour, squeezed into seconds', 'MiB', memory.rssGrown, memory.rssBase,
      'for the record: includes heap V8 keeps after the burst of garbage; baseline: the RSS before'),
  ]
}

/** A figure measured once, with its baseline. */
function single(name: string, unit: string, berth: number, baseline: number, goal: string): BenchResult {
  return { name, unit, berth, baseline, ratio: baseline > 0 ? berth / baseline : berth, goal, samples: { berth: [berth], baseline: [baseline] } }
}
