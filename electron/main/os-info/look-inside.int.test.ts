// Looking inside a disk image before a cloud-init first boot (real libguestfs, whose own small VM
// runs under TCG here: about a minute per look).
import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { useHarness } from '../testing/use-harness'
import { requireDebianGuest, requireTestGuest } from '../testing/guest'

const t = useHarness()

describe('what a disk image holds (libguestfs)', () => {
  it('finds Debian 12 and its cloud-init in the Debian cloud image', async () => {
    const contents = await t.h.client.call('media.lookInside', { path: requireDebianGuest().disk })
    expect(contents).toEqual({ system: 'Debian GNU/Linux 12 (bookworm)', cloudInit: true, note: 'cloud-init is installed' })
  }, 360_000)

  it('warns when there is no system to run cloud-init (an empty disk)', async () => {
    const empty = join(t.files, 'empty.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', empty, '64M'])
    const contents = await t.h.client.call('media.lookInside', { path: empty })
    expect(contents.cloudInit).toBe(false)
    expect(contents.note).toMatch(/No installed operating system was found on this image/)
  }, 360_000)

  it('does not follow an overlay’s backing file, and refuses what is not an image', async () => {
    const overlay = join(t.files, 'overlay.qcow2')
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', requireDebianGuest().disk, overlay])
    const contents = await t.h.client.call('media.lookInside', { path: overlay })
    expect(contents).toMatchObject({ system: null, cloudInit: null })
    expect(contents.note).toMatch(/is an overlay on .*debian-12\.qcow2: choose that base image/)
    const iso = await t.h.client.call('media.lookInside', { path: requireTestGuest().installer })
    expect(iso.note).toMatch(/is an ISO image, not a disk with an installed system/)
    await expect(t.h.client.call('media.lookInside', { path: join(t.files, 'missing.qcow2') })).rejects.toThrow()
  })
})
