// npm run bench: Berth against the bare tool, alternating runs in one process; medians and ratios.
// Results go to the console and to bench/results.json.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, totalmem } from 'node:os'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { firstSerialByte } from './first-serial-byte'
import { hotplugToGuest } from './hotplug'
import { displayThroughProxy } from './display'
import { containerReady } from './container-ready'
import { serialConsole } from './serial-console'
import { consoleToScreen } from './console-screen'
import { scale } from './scale'
import { uiResponsiveness } from './ui-responsiveness'
import { xenBench } from './xen'
import { metricsCost } from './metrics'
import { containerSnapshotBench, snapshotBench } from './snapshots'
import { installBench } from './install'

export interface BenchResult {
  name: string
  unit: string
  berth: number
  baseline: number
  ratio: number
  goal: string
  samples: { berth: number[]; baseline: number[] }
  /** Which benchmark of run.ts measured it, and when (set by run.ts). */
  benchmark?: string
  date?: string
  commit?: string
  runs?: number
}

const runs = Number(process.env.BERTH_BENCH_RUNS ?? 7)
// Berth's own programs (container supervisor, helper) run from their bundles, as in a packaged Berth.
execFileSync(process.execPath, ['scripts/build-electron.mjs'], { stdio: 'ignore' })
process.env.BERTH_PROGRAMS_DIR = fileURLToPath(new URL('../dist/electron', import.meta.url))
const only = process.env.BERTH_BENCH_ONLY // e.g. "display" to run one benchmark
const benchmarks: [string, () => Promise<BenchResult | BenchResult[]>][] = [
  ['serial', () => firstSerialByte(runs)],
  ['hotplug', () => hotplugToGuest(Math.max(runs, 10))],
  ['display', () => displayThroughProxy(runs)],
  ['container', () => containerReady(runs)],
  ['console', () => serialConsole(runs)],
  ['screen', () => consoleToScreen(runs)],
  ['scale', () => scale()],
  ['ui', () => uiResponsiveness()],
  ['metrics', () => metricsCost()],
  ['snapshots', () => snapshotBench(Math.max(runs, 15))],
  ['container-snapshots', () => containerSnapshotBench(Math.max(runs, 9))],
  ['xen', () => xenBench(Math.min(runs, 5))],
  // About three minutes a side per round under TCG, and systemd's boot alone varies by ±10 % between
  // rounds: as many rounds as the others, to let the median settle (about 45 min at 7).
  ['install', () => installBench(runs)],
]
const results: BenchResult[] = []
/** Benchmarks that failed, with why: the others still run, and the run ends non-zero. */
const failed: { benchmark: string; error: string }[] = []
for (const [name, run] of benchmarks) {
  if (only && only !== name) continue
  const begun = performance.now()
  try {
    results.push(...[await run()].flat().map((result) => ({ ...result, benchmark: name })))
    console.log(`bench ${name}: done in ${((performance.now() - begun) / 1000).toFixed(0)} s`)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    failed.push({ benchmark: name, error: message })
    console.error(`bench ${name}: FAILED after ${((performance.now() - begun) / 1000).toFixed(0)} s: ${message}`)
  }
}

/** Small figures (MB/s, ms of latency) keep two decimals. */
const figure = (n: number) => n.toFixed(Math.abs(n) < 10 ? 2 : 0)
for (const r of results)
  console.log(
    `${r.name}: Berth ${figure(r.berth)} ${r.unit}, baseline ${figure(r.baseline)} ${r.unit}, ` +
      `difference ${figure(r.berth - r.baseline)} ${r.unit}, ratio ${r.ratio.toFixed(3)} (goal ${r.goal})`,
  )
for (const f of failed) console.log(`${f.benchmark}: FAILED: ${f.error.split('\n')[0]}`)
const machine = {
  cpu: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown',
  cores: availableParallelism(),
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kvm: existsSync('/dev/kvm') && /\b(vmx|svm)\b/.test(readFileSync('/proc/cpuinfo', 'utf8')),
  node: process.version,
}
const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim()
const file = new URL('./results.json', import.meta.url)
// A run of one benchmark replaces only that benchmark's figures; each figure says when and at which commit it was measured.
const date = new Date().toISOString()
const kept = only && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { results: BenchResult[] }).results.filter((r) => r.benchmark !== only) : []
const measured = results.map((r) => ({ ...r, date, commit, runs }))
writeFileSync(file, JSON.stringify({ date, commit, machine, runs, results: [...kept, ...measured], failed }, null, 2) + '\n')
if (failed.length > 0) process.exit(1)
