// Operations fired at one machine at once, against real QEMU: each waits for its turn and works on the
// definition the one before it left, so no completed change is lost and a removed machine stays removed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../shared/errors'
import type { Machine } from '../../../shared/model/machine'
import { startHarness, tinyGuestSpec, watchConsole, type Harness } from '../testing/harness'
import { vmRuntime } from '../../../shared/model/machine'

let h: Harness
let dir: string

const image = (name: string) => {
  const path = join(dir, `${name}.qcow2`)
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path, '8M'])
  return path
}
const attach = (id: string, path: string) => h.client.call('drives.attach', { id, path, persist: true })
const files = (m: Machine) => m.spec.kind === 'qemu' ? m.spec.drives.map((d) => d.file) : []
const stored = async (id: string) => (await h.client.call('machines.list', {})).machines.find((m) => m.id === id)

beforeAll(async () => {
  h = await startHarness()
  dir = join(h.home, 'images')
  mkdirSync(dir)
})
afterAll(async () => {
  await h?.cleanup()
})

describe('concurrent operations on one VM (real QEMU)', () => {
  it('keeps every completed change when update, attaches, start and detach race', async () => {
    const vm = await h.client.call('machines.create', { spec: tinyGuestSpec('racing') })
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(image)

    // Fired together: each is queued behind the one before and must see what it saved.
    const first = await Promise.all([
      h.client.call('machines.update', { id: vm.id, spec: tinyGuestSpec('racing', { memoryMiB: 320 }) }),
      attach(vm.id, a!),
      attach(vm.id, b!),
      h.client.call('machines.start', { id: vm.id }),
      attach(vm.id, c!),
    ])
    const afterStart = first.at(-1)!
    expect(afterStart.state).toBe('running')
    expect(afterStart.spec).toMatchObject({ memoryMiB: 320 })
    expect(files(afterStart)).toEqual([a, b, c])

    // Unplugging needs the guest's cooperation: wait until it is up.
    await (await watchConsole(h.client, vm.id)).waitFor('guest# ')
    const driveC = vmRuntime(afterStart).drives.find((x) => x.file === c)!
    await Promise.all([h.client.call('drives.detach', { id: vm.id, driveId: driveC.id }), attach(vm.id, d!)])

    // What is on disk, read back by a Berth started again.
    await h.restart()
    const reread = (await stored(vm.id))!
    expect(reread.spec).toMatchObject({ memoryMiB: 320 })
    expect(files(reread)).toEqual([a, b, d])
    expect(reread.state).toBe('running')
  })

  it('a change queued before remove completes; one queued after it fails; the machine stays removed', async () => {
    const vm = await h.client.call('machines.create', { spec: tinyGuestSpec('removed') })
    const [e, f] = ['e', 'f'].map(image)
    const outcomes = await Promise.allSettled([
      attach(vm.id, e!),
      h.client.call('machines.remove', { id: vm.id, deleteImages: false }),
      attach(vm.id, f!),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected'])
    expect(((outcomes[2] as PromiseRejectedResult).reason as BerthError).code).toBe('not_found')
    expect(await stored(vm.id)).toBeUndefined()
    await h.restart()
    expect(await stored(vm.id)).toBeUndefined()
    expect((await h.client.call('machines.list', {})).broken).toEqual([])
  })
})
