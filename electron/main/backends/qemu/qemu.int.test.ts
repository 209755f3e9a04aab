// Real QEMU (TCG here) booting the tiny test guest, driven through Berth's own API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { BerthError } from '../../../../shared/errors'
import type { MethodOutput } from '../../../../shared/contract'
import { startHarness, tinyGuestSpec, waitForState, watchConsole, type Harness } from '../../testing/harness'
import { vmRuntime } from '../../../../shared/model/machine'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

/** True once pid has exited (a zombie waiting to be reaped counts as exited). */
async function processEnds(pid: number, timeoutMs = 3000): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : ''
    if (!stat || / Z /.test(stat)) return true
  }
  return false
}

const fieldsOf = (e: unknown) => ((e as BerthError).details as { fields: Record<string, string> }).fields

describe('QEMU backend (real QEMU)', () => {
  it('says which accelerator it uses and why', async () => {
    const info = await h.client.call('host.info', {})
    expect(['kvm', 'tcg']).toContain(info.accelerator)
    expect(info.acceleratorReason.length).toBeGreaterThan(20)
    expect(info.qemu.version).toMatch(/^\d+\.\d+/)
    const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
    if (!/\b(vmx|svm)\b/.test(cpuinfo)) expect(info.accelerator).toBe('tcg')
    // Readiness does not call an open /dev/kvm "OK" where KVM cannot run guests.
    const permissions = (await h.client.call('host.readiness', {})).checks.find((c) => c.id === 'kvm-permissions')!
    if (info.accelerator === 'tcg' && existsSync('/dev/kvm')) expect(permissions).toMatchObject({ status: 'warning', detail: expect.stringMatching(/cannot run guests|not readable/) })
    if (info.accelerator === 'kvm') expect(permissions.status).toBe('ok')
  })

  it('boots the guest, streams its console, takes keystrokes, outlives Berth and is re-attached', async () => {
    const machine = await h.client.call('machines.create', { spec: tinyGuestSpec('boot-test') })
    expect(machine.state).toBe('stopped')
    const started = await h.client.call('machines.start', { id: machine.id })
    expect(started.state).toBe('running')
    expect(vmRuntime(started).accelerator).toMatch(/kvm|tcg/)

    const viewer = await watchConsole(h.client, machine.id)
    await viewer.waitFor('BERTH-GUEST-READY')
    await viewer.waitFor(/guest# /)
    viewer.type('echo marker-$((6*7))\r')
    await viewer.waitFor('marker-42')

    // A second start is refused while it runs, and so are new settings.
    const again = await h.client.call('machines.start', { id: machine.id }).catch((e: BerthError) => e)
    expect(again).toMatchObject({ code: 'conflict' })
    const edit = await h.client.call('machines.update', { id: machine.id, spec: machine.spec }).catch((e: BerthError) => e)
    expect(edit).toMatchObject({ code: 'conflict', message: 'Stop boot-test before changing its settings' })

    // Pause and resume through QMP.
    expect((await h.client.call('machines.pause', { id: machine.id })).state).toBe('paused')
    expect((await h.client.call('machines.resume', { id: machine.id })).state).toBe('running')

    // Berth goes away; QEMU keeps running; the guest writes while nobody listens.
    const pid = Number(readFileSync(join(h.home, 'run', machine.id, 'qemu.pid'), 'utf8'))
    viewer.type('sleep 2; echo while-away-$((7*7))\r')
    // Input the guest has not consumed is lost when Berth's connection drops: wait for the whole echo.
    await viewer.waitFor(/while-away-\$\(\(7\*7\)\)\r?\n/)
    await h.restart()
    expect(() => process.kill(pid, 0)).not.toThrow()
    await waitForState(h.client, machine.id, 'running')
    await new Promise((r) => setTimeout(r, 2500))

    // The scrollback holds what was written before and while Berth was away; typing still works.
    const after = await watchConsole(h.client, machine.id)
    await after.waitFor('marker-42', 5000)
    await after.waitFor('while-away-49', 5000)
    after.type('echo back-$((8*8))\r')
    await after.waitFor('back-64')

    // Force stop ends QEMU and removes its runtime files.
    const stopped = await h.client.call('machines.stop', { id: machine.id, force: true })
    expect(stopped.state).toBe('stopped')
    expect(stopped.lastError).toBeNull()
    expect(existsSync(join(h.home, 'run', machine.id))).toBe(false)
    expect(await processEnds(pid)).toBe(true)
  })

  it('the guest agent answers on its channel: version, host name, interfaces; without the channel Berth says how to get one', async () => {
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('agent') })
    await h.client.call('machines.start', { id })
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor('guest# ')
    viewer.type('hostname agent-guest; ip addr add 10.0.2.77/24 dev eth0; ip link set eth0 up; echo host-""set\r')
    await viewer.waitFor('host-set')
    let info: MethodOutput<'machines.guestInfo'> | null = null
    for (let attempt = 0; attempt < 20 && !info; attempt++)
      info = await h.client.call('machines.guestInfo', { id }).catch(() => new Promise<null>((r) => setTimeout(() => r(null), 500)))
    expect(info).toMatchObject({ agentVersion: expect.stringMatching(/^7\./), hostName: 'agent-guest' })
    expect(info!.interfaces).toEqual(expect.arrayContaining([{ name: 'eth0', addresses: expect.arrayContaining(['10.0.2.77/24']) }]))
    await h.client.call('machines.stop', { id, force: true })

    const { id: without } = await h.client.call('machines.create', { spec: tinyGuestSpec('no-agent', { guestAgent: false }) })
    await h.client.call('machines.start', { id: without })
    const refused = await h.client.call('machines.guestInfo', { id: without }).catch((e: BerthError) => e)
    expect(refused).toMatchObject({ code: 'conflict', message: 'no-agent has no guest agent channel: turn it on in its settings (General → Devices)' })
    await h.client.call('machines.stop', { id: without, force: true })
  })

  it('a graceful stop the guest ignores falls back to quit after the timeout', async () => {
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('graceful') })
    await h.client.call('machines.start', { id })
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor(/guest# /)
    const begun = Date.now()
    const stopped = await h.client.call('machines.stop', { id, timeoutSec: 1 })
    expect(stopped.state).toBe('stopped')
    expect(Date.now() - begun).toBeGreaterThanOrEqual(1000)
  })

  it('a guest poweroff is a clean stop', async () => {
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('poweroff') })
    await h.client.call('machines.start', { id })
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor(/guest# /)
    viewer.type('poweroff -f\r')
    await waitForState(h.client, id, 'stopped')
    const { machines } = await h.client.call('machines.list', {})
    expect(machines.find((m) => m.id === id)?.lastError).toBeNull()
  })

  it('QEMU killed from outside shows as crashed with the reason and the last console lines; the definition is intact; Start works again', async () => {
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('crash') })
    const definitionFile = join(h.home, 'config', 'machines', `${id}.json`)
    const definition = readFileSync(definitionFile, 'utf8')
    await h.client.call('machines.start', { id })
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor('guest# ')
    viewer.type('echo last-words-$((6*7))\r')
    await viewer.waitFor('last-words-42')
    const pid = Number(readFileSync(join(h.home, 'run', id, 'qemu.pid'), 'utf8'))
    process.kill(pid, 'SIGKILL')
    await waitForState(h.client, id, 'crashed')
    const { machines } = await h.client.call('machines.list', {})
    expect(machines.find((m) => m.id === id)?.lastError).toMatch(/QEMU (killed by SIGKILL|ended without saying why)\. Last output: .*\. Last console lines: .*last-words-42/)
    expect(readFileSync(definitionFile, 'utf8')).toBe(definition)
    expect((await h.client.call('machines.start', { id })).state).toBe('running')
    await h.client.call('machines.stop', { id, force: true })
  })

  it('creates the qcow2 disk on first start and the guest sees it', async () => {
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('with-disk', { disk: { sizeMiB: 64 } }) })
    await h.client.call('machines.start', { id })
    const image = join(h.home, 'data', 'images', `${id}.qcow2`)
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--force-share', '--output=json', image], { encoding: 'utf8' }))
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 64 * 1024 * 1024 })
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor(/guest# /)
    viewer.type('cat /proc/partitions\r')
    await viewer.waitFor(/65536 vda/)
    await h.client.call('machines.stop', { id, force: true })
    await h.client.call('machines.remove', { id, deleteImages: true })
    expect(existsSync(image)).toBe(false)
  })

  it('bad input: a field-level message for each problem, and nothing written', async () => {
    const before = (await h.client.call('machines.list', {})).machines.length
    const textFile = join(h.home, 'notes.txt')
    writeFileSync(textFile, 'just some notes\n'.repeat(100))
    const zip = join(h.home, 'archive.zip')
    writeFileSync(zip, Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(2048)]))

    const missing = await h.client
      .call('machines.create', { spec: tinyGuestSpec('bad', { boot: { type: 'kernel', kernel: '/nonexistent/vmlinuz' } }) })
      .catch((e: unknown) => e)
    expect(fieldsOf(missing)).toEqual({ 'boot.kernel': '/nonexistent/vmlinuz does not exist' })

    const notImage = await h.client
      .call('machines.create', { spec: tinyGuestSpec('bad', { disk: { image: textFile, sizeMiB: 1 } }) })
      .catch((e: unknown) => e)
    expect(fieldsOf(notImage)['disk.image']).toMatch(/looks like a text file, not a disk image/)

    const zipped = await h.client
      .call('machines.create', { spec: tinyGuestSpec('bad', { disk: { image: zip, sizeMiB: 1 } }) })
      .catch((e: unknown) => e)
    expect(fieldsOf(zipped)['disk.image']).toMatch(/looks like a ZIP archive/)

    const directory = await h.client
      .call('machines.create', { spec: tinyGuestSpec('bad', { boot: { type: 'kernel', kernel: h.home } }) })
      .catch((e: unknown) => e)
    expect(fieldsOf(directory)['boot.kernel']).toMatch(/is not a file/)

    const invalid = await h.client
      .call('machines.create', { spec: { ...tinyGuestSpec('no spaces allowed'), memoryMiB: 1, cores: 0 } })
      .catch((e: unknown) => e)
    expect(Object.keys(fieldsOf(invalid)).sort()).toEqual(['spec.cores', 'spec.memoryMiB', 'spec.name'])

    await h.client.call('machines.create', { spec: tinyGuestSpec('taken') })
    const clash = await h.client.call('machines.create', { spec: tinyGuestSpec('TAKEN') }).catch((e: unknown) => e)
    expect(fieldsOf(clash).name).toMatch(/already exists/)

    expect((await h.client.call('machines.list', {})).machines.length).toBe(before + 1)
  })
})

describe('disk interface and empty disks (real QEMU)', () => {
  it('puts the root disk and the empty disks on SCSI; the guest sees them', async () => {
    const { id } = await h.client.call('machines.create', {
      spec: tinyGuestSpec('scsi-disks', { disk: { sizeMiB: 48, interface: 'scsi' }, emptyDiskImages: [24] }),
    })
    await h.client.call('machines.start', { id })
    expect(existsSync(join(h.home, 'data', 'machines', id, 'empty0.qcow2'))).toBe(true)
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor(/guest# /)
    for (let i = 0; i < 40 && !/24576 sd[a-z]/.test(viewer.text); i++) {
      viewer.type('grep sd /proc/partitions\r')
      await new Promise((r) => setTimeout(r, 500))
    }
    expect(viewer.text).toMatch(/49152 sd[a-z]/)
    expect(viewer.text).toMatch(/24576 sd[a-z]/)
    await h.client.call('machines.stop', { id, force: true })
  })
})
