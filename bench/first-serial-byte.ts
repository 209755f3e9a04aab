// "create + start → first serial byte" through Berth's API, against raw qemu-system-x86_64 started
// from a script with the same arguments (less -S, which only Berth's own keeper-then-resume needs),
// read by a bare client on its serial socket.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, tinyGuestSpec } from '../electron/main/testing/harness'
import { qemuSpecSchema } from '../shared/model/machine'
import { median } from './stats'
import type { BenchResult } from './run'
import { within } from './deadline'
import { berthMachineFolders, connectWhenReady, rawArgv, startRaw } from './raw-qemu'

async function viaBerth(h: Awaited<ReturnType<typeof startHarness>>, run: number): Promise<{ ms: number; argv: string[] }> {
  const spec = qemuSpecSchema.parse(tinyGuestSpec(`bench-${run}`))
  const begun = performance.now()
  const machine = await h.client.call('machines.create', { spec })
  let resolveFirst!: (ms: number) => void
  const first = new Promise<number>((r) => (resolveFirst = r))
  const stream = await h.client.openStream('console.open', { id: machine.id }, {
    onData: (bytes) => {
      if (bytes.length > 0) resolveFirst(performance.now() - begun)
    },
  })
  await h.client.call('machines.start', { id: machine.id })
  const ms = await within(first, 60_000, 'the first byte on the console through Berth')
  const { argv } = await h.client.call('machines.preview', { spec: { ...spec, name: `bench-preview-${run}` } })
  stream.close()
  await h.client.call('machines.stop', { id: machine.id, force: true })
  await h.client.call('machines.remove', { id: machine.id })
  return { ms, argv }
}

/** The same command line in its own folder, read by a bare client on its serial socket: time to the first byte. */
async function raw(argv: string[], dir: string, home: string): Promise<number> {
  rmSync(dir, { recursive: true, force: true })
  const begun = performance.now()
  const qemu = startRaw(rawArgv(argv, dir, berthMachineFolders(home)))
  try {
    const socket = await connectWhenReady(join(dir, 'serial.sock'), qemu)
    const first = new Promise<number>((resolve) => socket.once('data', () => resolve(performance.now() - begun)))
    const ms = await within(first, 60_000, "the baseline QEMU's first serial byte", () => qemu.stderr())
    socket.destroy()
    return ms
  } finally {
    await qemu.stop()
  }
}

export async function firstSerialByte(runs: number): Promise<BenchResult> {
  const h = await startHarness()
  const samples = { berth: [] as number[], baseline: [] as number[] }
  try {
    // One warm-up of each (page cache, first QEMU start), not counted.
    const warm = await viaBerth(h, -1)
    await raw(warm.argv, join(h.home, 'raw'), h.home)
    for (let run = 0; run < runs; run++) {
      const berth = await viaBerth(h, run)
      samples.berth.push(berth.ms)
      samples.baseline.push(await raw(berth.argv, join(h.home, 'raw'), h.home))
    }
  } finally {
    await h.cleanup()
  }
  const berth = median(samples.berth)
  const baseline = median(samples.baseline)
  return { name: 'create + start → first serial byte', unit: 'ms', berth, baseline, ratio: berth / baseline, goal: '≤ 1.10', samples }
}
