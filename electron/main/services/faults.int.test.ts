// Nothing is lost under faults: Berth killed hard with machines running, saves killed mid-write, a
// full disk, two clients at once, a guest flooding its console.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BerthError } from '../../../shared/errors'
import { createTransportPair } from '../../../shared/rpc/transport'
import { RpcClient } from '../../../shared/rpc/client'
import { machineDefinitionSchema, qemuSpecSchema } from '../../../shared/model/machine'
import { startHarness, tinyGuestSpec, watchConsole, type Harness } from '../testing/harness'
import { containerRoot, makeBusyboxRoot } from '../testing/container-root'
import { connectWebSocket, launchServe, type ServeProcess } from '../testing/serve-process'
import { removeTestHome } from '../testing/cleanup'
import { MachineStore } from '../store/machine-store'
import { heapAfterGc } from '../testing/memory'
import { containerFiles } from '../backends/nspawn/supervisor-protocol'

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('Berth killed hard (SIGKILL) while 3 VMs and 2 containers run', () => {
  let home: string
  let serve: ServeProcess | undefined
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'berth-faults-'))
  })
  afterAll(() => removeTestHome(home, [serve?.child]))

  it('they keep running, keep writing to their logs, and Berth re-attaches to every one with that output', async () => {
    serve = await launchServe(home)
    let client = await connectWebSocket(serve.url)
    const ids: { id: string; kind: 'qemu' | 'nspawn' }[] = []
    for (let i = 0; i < 3; i++) {
      const vm = await client.call('machines.create', { spec: tinyGuestSpec(`vm${i}`) })
      ids.push({ id: vm.id, kind: 'qemu' })
    }
    for (let i = 0; i < 2; i++) {
      const ct = await client.call('machines.create', {
        spec: { kind: 'nspawn', name: `ct${i}`, root: makeBusyboxRoot(join(home, 'roots', `ct${i}`)) },
      })
      ids.push({ id: ct.id, kind: 'nspawn' })
    }
    for (const { id } of ids) await client.call('machines.start', { id })
    // Each machine says something 3 s from now: Berth will be dead by then.
    for (const [i, { id, kind }] of ids.entries()) {
      const viewer = await watchConsole(client, id)
      await viewer.waitFor(kind === 'qemu' ? 'guest# ' : containerRoot.prompt, 60_000)
      viewer.type(`(sleep 3; echo while-berth-was-down-${i}-$((40+2))) &\r`)
      await viewer.waitFor(`while-berth-was-down-${i}-$((40+2))`)
    }
    const pids = ids.map(({ id, kind }) =>
      kind === 'qemu'
        ? Number(readFileSync(join(home, 'run', id, 'qemu.pid'), 'utf8'))
        : (JSON.parse(readFileSync(containerFiles(0, id).status, 'utf8')) as { supervisorPid: number }).supervisorPid,
    )
    client.close()
    serve.child.kill('SIGKILL')
    await new Promise((r) => serve!.child.once('exit', r))
    await new Promise((r) => setTimeout(r, 5000))
    expect(pids.map(alive)).toEqual([true, true, true, true, true])

    serve = await launchServe(home)
    client = await connectWebSocket(serve.url)
    const { machines } = await client.call('machines.list', {})
    expect(ids.map(({ id }) => machines.find((m) => m.id === id)?.state)).toEqual(['running', 'running', 'running', 'running', 'running'])
    for (const [i, { id }] of ids.entries()) {
      const viewer = await watchConsole(client, id)
      await viewer.waitFor(`while-berth-was-down-${i}-42`, 10_000) // in the scrollback
      viewer.type(`echo after-restart-${i}-$((1+1))\r`)
      await viewer.waitFor(`after-restart-${i}-2`) // and live again
    }
    for (const { id } of ids) await client.call('machines.stop', { id, force: true })
    client.close()
  }, 300_000)
})

describe('definitions on disk', () => {
  it('a save killed at random moments leaves the old or the new version, never a broken file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-save-'))
    const file = join(dir, 'saveloop0000.json')
    try {
      let kills = 0
      const versions = new Set<string>()
      while (kills < 40) {
        const child = spawn(process.execPath, ['--import', 'tsx', 'electron/main/testing/save-loop.ts', dir], { stdio: ['ignore', 'pipe', 'inherit'] })
        await new Promise((r) => child.stdout!.once('data', r))
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 60))
        // It saves until killed: ending by itself is a failure (its error is on stderr), not something to wait for.
        if (child.exitCode !== null) throw new Error(`save-loop ended by itself with exit code ${child.exitCode}`)
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGKILL')
        await exited
        kills++
        if (!existsSync(file)) continue // killed before the first save completed
        const definition = machineDefinitionSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
        versions.add(definition.spec.name)
      }
      expect([...versions].every((name) => name === 'version-0' || name === 'version-1')).toBe(true)
      expect(versions.size).toBeGreaterThan(0)
      const { broken } = await new MachineStore(dir).load()
      expect(broken).toEqual([])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it('a full disk: a clear error, and the old definition is kept', async () => {
    if (process.getuid?.() !== 0) throw new Error('This test mounts a small tmpfs: it runs as root (CI does)')
    const dir = mkdtempSync(join(tmpdir(), 'berth-full-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir])
    try {
      const store = new MachineStore(dir)
      const spec = qemuSpecSchema.parse(tinyGuestSpec('small'))
      const definition = { ...MachineStore.define(spec) }
      await store.save(definition)
      const before = readFileSync(store.fileOf(definition.id), 'utf8')
      writeFileSync(join(dir, 'filler'), Buffer.alloc(40 * 1024))
      const bigger = { ...definition, spec: { ...spec, extraArgs: Array.from({ length: 20 }, () => `-x${'y'.repeat(2000)}`) } }
      const error = await store.save(bigger).catch((e: BerthError) => e)
      expect((error as BerthError).message).toBe(
        `Could not save the definition of small: the disk holding ${dir} is full. The previous definition is kept; free some space and try again`,
      )
      expect(readFileSync(store.fileOf(definition.id), 'utf8')).toBe(before)
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
    } finally {
      execFileSync('umount', [dir])
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('with an in-process Berth', () => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness()
  })
  afterAll(async () => {
    await h?.cleanup()
  })

  it('two clients start one VM at once: one start wins, the other is told it already runs; both see the same state', async () => {
    const [clientSide, serverSide] = createTransportPair()
    h.server.rpc.accept(serverSide)
    const other = new RpcClient(clientSide)
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('contested') })
    const results = await Promise.allSettled([h.client.call('machines.start', { id }), other.call('machines.start', { id })])
    const won = results.filter((r) => r.status === 'fulfilled')
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(won).toHaveLength(1)
    expect(lost).toHaveLength(1)
    expect(lost[0]!.reason).toMatchObject({ code: 'conflict', message: 'contested is already running' })
    const [a, b] = await Promise.all([h.client.call('machines.list', {}), other.call('machines.list', {})])
    expect(a.machines.find((m) => m.id === id)?.state).toBe('running')
    expect(b.machines.find((m) => m.id === id)?.state).toBe('running')
    await h.client.call('machines.stop', { id, force: true })
    other.close()
  })

  it('a guest flooding its serial console: the log keeps every byte, a slow viewer slows down, memory stays bounded', async () => {
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('flood') })
    await h.client.call('machines.start', { id })
    const viewer = await watchConsole(h.client, id)
    await viewer.waitFor('guest# ')
    // A second viewer that takes 20 ms to render each chunk.
    let slowBytes = 0
    const slow = await h.client.openStream('console.open', { id }, {
      onData: (bytes) => new Promise<void>((r) => setTimeout(() => ((slowBytes += bytes.length), r()), 20)),
    })
    const heapBefore = heapAfterGc()
    const count = 60_000
    viewer.type(`seq 1 ${count}; echo flood-""done\r`)
    await viewer.waitFor('flood-done', 240_000)
    const heapGrowth = heapAfterGc() - heapBefore
    console.log(`console flood: ${count} lines; heap kept grew by ${(heapGrowth / 1e6).toFixed(1)} MB`)
    // What the viewer got live is exact: every number once, in order.
    const lines = (text: string) => text.slice(text.indexOf(`seq 1 ${count}`)).split(/\r?\n/).slice(1)
    const live = lines(viewer.text).filter((l) => /^\d+$/.test(l)).map(Number)
    expect(live.length).toBe(count)
    expect(live.every((n, i) => n === i + 1)).toBe(true)
    // The log holds exactly what the guest sent: every number once, in order, not a byte more or less.
    const log = readFileSync(join(h.home, 'data', 'machines', id, 'serial.log'), 'utf8')
    const sent = Array.from({ length: count }, (_, i) => `${i + 1}\r\n`).join('')
    const start = log.indexOf('\n', log.indexOf(`seq 1 ${count}`)) + 1
    const logged = log.slice(start, start + sent.length)
    const differs = [...sent].findIndex((c, k) => logged[k] !== c)
    expect(differs, `the log differs from what the guest sent at ${JSON.stringify(logged.slice(differs, differs + 20))}`).toBe(-1)
    expect(log.slice(start + sent.length)).toMatch(/^flood-done\r\n/)
    expect(slowBytes).toBeGreaterThan(0)
    expect(heapGrowth).toBeLessThan(32 * 1024 * 1024)
    slow.close()
    await h.client.call('machines.stop', { id, force: true })
  }, 300_000)
})
