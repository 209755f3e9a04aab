// A running VM's snapshot (256 MiB of memory, its qcow2 disk) and its revert through Berth's API,
// against the same QMP jobs (snapshot-save, snapshot-load) sent by hand to a raw QEMU, in one run.
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, tinyGuestSpec, watchConsole } from '../electron/main/testing/harness'
import { diskNode } from '../electron/main/backends/qemu/ids'
import { qemuSpecSchema } from '../shared/model/machine'
import { median } from './stats'
import type { BenchResult } from './run'
import { startRawGuest, type RawQemu } from './raw-qemu'

export async function snapshotBench(runs: number): Promise<BenchResult[]> {
  const h = await startHarness()
  const take = { berth: [] as number[], baseline: [] as number[] }
  const revert = { berth: [] as number[], baseline: [] as number[] }
  let raw: RawQemu | null = null
  try {
    const images = join(h.home, 'bench-images')
    mkdirSync(images)
    const disk = (name: string) => {
      const file = join(images, `${name}.qcow2`)
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '64M'])
      return file
    }
    const spec = qemuSpecSchema.parse(tinyGuestSpec('bench-snapshot', { memoryMiB: 256, disk: { image: disk('berth'), sizeMiB: 64 } }))
    const vm = await h.client.call('machines.create', { spec })
    await h.client.call('machines.start', { id: vm.id })
    await (await watchConsole(h.client, vm.id)).waitFor(/guest# /, 60_000)

    // The same machine on its own disk, started by hand, driven by a bare QMP client.
    const { argv } = await h.client.call('machines.preview', { spec: { ...spec, name: 'bench-raw', disk: { ...spec.disk!, image: disk('raw') } } })
    const dir = join(h.home, 'raw')
    const started = await startRawGuest(argv, dir, h.home)
    raw = started.raw
    const qmp = started.qmp
    const blocks = await qmp.execute<{ inserted?: { 'node-name': string; ro: boolean } }[]>('query-block')
    const devices = blocks.flatMap((b) => (b.inserted && !b.inserted.ro ? [b.inserted['node-name']] : []))
    const job = { vmstate: diskNode(0), devices }

    const timed = async (samples: number[], work: () => Promise<unknown>) => {
      const begun = performance.now()
      await work()
      samples.push(performance.now() - begun)
    }
    const berthRound = async (tag: string) => {
      await timed(take.berth, () => h.client.call('snapshots.take', { id: vm.id, name: tag, description: '' }))
      await timed(revert.berth, () => h.client.call('snapshots.revert', { id: vm.id, name: tag }))
      await h.client.call('snapshots.delete', { id: vm.id, name: tag })
    }
    const bareRound = async (tag: string) => {
      await timed(take.baseline, () => qmp.runJob('snapshot-save', { tag, ...job }, 600_000))
      await timed(revert.baseline, () => qmp.runJob('snapshot-load', { tag, ...job }, 600_000))
      await qmp.runJob('snapshot-delete', { tag, devices }, 600_000)
    }
    // Each goes first in every other round, so that neither gains from what the host did just before.
    for (let run = 0; run < runs; run++) {
      const rounds = [() => berthRound(`bench${run}`), () => bareRound(`bench${run}`)]
      for (const round of run % 2 ? rounds.reverse() : rounds) await round()
    }
    qmp.close()
  } finally {
    await raw?.stop()
    await h.cleanup()
  }
  const result = (name: string, samples: { berth: number[]; baseline: number[] }): BenchResult => {
    const berth = median(samples.berth)
    const baseline = median(samples.baseline)
    return { name, unit: 'ms', berth, baseline, ratio: berth / baseline, goal: 'ratio ≤ 1.05', samples }
  }
  return [result('snapshot of a running VM (256 MiB)', take), result('revert to it', revert)]
}
