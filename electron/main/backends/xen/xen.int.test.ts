// A real Xen 4.17 host (nested under QEMU TCG, see testing/xen-host.ts), reached over SSH and driven
// through Berth's own API: host keys, the dom0 panel, a PV domU's whole life and its console.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import type { XenSpecInput } from '../../../../shared/model/xen'
import type { SshTarget } from '../../../../shared/model/remote-host'
import { startHarness, waitUntil, watchConsole, type Harness } from '../../testing/harness'
import type { Sample } from '../../../../shared/model/metrics'
import { bootXenHost, dom0Ssh, xenHostFiles, type XenHost } from '../../testing/xen-host'
import { freePort } from '../../testing/free-port'
import { testGuest } from '../../testing/guest'

let xen: XenHost
let h: Harness
let hostId = ''

beforeAll(async () => {
  ;[xen, h] = await Promise.all([bootXenHost(), startHarness()])
}, 330_000)
// What Xen, dom0 and its SSH server said, for a failure's report.
afterEach(({ task }) => {
  if (task.result?.state === 'fail') console.error(`--- Xen host output ---\n${xen?.output().slice(-6000)}`)
})
afterAll(async () => {
  await h?.cleanup()
  await xen?.stop()
})

const target = (extra: Partial<SshTarget> = {}): SshTarget => ({
  address: '127.0.0.1',
  port: xen.port,
  user: 'root',
  auth: { kind: 'key', keyFile: xen.clientKey },
  ...extra,
})
const failure = (promise: Promise<unknown>) => promise.then(() => null as never, (error: BerthError) => error)
/** Runs a command in dom0 the way a person at its shell would (not through Berth). */
const inDom0 = (command: string) =>
  execFileSync('ssh', [...dom0Ssh(xen.port), command], { encoding: 'utf8' })
const pvGuest = (name: string, extra: Partial<XenSpecInput> = {}): XenSpecInput => ({
  kind: 'xen',
  name,
  host: hostId,
  type: 'pv',
  memoryMiB: 160,
  vcpus: 1,
  kernel: xenHostFiles.guestKernel,
  ramdisk: xenHostFiles.guestRamdisk,
  cmdline: 'console=hvc0 quiet',
  ...extra,
})
const machine = async (id: string) => (await h.client.call('machines.list', {})).machines.find((m) => m.id === id)!

describe('Xen backend (real Xen 4.17 over SSH)', () => {
  it('adds a host only with the accepted host key and a working login, and says why not otherwise', async () => {
    // The person sees the fingerprint before trusting it: the key dom0 really has.
    const probed = await h.client.call('hosts.probe', { ssh: target() })
    expect(probed).toEqual({ algorithm: 'ssh-ed25519', fingerprint: xen.fingerprint })

    const other = `SHA256:${'A'.repeat(43)}`
    const wrongKey = await failure(h.client.call('hosts.add', { spec: { name: 'lab', ssh: target(), hostKey: { algorithm: 'ssh-ed25519', fingerprint: other } } }))
    expect(wrongKey.message).toContain(`pinned ${other}, now ${xen.fingerprint}`)

    const stranger = join(h.home, 'stranger_key')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger])
    const refused = await failure(h.client.call('hosts.add', { spec: { name: 'lab', ssh: target({ auth: { kind: 'key', keyFile: stranger } }), hostKey: probed } }))
    expect(refused.message).toMatch(/lab \(root@127\.0\.0\.1:\d+\) refused to log in root with the key .*stranger_key/)

    const nobody = await failure(h.client.call('hosts.probe', { ssh: target({ port: await freePort() }) }))
    expect(nobody.message).toMatch(/Cannot reach .*nothing accepts SSH connections on 127\.0\.0\.1:\d+ \(connection refused\)/)
    expect((await h.client.call('hosts.list', {})).hosts.map((x) => x.name)).toEqual(['This computer'])

    const added = await h.client.call('hosts.add', { spec: { name: 'lab', ssh: target(), hostKey: probed } })
    hostId = added.id
    expect(added).toMatchObject({ name: 'lab', fingerprint: xen.fingerprint, xen: true, error: null })
  })

  it('shows the dom0 panel: Xen, its command line, memory, caps, daemons and Domain-0', async () => {
    const { info, domains } = await h.client.call('hosts.dom0', { id: hostId })
    expect(info.xenVersion).toMatch(/^4\.17\./)
    expect(info.commandLine).toContain('dom0_mem=1024M')
    expect(info.commandLine).toContain('loglvl=all')
    expect(info.dom0MemoryMiB).toBe(1024)
    expect(info.totalMemoryMiB).toBeGreaterThan(1900)
    expect(info.freeMemoryMiB).toBeGreaterThan(500)
    expect(info.virtCaps).toEqual(expect.arrayContaining(['pv', 'hvm', 'hap']))
    expect(info.daemons).toEqual({ xenstored: true, xenconsoled: true })
    expect(domains).toContainEqual(expect.objectContaining({ id: 0, name: 'Domain-0', memoryMiB: 1024 }))

    // This computer runs no Xen: said as such, not as a broken command.
    const local = await failure(h.client.call('hosts.dom0', { id: 'local' }))
    expect(local.message).toBe('this computer is not a Xen dom0: it does not run under Xen (no /proc/xen/capabilities)')
  })

  it('creates a PV domU, reads and types into its console, pauses, survives a Berth restart, shuts down and destroys', async () => {
    const preview = await h.client.call('machines.preview', { spec: pvGuest('pv1') })
    expect(preview.config).toContain('type = "pv"')
    expect(preview.config).toContain(`ramdisk = "${xenHostFiles.guestRamdisk}"`)

    const created = await h.client.call('machines.create', { spec: pvGuest('pv1') })
    const started = await h.client.call('machines.start', { id: created.id })
    expect(started.state).toBe('running')
    expect((await h.client.call('hosts.dom0', { id: hostId })).domains.map((d) => d.name)).toContain('pv1')
    expect(inDom0(`cat /var/lib/berth/xen/${created.id}.cfg`)).toContain('name = "pv1"')

    const viewer = await watchConsole(h.client, created.id)
    await viewer.waitFor(testGuest.readyMarker, 90_000)
    await viewer.waitFor(testGuest.prompt, 30_000)
    viewer.type('echo xen-$((6*7)); uname -r\r')
    await viewer.waitFor('xen-42', 20_000)

    // Metrics from one xl list on the host: a busy loop in the domain takes its vCPU.
    const samples: Sample[] = []
    let unmeasured: string[] = []
    const metrics = await h.client.openStream('metrics.watch', { id: created.id }, {
      onData: () => undefined,
      onControl: (update) => {
        samples.push(...update.samples)
        unmeasured = update.unmeasured
      },
    })
    viewer.type('while :; do :; done &\r')
    await waitUntil('a sample with the domain above 50 % of a CPU', async () => samples.some((s) => s.cpu > 50), 20_000, () => JSON.stringify(samples.slice(-5)))
    expect(samples.at(-1)!.memoryLimit).toBe(160 * 1024 * 1024)
    expect(unmeasured).toEqual(['disk and network: xl list has no I/O figures per domain'])
    metrics.close()
    viewer.type('kill %1\r')

    expect((await h.client.call('machines.pause', { id: created.id })).state).toBe('paused')
    expect(inDom0('xl list pv1')).toMatch(/--p---/)
    expect((await h.client.call('machines.resume', { id: created.id })).state).toBe('running')

    // xl reboot: the guest restarts itself (a new domain of the same name); the console follows it.
    await h.client.call('machines.reboot', { id: created.id })
    await viewer.waitFor(/BERTH-GUEST-READY[\s\S]*BERTH-GUEST-READY/, 90_000)
    expect((await machine(created.id)).state).toBe('running')

    // Berth goes away and comes back: the domain ran on; its console continues where it was.
    await h.restart()
    expect((await machine(created.id)).state).toBe('running')
    const again = await watchConsole(h.client, created.id)
    await again.waitFor('xen-42')
    again.type('echo back-$((3*3))\r')
    await again.waitFor('back-9', 20_000)

    // Graceful: xl shutdown; the guest powers itself off.
    const stopped = await h.client.call('machines.stop', { id: created.id, force: false, timeoutSec: 60 })
    expect(stopped).toMatchObject({ state: 'stopped', lastError: null })
    expect(inDom0('xl list')).not.toContain('pv1')

    // Forced: xl destroy.
    await h.client.call('machines.start', { id: created.id })
    const destroyed = await h.client.call('machines.stop', { id: created.id, force: true, timeoutSec: 0 })
    expect(destroyed.state).toBe('stopped')
    expect(inDom0('xl list')).not.toContain('pv1')

    await h.client.call('machines.remove', { id: created.id })
    expect(inDom0('ls /var/lib/berth/xen/')).not.toContain(created.id)
  })

  it("xen.bridge: Berth makes the domains' bridge on the host; a PV domain's card joins it and pings dom0", async () => {
    // The host has no bridge until a domain with a card starts.
    expect(inDom0('test -e /sys/class/net/xenbr0 && echo bridge || echo none')).toBe('none\n')
    expect((await h.client.call('machines.preview', { spec: pvGuest('net1', { interfaces: [{}] }) })).config).toContain('vif = [ "bridge=xenbr0" ]')
    const created = await h.client.call('machines.create', { spec: pvGuest('net1', { interfaces: [{}] }) })
    await h.client.call('machines.start', { id: created.id })
    // Xen's vif-bridge hotplug script put the domain's backend card on it.
    expect(inDom0('ls /sys/class/net/xenbr0/brif')).toMatch(/^vif\d+\.0$/m)
    inDom0('ip addr add 10.77.0.1/24 dev xenbr0')
    const viewer = await watchConsole(h.client, created.id)
    await viewer.waitFor(testGuest.prompt, 90_000)
    viewer.type('ip addr add 10.77.0.2/24 dev eth0; ip link set eth0 up; ping -c 3 -W 5 10.77.0.1; echo ping-""done\r')
    await viewer.waitFor('ping-done', 60_000)
    expect(viewer.text).toMatch(/3 packets transmitted, [123] packets received/)
    await h.client.call('machines.stop', { id: created.id, force: true, timeoutSec: 0 })
    await h.client.call('machines.remove', { id: created.id })
  })

  it('clones a stopped domain: its disk copied on the host, a new MAC, both running side by side on their own data', async () => {
    inDom0('mkdir -p /srv/disks && dd if=/dev/zero of=/srv/disks/orig.img bs=1M count=8 2>/dev/null && printf orig-data | dd of=/srv/disks/orig.img conv=notrunc 2>/dev/null')
    const disks = [{ target: '/srv/disks/orig.img', vdev: 'xvda' }]
    const orig = await h.client.call('machines.create', { spec: pvGuest('orig', { disks, interfaces: [{ mac: '00:16:3e:00:00:0a' }] }) })
    const ids = [orig.id]
    try {
      expect(orig.capabilities).toContain('clone')
      await h.client.call('machines.start', { id: orig.id })
      expect((await failure(h.client.call('machines.clone', { id: orig.id, name: 'copy1' }))).message).toBe(
        "Stop orig before cloning it: a running machine's disks change while they are copied",
      )
      await h.client.call('machines.stop', { id: orig.id, force: true, timeoutSec: 0 })
      expect((await failure(h.client.call('machines.clone', { id: orig.id, name: 'copy1', linked: true }))).message).toBe(
        'orig is a Xen domain: its clone is a full copy of its disks (linked clones are for VMs)',
      )

      const copy = await h.client.call('machines.clone', { id: orig.id, name: 'copy1' })
      ids.push(copy.id)
      expect(copy.spec).toMatchObject({ kind: 'xen', name: 'copy1', host: hostId, disks: [{ target: '/srv/disks/copy1-xvda.img', format: 'raw', vdev: 'xvda' }] })
      const mac = copy.spec.kind === 'xen' ? copy.spec.interfaces[0]!.mac! : ''
      expect(mac).toMatch(/^00:16:3e:/)
      expect(mac).not.toBe('00:16:3e:00:00:0a')
      expect(inDom0('head -c 9 /srv/disks/copy1-xvda.img')).toBe('orig-data')

      // Both run at once: each reads the data it was made with and writes its own disk only.
      const consoles: Awaited<ReturnType<typeof watchConsole>>[] = []
      for (const id of ids) {
        expect((await h.client.call('machines.start', { id })).state).toBe('running')
        const viewer = await watchConsole(h.client, id)
        await viewer.waitFor(testGuest.prompt, 90_000)
        consoles.push(viewer)
      }
      const [original, clone] = consoles as [(typeof consoles)[0], (typeof consoles)[0]]
      clone.type('echo "disk:$(head -c 9 /dev/xvda) mac:$(cat /sys/class/net/eth0/address)"; printf copy-data | dd of=/dev/xvda conv=fsync 2>/dev/null; echo written-""done\r')
      await clone.waitFor('written-done', 30_000)
      expect(clone.text).toContain(`disk:orig-data mac:${mac}`)
      original.type('echo "disk:$(head -c 9 /dev/xvda) mac:$(cat /sys/class/net/eth0/address)"\r')
      await original.waitFor('mac:00:16:3e:00:00:0a', 30_000)
      expect(original.text).toContain('disk:orig-data mac:00:16:3e:00:00:0a')
      for (const id of ids) await h.client.call('machines.stop', { id, force: true, timeoutSec: 0 })
      expect(inDom0('head -c 9 /srv/disks/orig.img; echo; head -c 9 /srv/disks/copy1-xvda.img')).toBe('orig-data\ncopy-data')

      // A file already where a copy would go is never overwritten, and nothing of the clone is made.
      inDom0('echo theirs > /srv/disks/copy2-xvda.img')
      const occupied = await failure(h.client.call('machines.clone', { id: orig.id, name: 'copy2' }))
      expect(occupied.message).toMatch(/^\/srv\/disks\/copy2-xvda\.img already exists on lab \(root@127\.0\.0\.1:\d+\): remove it, or choose another name for the clone/)
      expect(inDom0('cat /srv/disks/copy2-xvda.img')).toBe('theirs\n')
      expect((await h.client.call('machines.list', {})).machines.map((m) => m.spec.name)).not.toContain('copy2')

      // Deleting the clone deletes the copy Berth made when asked (it survives a Berth restart); the original's disk stays.
      await h.restart()
      expect((await machine(copy.id)).runtime).toEqual({ kind: 'xen', madeDisks: ['/srv/disks/copy1-xvda.img'] })
      expect((await machine(orig.id)).runtime).toEqual({ kind: 'xen', madeDisks: [] })
      await h.client.call('machines.remove', { id: copy.id, deleteImages: true })
      await h.client.call('machines.remove', { id: orig.id, deleteImages: true })
      expect(inDom0('ls /srv/disks')).toBe('copy2-xvda.img\norig.img\n')
    } finally {
      for (const id of ids) {
        await h.client.call('machines.stop', { id, force: true, timeoutSec: 0 }).catch(() => undefined)
        await h.client.call('machines.remove', { id }).catch(() => undefined)
      }
      inDom0('rm -rf /srv/disks')
    }
  })

  it('a host that goes silent pauses its domains\' series, which say why, and go on once it answers', async () => {
    const domain = await h.client.call('machines.create', { spec: pvGuest('quiet') })
    try {
      await h.client.call('machines.start', { id: domain.id })
      let samples = 0
      let paused: string | null = null
      const metrics = await h.client.openStream('metrics.watch', { id: domain.id }, {
        onData: () => undefined,
        onControl: (update) => {
          samples += update.samples.length
          paused = update.paused
        },
      })
      await waitUntil('a first sample', async () => samples > 0, 20_000, () => `paused: ${paused}`)
      xen.freeze(true)
      try {
        await waitUntil('the series to say the host does not answer', async () => paused !== null, 20_000, () => `paused: ${paused}`)
        expect(paused).toMatch(/^lab \(.*\) does not answer \(.+\); the graphs go on once it does$/)
      } finally {
        xen.freeze(false)
      }
      const before = samples
      await waitUntil('samples again once the host answers', async () => paused === null && samples > before, 60_000, () => `paused: ${paused}`)
      metrics.close()
      expect((await h.client.call('machines.stop', { id: domain.id, force: true, timeoutSec: 0 })).state).toBe('stopped')
    } finally {
      await h.client.call('machines.remove', { id: domain.id }).catch(() => undefined)
    }
  })

  it('boots a PVH domain too (the same kernel, in an HVM container)', async () => {
    // On a Xen host of its own, with the CPU PVH needs (see XEN_HOST_CPU_HVM), for this test only.
    const hvmHost = await bootXenHost({ hvm: true })
    let hvmHostId = ''
    let pvhId = ''
    try {
      const ssh = { ...target(), port: hvmHost.port }
      const probed = await h.client.call('hosts.probe', { ssh })
      hvmHostId = (await h.client.call('hosts.add', { spec: { name: 'lab-hvm', ssh, hostKey: probed } })).id
      const pvh = await h.client.call('machines.create', { spec: { ...pvGuest('pvh1', { type: 'pvh' }), host: hvmHostId } })
      pvhId = pvh.id
      expect((await h.client.call('machines.start', { id: pvh.id })).state).toBe('running')
      const viewer = await watchConsole(h.client, pvh.id)
      await viewer.waitFor(testGuest.prompt, 90_000)
      viewer.type('echo pvh-$((6*7)) $(cat /sys/hypervisor/guest_type)\r')
      await viewer.waitFor('pvh-42 PVH', 20_000)
      expect((await h.client.call('machines.stop', { id: pvh.id, force: true, timeoutSec: 0 })).state).toBe('stopped')
    } catch (error) {
      console.error(`--- PVH Xen host output ---\n${hvmHost.output().slice(-6000)}`)
      throw error
    } finally {
      if (pvhId) await h.client.call('machines.remove', { id: pvhId }).catch(() => undefined)
      if (hvmHostId) await h.client.call('hosts.remove', { id: hvmHostId }).catch(() => undefined)
      await hvmHost.stop()
    }
  }, 330_000)

  it('says clearly when xl refuses: out of memory, a name taken on the host, a changed host key', async () => {
    const big = await h.client.call('machines.create', { spec: pvGuest('big', { memoryMiB: 4000 }) })
    const oom = await failure(h.client.call('machines.start', { id: big.id }))
    expect(oom.message).toMatch(/^xl create on lab \(root@127\.0\.0\.1:\d+\) failed: .*(Out of memory|Cannot allocate memory)/)
    expect(await machine(big.id)).toMatchObject({ state: 'stopped', lastError: oom.message })

    // dom0 itself is never a name for a domain of Berth's.
    const taken = await failure(h.client.call('machines.create', { spec: pvGuest('Domain-0') }))
    expect(taken.code).toBe('invalid_input')
    expect(JSON.stringify(taken.details)).toContain('Domain-0 is the Xen host itself: choose another name')

    // A domain made on the host behind Berth's back, after Berth defined one of the same name.
    const late = await h.client.call('machines.create', { spec: pvGuest('late') })
    inDom0(`sed 's/^name = .*/name = "late"/' /var/lib/berth/xen/${big.id}.cfg | sed 's/^memory = .*/memory = 160/' > /tmp/late.cfg && xl create /tmp/late.cfg`)
    const clash = await failure(h.client.call('machines.start', { id: late.id }))
    expect(clash.message).toMatch(/^xl create on lab \(.*\) failed: .*Domain with name "late" already exists/)
    inDom0('xl destroy late')

    // The host key changes (reinstalled, or someone in between): refused, both fingerprints named.
    const hostsFile = join(dirname(h.server.paths.machines), 'hosts.json')
    const pinned = readFileSync(hostsFile, 'utf8')
    const other = `SHA256:${'B'.repeat(43)}`
    writeFileSync(hostsFile, pinned.replace(xen.fingerprint, other))
    await h.restart()
    const changed = await failure(h.client.call('hosts.dom0', { id: hostId }))
    const refusal = `lab (root@127.0.0.1:${xen.port}) presented a different host key: pinned ${other}, now ${xen.fingerprint}`
    expect(changed.message).toContain(refusal)
    // Its machines cannot be known either, and say why.
    expect(await machine(big.id)).toMatchObject({ state: 'unknown', lastError: expect.stringContaining(refusal) })
    writeFileSync(hostsFile, pinned)
    await h.restart()
    await h.client.call('machines.remove', { id: big.id })
    await h.client.call('machines.remove', { id: late.id })
    await h.client.call('hosts.remove', { id: hostId })
  })
})
