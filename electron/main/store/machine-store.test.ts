import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MachineStore } from './machine-store'
import { qemuSpecSchema, type MachineSpec } from '../../../shared/model/machine'

const spec: MachineSpec = qemuSpecSchema.parse({
  kind: 'qemu',
  name: 'web',
  memoryMiB: 512,
  cores: 1,
  boot: { type: 'kernel', kernel: '/boot/vmlinuz' },
})

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-store-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('MachineStore', () => {
  it('saves one JSON file per machine and loads it back', async () => {
    const store = new MachineStore(dir)
    const definition = MachineStore.define(spec)
    await store.save(definition)
    expect(await readdir(dir)).toEqual([`${definition.id}.json`])
    const { definitions, broken } = await store.load()
    expect(broken).toEqual([])
    expect(definitions).toEqual([definition])
  })

  it('reports corrupt files with their path and reason, and still loads the rest', async () => {
    const store = new MachineStore(dir)
    const good = MachineStore.define(spec)
    await store.save(good)
    await writeFile(join(dir, 'aaaaaaaaaaaa.json'), '{"version": 1, "id": "aaaaaaaaaaaa", ')
    await writeFile(join(dir, 'bbbbbbbbbbbb.json'), JSON.stringify({ ...good, id: 'bbbbbbbbbbbb', spec: { ...spec, memoryMiB: -5 } }))
    await writeFile(join(dir, 'cccccccccccc.json'), JSON.stringify({ ...good }))
    const { definitions, broken } = await store.load()
    expect(definitions.map((d) => d.id)).toEqual([good.id])
    expect(broken).toHaveLength(3)
    expect(broken[0]).toMatchObject({ file: join(dir, 'aaaaaaaaaaaa.json') })
    expect(broken[0]!.reason).toMatch(/not valid JSON/)
    expect(broken[1]!.reason).toMatch(/spec\.memoryMiB: At least 16 MiB/)
    expect(broken[2]!.reason).toMatch(/does not match the file name/)
  })

  it('replaces a definition atomically and leaves no temporary files', async () => {
    const store = new MachineStore(dir)
    const definition = MachineStore.define(spec)
    await store.save(definition)
    await store.save({ ...definition, spec: { ...spec, memoryMiB: 1024 } })
    expect(await readdir(dir)).toEqual([`${definition.id}.json`])
    expect(JSON.parse(await readFile(store.fileOf(definition.id), 'utf8')).spec.memoryMiB).toBe(1024)
  })

  it('ids are 12 lowercase letters and digits', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => MachineStore.define(spec).id))
    expect(ids.size).toBe(1000)
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]{12}$/)
  })
})
