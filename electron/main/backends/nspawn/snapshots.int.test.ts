// Snapshots and clones of containers on real systemd-nspawn: copies of the root, a running container
// frozen while it is copied, a revert that brings files and settings back, a clone with its own identity.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import type { Machine } from '../../../../shared/model/machine'
import { startHarness, waitUntil, watchConsole, type Harness } from '../../testing/harness'
import { containerRoot, makeBusyboxRoot } from '../../testing/container-root'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

const fail = (promise: Promise<unknown>) => promise.then(() => null, (error: BerthError) => error)
const stateOf = async (id: string) => (await h.client.call('machines.list', {})).machines.find((m) => m.id === id)!.state

async function startAtPrompt(machine: Machine) {
  await h.client.call('machines.start', { id: machine.id })
  const viewer = await watchConsole(h.client, machine.id)
  await viewer.waitFor(containerRoot.prompt, 20_000)
  return viewer
}

describe('container snapshots and clones (real systemd-nspawn)', () => {
  it('a snapshot of a running container brings back its files and settings on revert; names are checked; delete frees it', async () => {
    const root = makeBusyboxRoot(join(h.home, 'roots', 'snapc'))
    const machine = await h.client.call('machines.create', { spec: { kind: 'nspawn', name: 'snapc', root } })
    if (machine.spec.kind !== 'nspawn') throw new Error('not a container')
    const spec = machine.spec
    const viewer = await startAtPrompt(machine)
    await viewer.run('echo before > /marker')
    // Frozen for the copy: the container passes through paused and runs on after it.
    const states: string[] = []
    const watching = h.client.on('machines.changed', ({ id, machine: now }) => id === machine.id && now && states.push(now.state))
    const snapshot = await h.client.call('snapshots.take', { id: machine.id, name: 'one', description: 'before the change' })
    watching.dispose()
    expect(states).toContain('paused')
    expect(await stateOf(machine.id)).toBe('running')
    expect(snapshot).toMatchObject({ name: 'one', description: 'before the change', memory: false, parent: null })
    expect(snapshot.sizeBytes).toBeGreaterThan(1_000_000) // busybox itself
    expect(await viewer.run('echo after > /marker; touch /added; cat /marker')).toMatch(/after/)

    const taken = await fail(h.client.call('snapshots.take', { id: machine.id, name: 'ONE', description: '' }))
    expect((taken?.details as { fields: Record<string, string> }).fields.name).toBe('“one” is taken: choose another name')
    const whileRunning = await fail(h.client.call('snapshots.revert', { id: machine.id, name: 'one' }))
    expect(whileRunning?.message).toBe("Stop snapc, then revert: its root is replaced by the snapshot's")

    await h.client.call('machines.stop', { id: machine.id, force: false, timeoutSec: 10 })
    const edited = await h.client.call('machines.update', { id: machine.id, spec: { ...spec, additionalCapabilities: ['CAP_NET_ADMIN'] } })
    expect(edited.spec.kind === 'nspawn' && edited.spec.additionalCapabilities).toEqual(['CAP_NET_ADMIN'])
    const reverted = await h.client.call('snapshots.revert', { id: machine.id, name: 'one' })
    expect(reverted.spec.kind === 'nspawn' && reverted.spec.additionalCapabilities).toEqual([])
    expect(readFileSync(join(root, 'marker'), 'utf8')).toBe('before\n')
    expect(existsSync(join(root, 'added'))).toBe(false)
    // Nothing of the swap is left beside the root.
    expect(readdirSync(join(h.home, 'roots')).filter((name) => name.startsWith('.snapc'))).toEqual([])
    const again = await startAtPrompt(machine)
    expect(await again.run('cat /marker')).toMatch(/\nbefore/)
    await h.client.call('machines.stop', { id: machine.id, force: false, timeoutSec: 10 })

    const list = await h.client.call('snapshots.list', { id: machine.id })
    expect(list).toMatchObject({ current: 'one', problem: null })
    const kept = join(h.home, 'var-lib-machines', '.berth-snapshots', machine.id)
    const copies = () => readdirSync(kept).filter((name) => name !== 'snapshots.json')
    expect(copies()).toHaveLength(1)
    const left = await h.client.call('snapshots.delete', { id: machine.id, name: 'one' })
    expect(left.snapshots).toEqual([])
    expect(copies()).toEqual([])
  })

  it('a clone boots beside its original on one bridge, with its own machine-id, SSH host keys and MAC; they reach each other', async () => {
    const bridge = 'br-berthclone'
    execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge'])
    try {
      execFileSync('ip', ['addr', 'add', '10.231.140.1/24', 'dev', bridge])
      execFileSync('ip', ['link', 'set', bridge, 'up'])
      const root = makeBusyboxRoot(join(h.home, 'roots', 'orig'))
      writeFileSync(join(root, 'etc/machine-id'), `${'a'.repeat(32)}\n`)
      mkdirSync(join(root, 'etc/ssh'))
      writeFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'the original key\n')
      const original = await h.client.call('machines.create', {
        spec: { kind: 'nspawn', name: 'orig', root, privateNetwork: true, hostBridge: bridge, localAddress: '10.231.140.2/24' },
      })
      const first = await startAtPrompt(original)
      await first.run('echo from-the-original > /marker')
      const running = await fail(h.client.call('machines.clone', { id: original.id, name: 'orig2' }))
      expect(running?.message).toBe("Stop orig before cloning it: a running machine's disks change while they are copied")
      const linked = await fail(h.client.call('machines.clone', { id: original.id, name: 'orig2', linked: true }))
      expect(linked?.message).toMatch(/Stop orig before cloning it/)
      await h.client.call('machines.stop', { id: original.id, force: false, timeoutSec: 10 })
      const refusedLink = await fail(h.client.call('machines.clone', { id: original.id, name: 'orig2', linked: true }))
      expect(refusedLink?.message).toBe("A container's clone is a full copy of its root: there are no linked clones of containers")
      const tooLong = await fail(h.client.call('machines.clone', { id: original.id, name: 'orig-the-second' }))
      expect((tooLong?.details as { fields: Record<string, string> }).fields.name).toMatch(/at most 11 characters/)

      const clone = await h.client.call('machines.clone', { id: original.id, name: 'orig2' })
      if (clone.spec.kind !== 'nspawn') throw new Error('the clone is not a container')
      expect(clone.spec.root).toBe(join(h.home, 'var-lib-machines', 'orig2'))
      expect(readFileSync(join(clone.spec.root, 'marker'), 'utf8')).toBe('from-the-original\n')
      expect(readFileSync(join(clone.spec.root, 'etc/machine-id'), 'utf8')).toBe('')
      expect(readFileSync(join(root, 'etc/machine-id'), 'utf8')).toBe(`${'a'.repeat(32)}\n`)
      expect(readFileSync(join(clone.spec.root, 'etc/ssh/ssh_host_ed25519_key'), 'utf8')).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/)
      expect(readFileSync(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'utf8')).toBe('the original key\n')
      // Its own address on the bridge, as a person would give it in its settings.
      const addressed = await h.client.call('machines.update', { id: clone.id, spec: { ...clone.spec, localAddress: '10.231.140.3/24' } })

      const a = await startAtPrompt(original)
      const b = await startAtPrompt(addressed)
      try {
        expect(readdirSync(`/sys/class/net/${bridge}/brif`).sort()).toEqual(['vb-orig', 'vb-orig2'])
        const mac = async (viewer: typeof a) => {
          const said = await viewer.run('ip link show')
          const found = /link\/ether ([0-9a-f]{2}(:[0-9a-f]{2}){5})/.exec(said)
          if (!found) throw new Error(`no MAC in what the container said: ${said}`)
          return found[1]
        }
        expect(await mac(a)).not.toBe(await mac(b))
        await waitUntil('the clone to reach its original over the bridge', async () => /1 packets received/.test(await b.run('ping -c 1 -W 2 10.231.140.2')), 20_000)
        expect(await a.run('ping -c 1 -W 5 10.231.140.3')).toMatch(/1 packets received/)
      } finally {
        await h.client.call('machines.stop', { id: original.id, force: false, timeoutSec: 10 })
        await h.client.call('machines.stop', { id: clone.id, force: false, timeoutSec: 10 })
      }
      // The clone's root is Berth's: it goes with the clone when asked; the original's stays.
      await h.client.call('machines.remove', { id: clone.id, deleteImages: true })
      expect(existsSync(clone.spec.root)).toBe(false)
      expect(existsSync(root)).toBe(true)
    } finally {
      execFileSync('ip', ['link', 'del', bridge])
    }
  })
})
