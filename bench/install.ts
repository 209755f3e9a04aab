// "From installation media to an installed system at multi-user": a VM made in Berth from the Debian
// installer ISO (e2e/fixtures/build-debian.sh) installs, restarts from its disk with the disc ejected
// and boots systemd to multi-user; against the same two QEMU command lines run by hand (the
// installer's, which ends when the guest restarts, then the installed system's) on a disk made by
// qemu-img, read by a bare client on the serial socket. Each round is minutes under TCG.
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, waitForState, watchConsole, type Harness } from '../electron/main/testing/harness'
import { requireDebianGuest } from '../electron/main/testing/guest'
import { resolvePaths } from '../electron/main/paths'
import { qemuSpecSchema, type QemuSpecInput } from '../shared/model/machine'
import { median } from './stats'
import type { BenchResult } from './run'
import { within } from './deadline'
import { berthMachineFolders, rawArgv, rawConsole, startRaw } from './raw-qemu'

const sizeMiB = 4096
/** Typed once the installed system's shell shows: answers when systemd has reached its target. */
const askState = 'echo "state=$(systemctl is-system-running --wait)"\r'
const reached = /state=(running|degraded)/

function installSpec(name: string): QemuSpecInput {
  const debian = requireDebianGuest()
  return {
    kind: 'qemu',
    name,
    memoryMiB: 1024,
    cores: 1,
    boot: { type: 'disk', install: { ejectAfterInstall: true } },
    disk: { sizeMiB, interface: 'virtio' },
    cdrom: { file: debian.installer },
  }
}

/** Through Berth's API: create, start, and watch the console until systemd answers on the installed system. */
async function viaBerth(h: Harness, run: number): Promise<{ ms: number; install: string[]; installed: string[] }> {
  const spec = qemuSpecSchema.parse(installSpec(`bench-install-${run}`))
  const begun = performance.now()
  const { id } = await h.client.call('machines.create', { spec })
  const serial = await watchConsole(h.client, id)
  try {
    await h.client.call('machines.start', { id })
    await serial.waitFor(requireDebianGuest().prompt, 900_000)
    serial.type(askState)
    await serial.waitFor(reached, 300_000)
    const ms = performance.now() - begun
    const { machines } = await h.client.call('machines.list', {})
    const installedSpec = machines.find((m) => m.id === id)!.spec
    const install = (await h.client.call('machines.preview', { spec, id })).argv
    const installed = (await h.client.call('machines.preview', { spec: installedSpec, id })).argv
    return { ms, install, installed }
  } finally {
    serial.stream.close()
    await h.client.call('machines.stop', { id, force: true }).catch(() => undefined)
    await waitForState(h.client, id, 'stopped').catch(() => undefined)
    await h.client.call('machines.remove', { id, deleteImages: true }).catch(() => undefined)
  }
}

/** The same two command lines by hand, in their own folder, on a disk made by qemu-img. */
async function byHand(h: Harness, install: string[], installed: string[]): Promise<number> {
  const dir = join(h.home, 'raw-install')
  rmSync(dir, { recursive: true, force: true })
  const image = join(dir, 'disk.qcow2')
  // Berth's disk lives among its images (named by the machine's id): here it is the folder's own.
  const moves: [RegExp, string][] = [[new RegExp(`${resolvePaths({ BERTH_HOME: h.home }).images}/[a-z0-9]{12}\\.qcow2`, 'g'), image]]
  const argv = (a: string[]) => rawArgv(a, dir, berthMachineFolders(h.home), moves)
  const begun = performance.now()
  const installArgv = argv(install)
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, `${sizeMiB}M`])
  const installer = startRaw(installArgv)
  try {
    await rawConsole(join(dir, 'serial.sock'), installer)
    // -no-reboot: QEMU ends when the installer restarts the guest.
    const ended = installer.child.exitCode !== null ? Promise.resolve() : new Promise((r) => installer.child.once('exit', r))
    await within(ended, 900_000, 'the baseline installer to finish', () => installer.stderr())
  } finally {
    await installer.stop()
  }
  const system = startRaw(argv(installed))
  try {
    const guest = await rawConsole(join(dir, 'serial.sock'), system)
    await guest.waitFor(new RegExp(requireDebianGuest().prompt), 900_000)
    guest.type(askState)
    await guest.waitFor(reached, 300_000)
    return performance.now() - begun
  } finally {
    await system.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function installBench(runs: number): Promise<BenchResult> {
  requireDebianGuest()
  const h = await startHarness()
  const samples = { berth: [] as number[], baseline: [] as number[] }
  try {
    // Berth's first round gives the command lines; from then on each side goes first in every other round.
    let lines = await viaBerth(h, 0)
    samples.berth.push(lines.ms)
    samples.baseline.push(await byHand(h, lines.install, lines.installed))
    for (let run = 1; run < runs; run++) {
      if (run % 2) samples.baseline.push(await byHand(h, lines.install, lines.installed))
      lines = await viaBerth(h, run)
      samples.berth.push(lines.ms)
      if (!(run % 2)) samples.baseline.push(await byHand(h, lines.install, lines.installed))
    }
  } finally {
    await h.cleanup()
  }
  const berth = median(samples.berth)
  const baseline = median(samples.baseline)
  return { name: 'installation media → installed Debian 12 at multi-user', unit: 'ms', berth, baseline, ratio: berth / baseline, goal: '≤ 1.05', samples }
}
