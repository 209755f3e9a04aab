// The copies a Xen clone makes, on real files through this computer's connection (the same argv a
// Xen host runs over SSH).
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { xenSpecSchema, type XenSpecInput } from '../../../../shared/model/xen'
import type { BerthError } from '../../../../shared/errors'
import { LocalConnection } from '../../hosts/local-connection'
import { cloneDomain, cloneMac } from './clone'

let dir = ''
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-xen-clone-'))
  writeFileSync(join(dir, 'web.img'), 'root disk')
  writeFileSync(join(dir, 'data.qcow2'), 'data disk')
  writeFileSync(join(dir, 'shared.img'), 'read-only')
  writeFileSync(join(dir, 'install.iso'), 'cd')
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const spec = (extra: Partial<XenSpecInput> = {}) =>
  xenSpecSchema.parse({
    kind: 'xen',
    name: 'web',
    host: 'local',
    memoryMiB: 256,
    vcpus: 1,
    kernel: '/boot/vmlinuz',
    disks: [
      { target: join(dir, 'web.img'), vdev: 'xvda' },
      { target: join(dir, 'data.qcow2'), format: 'qcow2', vdev: 'xvdb' },
      { target: join(dir, 'shared.img'), vdev: 'xvdc', access: 'ro' },
      { target: join(dir, 'install.iso'), vdev: 'xvdd', cdrom: true, access: 'ro' },
    ],
    interfaces: [{ mac: '00:16:3e:00:00:01' }, {}],
    ...extra,
  })
const failure = (promise: Promise<unknown>) => promise.then(() => null as never, (error: BerthError) => error)

describe('Xen clones', () => {
  it('copies the disks the domain writes beside them, shares the read-only ones, and gives fixed MACs new ones', async () => {
    const { spec: clone, made } = await cloneDomain(new LocalConnection(), spec(), { id: 'm0123456789', name: 'web-clone' })
    expect(made).toEqual([join(dir, 'web-clone-xvda.img'), join(dir, 'web-clone-xvdb.qcow2')])
    expect(clone.name).toBe('web-clone')
    expect(clone.disks.map((d) => d.target)).toEqual([join(dir, 'web-clone-xvda.img'), join(dir, 'web-clone-xvdb.qcow2'), join(dir, 'shared.img'), join(dir, 'install.iso')])
    expect(clone.disks.map((d) => d.format)).toEqual(['raw', 'qcow2', 'raw', 'raw'])
    expect(readFileSync(join(dir, 'web-clone-xvda.img'), 'utf8')).toBe('root disk')
    expect(readFileSync(join(dir, 'web-clone-xvdb.qcow2'), 'utf8')).toBe('data disk')
    expect(clone.interfaces[0]!.mac).toBe(cloneMac('m0123456789', 0))
    expect(clone.interfaces[0]!.mac).toMatch(/^00:16:3e:[0-7][0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$/)
    expect(clone.interfaces[1]!.mac).toBeUndefined()
    // Nothing temporary stays.
    expect(readdirSync(dir).sort()).toEqual(['data.qcow2', 'install.iso', 'shared.img', 'web-clone-xvda.img', 'web-clone-xvdb.qcow2', 'web.img'])
  })

  it('never overwrites: a file where a copy would go is refused before anything is copied', async () => {
    writeFileSync(join(dir, 'web-clone-xvdb.qcow2'), 'someone else')
    const refused = await failure(cloneDomain(new LocalConnection(), spec(), { id: 'm0123456789', name: 'web-clone' }))
    expect(refused.message).toBe(`${join(dir, 'web-clone-xvdb.qcow2')} already exists on this computer: remove it, or choose another name for the clone (its disks are named after it)`)
    expect(readFileSync(join(dir, 'web-clone-xvdb.qcow2'), 'utf8')).toBe('someone else')
    expect(readdirSync(dir)).not.toContain('web-clone-xvda.img')
  })

  it('copies image files only, and says which disk is not one', async () => {
    const device = spec({ disks: [{ target: '/dev/null', vdev: 'xvda' }] })
    expect((await failure(cloneDomain(new LocalConnection(), device, { id: 'm0123456789', name: 'c' }))).message).toBe(
      'Cannot clone web: its disk xvda is a character special file (/dev/null), and Berth copies only image files. Give the clone a disk of its own instead.',
    )
    const missing = spec({ disks: [{ target: join(dir, 'gone.img'), vdev: 'xvda' }] })
    expect((await failure(cloneDomain(new LocalConnection(), missing, { id: 'm0123456789', name: 'c' }))).message).toMatch(
      new RegExp(`^Cannot clone web: its disk xvda \\(${join(dir, 'gone.img')}\\) cannot be read on this computer: .*No such file or directory`),
    )
  })

  it("a copy that fails (the host's disk full) keeps nothing of the clone", async () => {
    const local = new LocalConnection()
    // The second copy fails as cp does on a full disk, after writing part of it.
    const full = Object.assign(Object.create(local) as LocalConnection, {
      run: async (argv: string[], options?: { timeoutMs?: number }) => {
        if (argv[0] === 'cp' && argv.includes(join(dir, 'data.qcow2'))) {
          writeFileSync(argv.at(-1)!, 'part')
          return { code: 1, stdout: '', stderr: `cp: error writing '${argv.at(-1)}': No space left on device` }
        }
        return local.run(argv, options)
      },
    })
    const failed = await failure(cloneDomain(full, spec(), { id: 'm0123456789', name: 'web-clone' }))
    expect(failed.message).toMatch(/^Copying the disk xvdb of web on this computer failed: cp: error writing .*: No space left on device\. Nothing of the clone was kept\.$/)
    expect(readdirSync(dir).sort()).toEqual(['data.qcow2', 'install.iso', 'shared.img', 'web.img'])
  })
})
