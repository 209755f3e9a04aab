// "create + start a container → its init's first line on the console" through Berth's API (helper,
// supervisor, cgroup, pty, console socket), against systemd-nspawn run directly in a pty with the
// same arguments.
import { join } from 'node:path'
import { spawn as spawnPty } from 'node-pty'
import { startHarness } from '../electron/main/testing/harness'
import { containerRoot, makeBusyboxRoot } from '../electron/main/testing/container-root'
import { median } from './stats'
import type { BenchResult } from './run'
import { within } from './deadline'

type Harness = Awaited<ReturnType<typeof startHarness>>

async function viaBerth(h: Harness, root: string, run: number): Promise<{ ms: number; argv: string[] }> {
  const spec = { kind: 'nspawn' as const, name: `bench-${run}`, root }
  const begun = performance.now()
  const machine = await h.client.call('machines.create', { spec })
  let text = ''
  let resolveReady!: (ms: number) => void
  const ready = new Promise<number>((r) => (resolveReady = r))
  const stream = await h.client.openStream('console.open', { id: machine.id }, {
    onData: (bytes) => {
      text += new TextDecoder().decode(bytes)
      if (text.includes(containerRoot.readyMarker)) resolveReady(performance.now() - begun)
    },
  })
  await h.client.call('machines.start', { id: machine.id })
  const ms = await within(ready, 60_000, `${containerRoot.readyMarker} on the container's console`, () => text)
  const { argv } = await h.client.call('machines.preview', { spec: { ...spec, name: `bench-preview-${run}` }, id: machine.id })
  stream.close()
  await h.client.call('machines.stop', { id: machine.id, force: true })
  await h.client.call('machines.remove', { id: machine.id })
  return { ms, argv }
}

async function raw(argv: string[]): Promise<number> {
  const begun = performance.now()
  const term = spawnPty(argv[0]!, argv.slice(1), { cols: 80, rows: 24, cwd: '/', env: { PATH: process.env.PATH!, TERM: 'xterm-256color' } })
  let text = ''
  const started = new Promise<number>((resolve, reject) => {
    term.onData((data) => {
      text += data
      if (text.includes(containerRoot.readyMarker)) resolve(performance.now() - begun)
    })
    term.onExit(({ exitCode }) => reject(new Error(`raw nspawn exited with ${exitCode}: ${text.slice(-500)}`)))
  })
  const ms = await within(started, 60_000, `${containerRoot.readyMarker} from the bare systemd-nspawn`, () => text).catch((error: Error) => {
    term.kill('SIGKILL')
    throw error
  })
  term.kill('SIGKILL')
  await new Promise((r) => setTimeout(r, 300)) // nspawn lets go of the root's lock
  return ms
}

export async function containerReady(runs: number): Promise<BenchResult> {
  const h = await startHarness()
  const root = makeBusyboxRoot(join(h.home, 'roots', 'bench'))
  const samples = { berth: [] as number[], baseline: [] as number[] }
  try {
    const warm = await viaBerth(h, root, -1)
    await raw(warm.argv)
    for (let run = 0; run < runs; run++) {
      const berth = await viaBerth(h, root, run)
      samples.berth.push(berth.ms)
      samples.baseline.push(await raw(berth.argv))
    }
  } finally {
    await h.cleanup()
  }
  const berth = median(samples.berth)
  const baseline = median(samples.baseline)
  return { name: 'create + start container → init on the console', unit: 'ms', berth, baseline, ratio: berth / baseline, goal: '≤ 150 ms more: the price of a supervisor process that lets the container outlive Berth', samples }
}
