// The disks of a clone of a stopped VM: copies (qemu-img convert: sparse, flattened, without the
// original's snapshots, as qcow2 so the clone can have snapshots), or linked: a qcow2 overlay whose
// backing file is the original's image, made at once and small, but the original's image must stay.
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { exec } from '../../exec'
import type { ImageLink } from '../../../../shared/model/drives'
import { imageOpts, qemuImgInfo } from './image'
import { libguestfsEnv } from '../../os-info/libguestfs'

export interface CloneOptions {
  /** Overlays on the original's disks instead of copies. */
  linked: boolean
  /** The UEFI variables and TPM state: the original's copied, or fresh ones made at the first start. */
  firmwareState: 'copy' | 'fresh'
  /** Made from this snapshot of the original (its disks and settings then), always as a full copy. */
  snapshot: string | null
  /** A Linux guest's own identity made anew on the clone's disk (newIdentity below). */
  newIdentity: boolean
}

const SSH_KEYGEN = '/usr/bin/ssh-keygen'
const VIRT_SYSPREP = '/usr/bin/virt-sysprep'

/**
 * A cloned Linux system's own identity, so that clones do not collide on a network: virt-sysprep
 * (libguestfs's own small VM opens the disk, never this host) empties its machine-id (systemd makes a
 * new one at boot) and writes SSH host keys made here, by the host's ssh-keygen, over the copied ones.
 * work: a folder of Berth's for the keys while they are made, removed after.
 */
export async function newIdentity(disk: string, work: string, kvm: boolean): Promise<void> {
  try {
    await mkdir(join(work, 'etc', 'ssh'), { recursive: true, mode: 0o700 })
    await exec([SSH_KEYGEN, '-A', '-f', work], { timeoutMs: 120_000 })
    await exec([VIRT_SYSPREP, '--quiet', '--format', 'qcow2', '-a', disk, '--operations', 'machine-id,customize', '--copy-in', `${join(work, 'etc', 'ssh')}:/etc`], {
      timeoutMs: 15 * 60_000,
      env: libguestfsEnv(kvm),
    })
  } finally {
    // The keys now live in the clone's disk only.
    await rm(work, { recursive: true, force: true })
  }
}

/** A whole copy of the image read through its recorded backing chain, as it is or as an internal snapshot of it kept it. */
export async function copyImage(qemuImg: string, image: ImageLink, backing: ImageLink[], target: string, snapshot: string | null = null): Promise<void> {
  const at = snapshot === null ? [] : ['-l', `snapshot.name=${snapshot}`]
  await exec([qemuImg, 'convert', '-q', ...at, '--image-opts', imageOpts(image, backing), '-O', 'qcow2', target], { timeoutMs: 3_600_000 })
}

/** A qcow2 overlay on the image, its format stated; the image is not opened (-u), its size read as recorded. */
export async function linkImage(qemuImg: string, image: ImageLink, target: string): Promise<void> {
  const size = (await qemuImgInfo(qemuImg, image.file, image.format))['virtual-size']
  if (!size) throw new Error(`qemu-img could not read the size of ${image.file}`)
  await exec([qemuImg, 'create', '-q', '-f', 'qcow2', '-u', '-b', image.file, '-F', image.format, target, String(size)], { timeoutMs: 60_000 })
}
