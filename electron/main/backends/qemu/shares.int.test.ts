// A host folder shared over 9p with the real test guest: reads both ways.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { BerthError } from '../../../../shared/errors'
import { mountCommand } from '../../../../shared/model/shares'
import { startHarness, tinyGuestSpec, watchConsole, type Harness } from '../../testing/harness'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

describe('shared folders over 9p (real QEMU)', () => {
  it('the guest mounts the share, reads a host file, and its writes appear on the host', async () => {
    const folder = join(h.home, 'shared')
    mkdirSync(folder)
    writeFileSync(join(folder, 'from-host.txt'), 'written on the host\n')
    const share = { tag: 'data', source: folder, target: '/mnt/data', securityModel: 'none' as const, msize: 262144 }
    const { id } = await h.client.call('machines.create', { spec: tinyGuestSpec('shares', { sharedDirectories: [share] }) })
    await h.client.call('machines.start', { id })
    const guest = await watchConsole(h.client, id)
    await guest.waitFor(/guest# /)
    guest.type(`mkdir -p /mnt/data && ${mountCommand(share)} && cat /mnt/data/from-host.txt\r`)
    await guest.waitFor(/\nwritten on the host/)
    guest.type('echo written in the guest > /mnt/data/from-guest.txt; sync; echo wr""ote\r')
    await guest.waitFor(/\nwrote/)
    for (let i = 0; i < 50 && !existsSync(join(folder, 'from-guest.txt')); i++) await new Promise((r) => setTimeout(r, 100))
    expect(readFileSync(join(folder, 'from-guest.txt'), 'utf8')).toBe('written in the guest\n')
    await h.client.call('machines.stop', { id, force: true })
  })

  it('refuses a share that is a file, a missing folder, a duplicate tag and msize over the cap', async () => {
    const file = join(h.home, 'a-file')
    writeFileSync(file, 'x')
    const share = (over: object) => ({ tag: 't1', source: h.home, target: '/mnt/x', ...over })
    const create = (sharedDirectories: object[]) =>
      h.client
        .call('machines.create', { spec: tinyGuestSpec('bad-share', { sharedDirectories: sharedDirectories as never }) })
        .then(
          () => ({}),
          (e: unknown) => ((e as BerthError).details as { fields: Record<string, string> }).fields,
        )
    expect(await create([share({ source: file })])).toEqual({ 'sharedDirectories.0.source': `${file} is a file: share a folder` })
    expect(await create([share({ source: '/nonexistent/folder' })])).toEqual({ 'sharedDirectories.0.source': '/nonexistent/folder does not exist' })
    expect(await create([share({}), share({ target: '/mnt/y' })])).toEqual({
      'spec.sharedDirectories.1.tag': 'The tag t1 is used twice: tags must be unique',
    })
    expect(await create([share({ msize: 1048576 })])).toEqual({
      'spec.sharedDirectories.0.msize': 'At most 512000: QEMU caps msize there',
    })
  })
})
