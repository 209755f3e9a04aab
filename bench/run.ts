// npm run bench: Berth against the bare tool, alternating runs in one process; medians and ratios.
// Results go to the console and to bench/results.json.
import { writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { firstSerialByte } from './first-serial-byte'
import { hotplugToGuest } from './hotplug'
import { displayThroughProxy } from './display'
import { containerReady } from './container-ready'
import { serialConsole } from './serial-console'
import { scale } from './scale'
import { uiResponsiveness } from './ui-responsiveness'
import { xenBench } from './xen'

export interface BenchResult {
  name: string
  unit: string
  berth: number
  baseline: number
  ratio: number
  goal: string
  samples: { berth: number[]; baseline: number[] }
}

const runs = Number(process.env.BERTH_BENCH_RUNS ?? 7)
// Berth's own programs (container supervisor, helper) run from their bundles, as in a packaged Berth.
execFileSync(process.execPath, ['scripts/build-electron.mjs'], { stdio: 'ignore' })
process.env.BERTH_PROGRAMS_DIR = fileURLToPath(new URL('../dist/electron', import.meta.url))
const only = process.env.BERTH_BENCH_ONLY // e.g. "display" to run one benchmark
const results: BenchResult[] = []
if (!only || only === 'serial') results.push(await firstSerialByte(runs))
if (!only || only === 'hotplug') results.push(await hotplugToGuest(Math.max(runs, 10)))
if (!only || only === 'display') results.push(...(await displayThroughProxy(runs)))
if (!only || only === 'container') results.push(await containerReady(runs))
if (!only || only === 'console') results.push(...(await serialConsole(runs)))
if (!only || only === 'scale') results.push(...(await scale()))
if (!only || only === 'ui') results.push(await uiResponsiveness())
if (!only || only === 'xen') results.push(...(await xenBench(Math.min(runs, 5))))

/** Small figures (MB/s, ms of latency) keep two decimals. */
const figure = (n: number) => n.toFixed(Math.abs(n) < 10 ? 2 : 0)
for (const r of results)
  console.log(
    `${r.name}: Berth ${figure(r.berth)} ${r.unit}, baseline ${figure(r.baseline)} ${r.unit}, ` +
      `difference ${figure(r.berth - r.baseline)} ${r.unit}, ratio ${r.ratio.toFixed(3)} (goal ${r.goal})`,
  )
writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), results }, null, 2) + '\n')
