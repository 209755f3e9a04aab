// Growing a VM's disk: the image (qemu-img resize while stopped, block_resize while running), then, when
// the guest agent answers, the partition and the filesystem on it inside the guest (growpart, then
// resize2fs, xfs_growfs or btrfs), each a step the person watches. Shrinking is refused: it would cut
// off whatever the guest keeps at the end of the disk.
import { basename } from 'node:path'
import { BerthError, fieldErrors } from '../../../../shared/errors'
import type { GrowStep, ImageLink } from '../../../../shared/model/drives'
import { exec } from '../../exec'
import { imageOpts, qemuImgInfo } from './image'
import { guestFilesystems, guestRun, type GuestFilesystem } from './guest-agent'

const MiB = 1024 * 1024
/** Formats qemu-img and QEMU can grow in place. */
export const growableFormats: ReadonlySet<string> = new Set(['raw', 'qcow2', 'qed'])

/** The person-facing size of a byte count. */
export const sizeText = (bytes: number) => (bytes >= 10 * 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(1)} GiB` : `${Math.round(bytes / MiB)} MiB`)

/** Why a disk of this size cannot be made sizeMiB (null: it can). */
export function sizeRefusal(size: number, sizeMiB: number): BerthError | null {
  const wanted = sizeMiB * MiB
  if (wanted < size)
    return fieldErrors(
      { sizeMiB: `At least ${Math.ceil(size / MiB)} MiB: disks only grow` },
      `The disk is ${sizeText(size)}; it cannot shrink to ${sizeText(wanted)} (that would cut off what the guest keeps at its end). Berth only grows disks.`,
    )
  if (wanted === size) return fieldErrors({ sizeMiB: `Larger than ${Math.ceil(size / MiB)} MiB` }, `The disk is already ${sizeText(size)}`)
  return null
}

/** Why the image cannot grow at all (null: it can). */
export function growableProblem(image: ImageLink & { readOnly: boolean }): string | null {
  if (image.readOnly) return `${image.file} is attached read-only`
  if (!growableFormats.has(image.format)) return `Berth grows raw, qcow2 and qed images; ${image.file} is ${image.format}: convert it to qcow2 first (qemu-img convert -O qcow2)`
  return null
}

/** The image's size now, read without taking QEMU's lock, after the checks every growth passes. */
export async function checkGrowth(qemuImg: string, image: ImageLink & { readOnly: boolean }, sizeMiB: number): Promise<number> {
  const problem = growableProblem(image)
  if (problem) throw new BerthError('invalid_input', `This disk cannot grow: ${problem}`)
  const size = (await qemuImgInfo(qemuImg, image.file, image.format))['virtual-size'] ?? 0
  const refusal = sizeRefusal(size, sizeMiB)
  if (refusal) throw refusal
  return size
}

/**
 * A stopped VM's image, grown by qemu-img.
 */
export async function growImage(qemuImg: string, image: ImageLink, bytes: number): Promise<void> {
  await exec([qemuImg, 'resize', '--image-opts', imageOpts(image), String(bytes)], { timeoutMs: 120_000 })
}

/** Tracks the steps and hands the whole list to the watcher at every change. */
export class GrowSteps {
  readonly list: GrowStep[] = []
  constructor(private readonly onChange: (steps: GrowStep[]) => void) {}

  add(title: string): GrowStep {
    const step: GrowStep = { title, state: 'waiting', detail: null }
    this.list.push(step)
    this.emit()
    return step
  }

  set(step: GrowStep, state: GrowStep['state'], detail: string | null = null): void {
    step.state = state
    step.detail = detail
    this.emit()
  }

  /** Runs one step; its failure is shown on it and ends the growth. */
  async run<T>(step: GrowStep, work: () => Promise<T>, detail?: (result: T) => string | null): Promise<T> {
    this.set(step, 'running')
    try {
      const result = await work()
      this.set(step, 'done', detail?.(result) ?? null)
      return result
    } catch (error) {
      this.set(step, 'failed', error instanceof Error ? error.message : String(error))
      throw error
    }
  }

  private emit(): void {
    this.onChange(this.list.map((step) => ({ ...step })))
  }
}

/** How the guest's disk is recognised among the agent's: by serial number, else by its PCI address. */
export interface GuestDiskKey {
  serial: string | null
  pci: { bus: number; slot: number; function: number } | null
}

const onDisk = (fs: GuestFilesystem, key: GuestDiskKey) =>
  fs.disks.some((d) => (key.serial ? d.serial === key.serial : key.pci !== null && d.busType === 'virtio' && d.pci.bus === key.pci.bus && d.pci.slot === key.pci.slot && d.pci.function === key.pci.function))

/**
 * Which partition of which disk a filesystem's device is (vdb1 → vdb, 1; nvme0n1p2 → nvme0n1, 2); null: a
 * whole disk. Where the agent does not name the disk (no udev in the guest, or it names the partition), the
 * kernel's naming tells.
 */
export function partitionOf(name: string, disk: string | null): { disk: string; partition: number } | null {
  if (name === disk) return null
  const match = disk === null
    ? /^((?:[shv]d|xvd)[a-z]+|(?:nvme\d+n\d+|mmcblk\d+)p)(\d+)$/.exec(name)
    : name.startsWith(disk) ? /^()p?(\d+)$/.exec(name.slice(disk.length)) : null
  if (match) return { disk: disk ?? match[1]!.replace(/(\d)p$/, '$1'), partition: Number(match[2]) }
  if (disk === null && /^((?:[shv]d|xvd)[a-z]+|nvme\d+n\d+|mmcblk\d+)$/.test(name)) return null
  throw new BerthError('failed', `${name} is not a partition of ${disk ?? 'a disk'} (LVM or RAID?): grow it in the guest`)
}

/** The program that grows each filesystem type online, as argv. */
function growFilesystemArgv(fs: GuestFilesystem): [string, ...string[]] | null {
  if (/^ext[234]$/.test(fs.type)) return ['resize2fs', `/dev/${fs.name}`]
  if (fs.type === 'xfs') return ['xfs_growfs', fs.mountpoint]
  if (fs.type === 'btrfs') return ['btrfs', 'filesystem', 'resize', 'max', fs.mountpoint]
  return null
}

/** Inside the running guest: every mounted filesystem on the grown disk takes the new space. */
export async function growInGuest(agentSocket: string, key: GuestDiskKey, steps: GrowSteps): Promise<void> {
  const find = steps.add('Find the disk’s filesystems in the guest')
  if (!key.serial && !key.pci) {
    steps.set(find, 'skipped', 'Berth finds a disk in the guest by its serial number or, on virtio, its PCI address: give the disk a serial number, or grow its filesystem in the guest')
    return
  }
  let filesystems: GuestFilesystem[]
  try {
    steps.set(find, 'running')
    filesystems = (await guestFilesystems(agentSocket)).filter((fs) => onDisk(fs, key))
  } catch (error) {
    steps.set(find, 'skipped', `${error instanceof Error ? error.message : String(error)}. The disk is bigger; grow its partition and filesystem in the guest.`)
    return
  }
  steps.set(find, 'done', filesystems.length ? filesystems.map((fs) => `${fs.type} on ${fs.mountpoint} (/dev/${fs.name})`).join(', ') : 'None mounted: nothing more to grow')
  for (const fs of filesystems) {
    const agentDev = fs.disks.find((d) => d.dev)?.dev
    let part: ReturnType<typeof partitionOf>
    try {
      // The agent's dev is the filesystem's own node on some versions, the disk's on others.
      const agentDisk = agentDev && basename(agentDev) !== fs.name ? basename(agentDev) : null
      part = partitionOf(fs.name, agentDisk)
    } catch (error) {
      steps.set(steps.add(`Grow the ${fs.type} filesystem on ${fs.mountpoint}`), 'skipped', (error as Error).message)
      continue
    }
    if (part) {
      const dev = `/dev/${part.disk}`
      const partition = part.partition
      const step = steps.add(`Grow partition ${partition} of ${dev}`)
      await steps.run(step, async () => {
        const run = await guestRun(agentSocket, ['growpart', dev, String(partition)], 60_000).catch((error: Error) => {
          throw new BerthError('failed', `${error.message} (growpart comes with cloud-guest-utils in the guest)`)
        })
        // growpart says NOCHANGE (exit 1) when the partition already ends at the disk's end.
        if (run.exitCode !== 0 && !run.output.includes('NOCHANGE')) throw new BerthError('failed', `growpart failed: ${run.output}`)
        return run.output.split('\n').at(-1) ?? ''
      }, (line) => line)
    }
    const argv = growFilesystemArgv(fs)
    const step = steps.add(`Grow the ${fs.type} filesystem on ${fs.mountpoint}`)
    if (!argv) {
      steps.set(step, 'skipped', `Berth grows ext4, XFS and Btrfs; grow ${fs.type} in the guest`)
      continue
    }
    const before = fs.totalBytes
    await steps.run(step, async () => {
      const run = await guestRun(agentSocket, argv, 300_000)
      if (run.exitCode !== 0) throw new BerthError('failed', `${argv[0]} failed: ${run.output}`)
      const after = (await guestFilesystems(agentSocket)).find((f) => f.mountpoint === fs.mountpoint)?.totalBytes ?? null
      return before !== null && after !== null ? `${sizeText(before)} → ${sizeText(after)}` : null
    }, (detail) => detail)
  }
}
