// A clone of a stopped Xen domain: a copy of each disk it writes, made on its Xen host beside the
// original, and new MAC addresses where the original set them. The copies run as the host's login
// (over SSH), or on this computer as the person running Berth, never through the root helper: what
// is copied is only what that account may read, and the copies are its own files (so the helper
// accepts them at start as the person's). Read-only disks and CD-ROMs are shared, as for VMs.
import { createHash } from 'node:crypto'
import { BerthError } from '../../../../shared/errors'
import { clonedDisks, type XenSpec } from '../../../../shared/model/xen'
import type { HostConnection, RunResult } from '../../hosts/connection'

const COPY_TIMEOUT_MS = 6 * 3_600_000

/** What a host's command said, for a message. */
const said = (result: RunResult) => (result.stderr || result.stdout).trim()

/** A MAC in Xen's own range (00:16:3e) that follows the clone's id and the card's place. */
export function cloneMac(id: string, card: number): string {
  const bytes = createHash('sha256').update(`${id}/${card}`).digest().subarray(0, 3)
  // Xen's OUI with the top bit of the fourth byte clear: the half xl never picks for a random MAC.
  return ['00', '16', '3e', ...[bytes[0]! & 0x7f, bytes[1]!, bytes[2]!].map((b) => b.toString(16).padStart(2, '0'))].join(':')
}

/**
 * Copies the disks the domain writes on its host and returns the clone's spec and the copies made.
 * Everything is checked before the first byte is copied; a copy is made under a temporary name and
 * linked into place only if nothing is there (never overwriting); if any copy fails, those made so
 * far are removed again.
 */
export async function cloneDomain(connection: HostConnection, spec: XenSpec, clone: { id: string; name: string }): Promise<{ spec: XenSpec; made: string[] }> {
  const where = connection.label
  const run = (argv: string[], timeoutMs = 60_000) => connection.run(argv, { timeoutMs })
  const copies = clonedDisks(spec.disks, clone.name)
  for (const { disk, target } of copies) {
    const kind = await run(['stat', '-L', '-c', '%F', '--', disk.target])
    if (kind.code !== 0) throw new BerthError('failed', `Cannot clone ${spec.name}: its disk ${disk.vdev} (${disk.target}) cannot be read on ${where}: ${said(kind)}`)
    if (!kind.stdout.startsWith('regular'))
      throw new BerthError('conflict', `Cannot clone ${spec.name}: its disk ${disk.vdev} is a ${kind.stdout.trim()} (${disk.target}), and Berth copies only image files. Give the clone a disk of its own instead.`)
    if ((await run(['test', '!', '-e', target])).code !== 0)
      throw new BerthError('conflict', `${target} already exists on ${where}: remove it, or choose another name for the clone (its disks are named after it)`)
  }
  const made: string[] = []
  try {
    for (const { disk, target } of copies) {
      const partial = `${target}.berth-partial`
      // GNU cp (a Debian dom0's) reflinks where it can and keeps holes by itself; busybox's copies plainly.
      const copied = await run(['cp', '-T', '--', disk.target, partial], COPY_TIMEOUT_MS)
      if (copied.code !== 0) {
        await run(['rm', '-f', '--', partial])
        throw new BerthError('failed', `Copying the disk ${disk.vdev} of ${spec.name} on ${where} failed: ${said(copied)}. Nothing of the clone was kept.`)
      }
      // link(2) never replaces a file: whatever appeared there meanwhile is kept, and this copy is not.
      const placed = await run(['ln', '-T', '--', partial, target])
      await run(['rm', '-f', '--', partial])
      if (placed.code !== 0) throw new BerthError('conflict', `${target} appeared on ${where} while ${spec.name}'s disk was copied: ${said(placed)}. Nothing of the clone was kept.`)
      made.push(target)
    }
  } catch (error) {
    for (const target of made) await run(['rm', '-f', '--', target]).catch(() => undefined)
    throw error
  }
  const targets = new Map(copies.map(({ disk, target }) => [disk, target]))
  return {
    spec: {
      ...spec,
      name: clone.name,
      disks: spec.disks.map((disk) => ({ ...disk, target: targets.get(disk) ?? disk.target })),
      interfaces: spec.interfaces.map((card, i) => (card.mac ? { ...card, mac: cloneMac(clone.id, i) } : card)),
    },
    made,
  }
}

/** Deletes copies Berth made on the host (a clone's disks); says which one could not go, and why. */
export async function deleteCopies(connection: HostConnection, files: string[]): Promise<void> {
  for (const file of files) {
    const result = await connection.run(['rm', '-f', '--', file], { timeoutMs: 60_000 })
    if (result.code !== 0) throw new BerthError('failed', `Could not delete ${file} on ${connection.label}: ${said(result)}`)
  }
}
