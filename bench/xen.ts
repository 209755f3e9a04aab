// Xen on a real Xen host (nested under QEMU TCG), alternating Berth with what a person would type:
//  - "create + start → guest ready on the console": Berth's API against one OpenSSH session running
//    `xl create -c CFG` (create, then its console) with the same xl.cfg;
//  - "dom0 panel": Berth's hosts.dom0 (over its kept SSH connection) against one `ssh HOST` asking
//    for the same (capabilities, xl info, xl list, the daemons).
import { spawn, execFileSync } from 'node:child_process'
import { xenSpecSchema } from '../shared/model/xen'
import { startHarness, watchConsole, type Harness } from '../electron/main/testing/harness'
import { bootXenHost, dom0Ssh, xenHostFiles, type XenHost } from '../electron/main/testing/xen-host'
import { testGuest } from '../electron/main/testing/guest'
import { xlConfig } from '../electron/main/backends/xen/xl'
import { median } from './stats'
import type { BenchResult } from './run'
import { within } from './deadline'

const sshArgs = (xen: XenHost) => dom0Ssh(xen.port)
const spec = (host: string, name: string) =>
  xenSpecSchema.parse({
    kind: 'xen', name, host, type: 'pv', memoryMiB: 160, vcpus: 1,
    kernel: xenHostFiles.guestKernel, ramdisk: xenHostFiles.guestRamdisk, cmdline: 'console=hvc0 quiet',
  })

async function viaBerth(h: Harness, host: string, run: number): Promise<number> {
  const begun = performance.now()
  const machine = await h.client.call('machines.create', { spec: spec(host, `b${run}`) })
  await h.client.call('machines.start', { id: machine.id })
  const viewer = await watchConsole(h.client, machine.id)
  await viewer.waitFor(testGuest.readyMarker, 120_000)
  const ms = performance.now() - begun
  viewer.stream.close()
  await h.client.call('machines.stop', { id: machine.id, force: true })
  await h.client.call('machines.remove', { id: machine.id })
  return ms
}

function viaSsh(xen: XenHost, run: number): Promise<number> {
  const name = `r${run}`
  const cfg = `/tmp/${name}.cfg`
  execFileSync('ssh', [...sshArgs(xen), `cat > ${cfg}`], { input: xlConfig(name, spec('local', name)) })
  const begun = performance.now()
  const child = spawn('ssh', ['-tt', ...sshArgs(xen), `xl create -c ${cfg}`], { stdio: ['pipe', 'pipe', 'inherit'] })
  let seen = ''
  const ready = new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1')
      if (!seen.includes(testGuest.readyMarker)) return
      const ms = performance.now() - begun
      child.kill('SIGKILL')
      execFileSync('ssh', [...sshArgs(xen), `xl destroy ${name}`])
      resolve(ms)
    })
    child.once('exit', (code) => reject(new Error(`ssh xl create exited (${code}) before the guest was ready: ${seen.slice(-500)}`)))
  })
  return within(ready, 180_000, `${testGuest.readyMarker} from xl create -c`, () => seen).catch((error: Error) => {
    child.kill('SIGKILL')
    throw error
  })
}

export async function xenBench(runs: number): Promise<BenchResult[]> {
  const [xen, h] = await Promise.all([bootXenHost(), startHarness()])
  const create = { berth: [] as number[], baseline: [] as number[] }
  const list = { berth: [] as number[], baseline: [] as number[] }
  try {
    const probed = await h.client.call('hosts.probe', { ssh: { address: '127.0.0.1', port: xen.port, user: 'root', auth: { kind: 'key', keyFile: xen.clientKey } } })
    const host = await h.client.call('hosts.add', {
      spec: { name: 'bench', ssh: { address: '127.0.0.1', port: xen.port, user: 'root', auth: { kind: 'key', keyFile: xen.clientKey } }, hostKey: probed },
    })
    // One warm-up of each (dom0's page cache, the first domain), not counted.
    await viaBerth(h, host.id, -1)
    await viaSsh(xen, -1)
    for (let run = 0; run < runs; run++) {
      create.berth.push(await viaBerth(h, host.id, run))
      create.baseline.push(await viaSsh(xen, run))
    }
    for (let run = 0; run < runs * 3; run++) {
      let begun = performance.now()
      await h.client.call('hosts.dom0', { id: host.id })
      list.berth.push(performance.now() - begun)
      begun = performance.now()
      execFileSync('ssh', [...sshArgs(xen), 'cat /proc/xen/capabilities; xl info; xl list; pidof xenstored; pidof xenconsoled'])
      list.baseline.push(performance.now() - begun)
    }
  } finally {
    await h.cleanup()
    await xen.stop()
  }
  const result = (name: string, samples: typeof create, goal: string): BenchResult => {
    const berth = median(samples.berth)
    const baseline = median(samples.baseline)
    return { name, unit: 'ms', berth, baseline, ratio: berth / baseline, goal, samples }
  }
  return [
    result('Xen: create + start → guest ready on the console', create, '≤ 1.10'),
    result('Xen: dom0 panel (capabilities, xl info, xl list, daemons)', list, '≤ 1.00'),
  ]
}
