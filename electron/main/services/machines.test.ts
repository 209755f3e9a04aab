// The machine service with fake backends: what each backend declares (capabilities, runtime,
// transitions) reaches the view, and every action is checked against the backend's table in one
// place, with one set of refusals.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { machineSpecSchema, type Capability, type MachineSpec, type MachineState } from '../../../shared/model/machine'
import { Emitter } from '../../../shared/rpc/transport'
import type { BerthError } from '../../../shared/errors'
import { commonTransitions, type Backend, type Transitions } from '../backends/backend'
import { MachineStore } from '../store/machine-store'
import { MachineService } from './machines'

let dir = ''
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** A backend that keeps states in a map and records what it was asked to do. */
function fakeBackend(kind: MachineSpec['kind'], capabilities: Capability[], transitions: Transitions = commonTransitions) {
  const states = new Map<string, MachineState>()
  const changes = new Emitter<string>()
  const calls: string[] = []
  const set = (id: string, state: MachineState) => (states.set(id, state), changes.emit(id))
  const backend = {
    kind,
    transitions,
    capabilities: () => capabilities,
    runtime: () => (kind === 'qemu' ? { kind, accelerator: null, drives: [], cdrom: null } : { kind }),
    bridgesOf: () => [],
    linksOf: (spec: { extraVeths?: { name: string }[] }) => (spec.extraVeths ?? []).map((v, i) => ({ field: `extraVeths.${i}.name`, name: v.name })),
    hostOf: () => 'local',
    startsWithBerth: () => false,
    record: async (spec: MachineSpec) => spec,
    preview: async () => ({ argv: [kind] }),
    validate: async () => ({}),
    status: (id: string) => ({ state: states.get(id) ?? 'stopped', lastError: null }),
    reattach: async () => undefined,
    start: async (d: { id: string }) => (calls.push(`start ${d.id}`), set(d.id, 'running')),
    stop: async (d: { id: string }) => (calls.push(`stop ${d.id}`), set(d.id, 'stopped')),
    pause: async (d: { id: string }) => (calls.push(`pause ${d.id}`), set(d.id, 'paused')),
    resume: async (d: { id: string }) => (calls.push(`resume ${d.id}`), set(d.id, 'running')),
    reboot: async (d: { id: string }) => void calls.push(`reboot ${d.id}`),
    openConsole: async () => undefined,
    forget: async (d: { id: string }) => void calls.push(`forget ${d.id}`),
    onDidChange: (l: (id: string) => void) => changes.on(l),
    onInstallEnded: () => ({ dispose: () => undefined }),
    dispose: () => undefined,
    liveDrives: () => new Map(),
    writableImages: () => [],
    madeImages: () => [],
  }
  return { backend: backend as unknown as Backend & never, calls, set }
}

async function service() {
  dir = mkdtempSync(join(tmpdir(), 'berth-machines-'))
  const qemu = fakeBackend('qemu', ['drives', 'pause', 'display'])
  const nspawn = fakeBackend('nspawn', ['shell', 'pause'])
  const xen = fakeBackend('xen', ['reboot', 'pause'], { ...commonTransitions, reboot: ['running'], remove: ['stopped', 'crashed', 'unknown'] })
  const machines = new MachineService(new MachineStore(dir), { qemu: qemu.backend, nspawn: nspawn.backend, xen: xen.backend }, 'qemu-img', [])
  await machines.init()
  const make = async (spec: unknown) => (await machines.create(machineSpecSchema.parse(spec))).id
  const vm = await make({ kind: 'qemu', name: 'vm', memoryMiB: 64, cores: 1, boot: { type: 'kernel', kernel: '/k' } })
  const ct = await make({ kind: 'nspawn', name: 'ct', root: '/var/lib/machines/ct' })
  const dom = await make({ kind: 'xen', name: 'dom', host: 'local', type: 'pv', memoryMiB: 128, vcpus: 1, kernel: '/k' })
  return { machines, qemu, nspawn, xen, vm, ct, dom }
}

const refusal = (call: Promise<unknown>) => call.then(() => null, (e: BerthError) => e.message)

describe('MachineService with the backends as they declare themselves', () => {
  it("shows each backend's capabilities, runtime and the actions its state allows", async () => {
    const { machines, vm, ct, dom, xen } = await service()
    const view = (id: string) => machines.view(machines.get(id))
    expect(view(vm)).toMatchObject({ capabilities: ['drives', 'pause', 'display'], actions: ['start', 'edit', 'remove'], runtime: { kind: 'qemu', drives: [] } })
    expect(view(ct)).toMatchObject({ capabilities: ['shell', 'pause'], runtime: { kind: 'nspawn' } })
    await machines.start(dom)
    expect(view(dom).actions).toEqual(['stop', 'pause', 'reboot'])
    xen.set(dom, 'unknown')
    expect(view(dom).actions).toEqual(['stop', 'remove'])
  })

  it('refuses what the state does not allow, the same way for every kind, and never reaches the backend', async () => {
    const { machines, vm, ct, dom, qemu, nspawn, xen } = await service()
    for (const id of [vm, ct, dom]) await machines.start(id)
    for (const [id, name] of [[vm, 'vm'], [ct, 'ct'], [dom, 'dom']] as const) {
      expect(await refusal(machines.start(id))).toBe(`${name} is already running`)
      expect(await refusal(machines.resume(id))).toBe(`${name} is not paused`)
      expect(await refusal(machines.remove(id, { deleteImages: false }))).toBe(`Stop ${name} before deleting it`)
      expect(await refusal(machines.updateSpec(id, machines.get(id).spec))).toBe(`Stop ${name} before changing its settings`)
    }
    expect([...qemu.calls, ...nspawn.calls, ...xen.calls]).toEqual([`start ${vm}`, `start ${ct}`, `start ${dom}`])
  })

  it('asks only the kinds that have it for a reboot, a shell, drives or a screen', async () => {
    const { machines, vm, ct, dom, xen } = await service()
    await machines.start(vm)
    await machines.start(dom)
    expect(await refusal(machines.reboot(vm))).toBe('vm cannot be rebooted from Berth: stop and start it')
    await machines.reboot(dom)
    expect(xen.calls).toContain(`reboot ${dom}`)
    expect(await refusal(machines.openShell(vm, {} as never))).toBe('vm is a virtual machine: use its console')
    expect(await refusal(machines.detach(ct, 'dabcdef'))).toMatch(/^ct has no drives or discs Berth attaches/)
    expect(() => machines.displaySocket(dom)).toThrow('dom has no screen: it uses the serial console only')
  })

  it("refuses a network link another machine already names (an extra veth's name is its name on the host)", async () => {
    const { machines } = await service()
    const spec = (name: string) => machineSpecSchema.parse({ kind: 'nspawn', name, root: `/var/lib/machines/${name}`, privateNetwork: true, extraVeths: [{ name: 'vx-lan' }] })
    await machines.create(spec('lan-a'))
    const refused = await machines.create(spec('lan-b')).then(() => null, (e: BerthError) => e.details)
    expect(refused).toEqual({ fields: { 'extraVeths.0.name': 'lan-a already has a network link named vx-lan on this host: choose another name' } })
  })

  it('a stop of a stopped machine is done at once; a machine whose state is unknown says so', async () => {
    const { machines, vm, dom, qemu, xen } = await service()
    expect((await machines.stop(vm, { force: false, timeoutSec: 1 })).state).toBe('stopped')
    expect(qemu.calls).toEqual([])
    xen.set(dom, 'unknown')
    expect(await refusal(machines.start(dom))).toBe('The state of dom is not known (is its host reachable?): try again once it is')
    await machines.remove(dom, { deleteImages: false }) // a Xen domain on an unreachable host can be forgotten
    expect(xen.calls).toEqual([`forget ${dom}`])
  })
})
