// "attach → the guest sees the disk" through Berth's API (what a drop does once the file is on the
// host) against the bare QMP hot-plug (blockdev-add + device_add) on a raw QEMU, in the same run.
import { driveSchema } from '../shared/model/drives'
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, tinyGuestSpec, watchConsole } from '../electron/main/testing/harness'
import { driveOptions } from '../electron/main/backends/qemu/argv'
import { qemuSpecSchema } from '../shared/model/machine'
import { median } from './stats'
import type { BenchResult } from './run'
import { startRawGuest, type GuestConsole, type RawQemu } from './raw-qemu'
import { vmRuntime } from '../shared/model/machine'

let trial = 0
/** Starts a watcher in the guest that prints a marker once a virtio disk appears; returns its wait. */
async function watchForDisk(guest: GuestConsole): Promise<() => Promise<void>> {
  const n = ++trial
  guest.type(`until grep -q vd /proc/partitions; do usleep 2000; done; echo SE""EN-${n}\r`)
  await guest.waitFor(new RegExp(`SE""EN-${n}\\r?\\n`)) // the loop is running once its echo is complete
  await new Promise((r) => setTimeout(r, 100))
  return () => guest.waitFor(new RegExp(`\\nSEEN-${n}`))
}

export async function hotplugToGuest(runs: number): Promise<BenchResult> {
  const h = await startHarness()
  const samples = { berth: [] as number[], baseline: [] as number[] }
  let raw: RawQemu | null = null
  try {
    const images = join(h.home, 'bench-images')
    mkdirSync(images)
    const disk = join(images, 'disk.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M'])

    const spec = qemuSpecSchema.parse(tinyGuestSpec('bench-hotplug'))
    const vm = await h.client.call('machines.create', { spec })
    await h.client.call('machines.start', { id: vm.id })
    const berthGuest = await watchConsole(h.client, vm.id)
    await berthGuest.waitFor(/guest# /)

    // The same machine, started by hand, driven by a bare QMP client.
    const { argv } = await h.client.call('machines.preview', { spec: { ...spec, name: 'bench-raw' } })
    const dir = join(h.home, 'raw')
    const started = await startRawGuest(argv, dir, h.home)
    raw = started.raw
    const { qmp, guest: rawGuest } = started

    for (let run = 0; run < runs; run++) {
      // Berth: one API call, as the drop dialog makes it.
      let seen = await watchForDisk(berthGuest)
      let begun = performance.now()
      const machine = await h.client.call('drives.attach', { id: vm.id, path: disk, persist: false })
      await seen()
      samples.berth.push(performance.now() - begun)
      await h.client.call('drives.detach', { id: vm.id, driveId: vmRuntime(machine).drives[0]!.id })

      // Bare QMP on the raw VM, with the same options.
      const drive = driveSchema.parse({ id: `dbench${run}`, file: disk, format: 'qcow2', bus: 'virtio', readOnly: false })
      const { blockdev, device } = driveOptions(drive)
      seen = await watchForDisk(rawGuest)
      begun = performance.now()
      await qmp.execute('blockdev-add', blockdev)
      await qmp.execute('device_add', device)
      await seen()
      samples.baseline.push(performance.now() - begun)
      const deleted = qmp.waitFor('DEVICE_DELETED', (data) => data.device === device.id, 20_000)
      await qmp.execute('device_del', { id: device.id })
      if (!(await deleted)) throw new Error(`The baseline guest did not release ${device.id} within 20 s`)
      await qmp.execute('blockdev-del', { 'node-name': drive.id })
    }
    qmp.close()
  } finally {
    await raw?.stop()
    await h.cleanup()
  }
  const berth = median(samples.berth)
  const baseline = median(samples.baseline)
  return {
    name: 'attach → guest sees the disk',
    unit: 'ms',
    berth,
    baseline,
    ratio: berth / baseline,
    goal: 'within 100 ms of bare QMP',
    samples,
  }
}
