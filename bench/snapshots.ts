// A running VM's snapshot (256 MiB of memory, its qcow2 disk) and its revert through Berth's API,
// against the same QMP jobs (snapshot-save, snapshot-load) sent by hand to a raw QEMU, in one run; a
// container's snapshot against cp.
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { join } from 'node:path'
import { startHarness, tinyGuestSpec, watchConsole } from '../electron/main/testing/harness'
import { diskNode } from '../electron/main/backends/qemu/ids'
import { qemuSpecSchema } from '../shared/model/machine'
import { median } from './stats'
import type { BenchResult } from './run'
import { startRawGuest, type RawQemu } from './raw-qemu'
import { makeBusyboxRoot } from '../electron/main/testing/container-root'

const execFileAsync = promisify(execFile)

async function timed(samples: number[], work: () => Promise<unknown>): Promise<void> {
  const begun = performance.now()
  await work()
  samples.push(performance.now() - begun)
}

/** Berth's round and the bare tool's, runs times; each goes first in every other round, so that neither gains from what the host did just before. */
async function alternate(runs: number, berthRound: (tag: string) => Promise<void>, bareRound: (tag: string) => Promise<void>): Promise<void> {
  for (let run = 0; run < runs; run++) {
    const rounds = [() => berthRound(`bench${run}`), () => bareRound(`bench${run}`)]
    for (const round of run % 2 ? rounds.reverse() : rounds) await round()
  }
}

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
    await alternate(runs, berthRound, bareRound)
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

/**
 * A stopped container's snapshot through Berth's API against `cp -a --reflink=auto` of the same root,
 * on the same file system (a plain one here: the blocks are copied). The root: busybox and 8,000 files
 * of 1 to 64 KiB with 40 of 2 MiB (about 210 MiB), as a small Debian's is in number and size.
 */
export async function containerSnapshotBench(runs: number): Promise<BenchResult[]> {
  const h = await startHarness()
  const take = { berth: [] as number[], baseline: [] as number[] }
  try {
    const root = makeBusyboxRoot(join(h.home, 'var-lib-machines', 'bench-root'))
    const big = randomBytes(2 * 1024 * 1024)
    for (let i = 0; i < 8000; i++) {
      const dir = join(root, 'usr/share/bench', String(i % 100))
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, `file-${i}`), i % 200 === 0 ? big : big.subarray(0, 1024 * (1 + ((i * 7919) % 64))))
    }
    const container = await h.client.call('machines.create', { spec: { kind: 'nspawn', name: 'bench-snap', root } })
    const copies = join(h.home, 'var-lib-machines', 'bench-copies')
    mkdirSync(copies)
    const berthRound = async (tag: string) => {
      await timed(take.berth, () => h.client.call('snapshots.take', { id: container.id, name: tag, description: '' }))
      await h.client.call('snapshots.delete', { id: container.id, name: tag })
    }
    const bareRound = async (tag: string) => {
      const target = join(copies, tag)
      await timed(take.baseline, () => execFileAsync('/usr/bin/cp', ['-a', '--reflink=auto', root, target]))
      rmSync(target, { recursive: true })
    }
    // One of each first, unmeasured: the root's files in the page cache for both.
    await berthRound('warm')
    await bareRound('warm')
    take.berth.length = take.baseline.length = 0
    await alternate(runs, berthRound, bareRound)
  } finally {
    await h.cleanup()
  }
  const berth = median(take.berth)
  const baseline = median(take.baseline)
  return [{ name: 'snapshot of a stopped container (210 MiB root, 8,000 files) vs cp -a --reflink=auto', unit: 'ms', berth, baseline, ratio: berth / baseline, goal: 'ratio ≤ 1.05', samples: take }]
}
