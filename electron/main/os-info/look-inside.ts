// What system a disk image holds, and whether it has cloud-init, read by libguestfs: the image is
// opened inside libguestfs's own small VM (never mounted on this host), read-only, in the format
// Berth read it as. A first-boot setting (cloud-init) on an image without cloud-init would be
// silently ignored by the guest: the wizard warns instead.
import { exec, ExecError } from '../exec'
import type { ImageInfo } from '../../../shared/model/drives'
import type { ImageContents } from '../../../shared/model/os-info'
import { libguestfsEnv } from './libguestfs'

const GUESTFISH = '/usr/bin/guestfish'
/** Under TCG, libguestfs's VM takes about a minute to start and look. */
const TIMEOUT_MS = 5 * 60_000
/** Every cloud-init, packaged or from pip, has its configuration here. */
const CLOUD_CFG = '/etc/cloud/cloud.cfg'

/** kvm: whether Berth found KVM working (libguestfs.ts). */
export async function lookInside(image: ImageInfo, kvm: boolean): Promise<ImageContents> {
  if (image.kind === 'iso') return { system: null, cloudInit: false, note: `${image.path} is an ISO image, not a disk with an installed system` }
  // A backing file would be opened as the image's header says: Berth decides how files are opened.
  if (image.backingChain.length > 0) return { system: null, cloudInit: null, note: `${image.path} is an overlay on ${image.backingChain[0]!.file}: choose that base image to look inside` }
  const argv = [GUESTFISH, '--ro', `--format=${image.format}`, '-a', image.path, '-i', 'is-file', CLOUD_CFG, ':', 'cat', '/etc/os-release']
  try {
    const { stdout } = await exec(argv, { timeoutMs: TIMEOUT_MS, env: libguestfsEnv(kvm) })
    const [found, ...release] = stdout.split('\n')
    const system = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release.join('\n'))?.[1] ?? null
    const cloudInit = found?.trim() === 'true'
    return { system, cloudInit, note: cloudInit ? 'cloud-init is installed' : 'This image has no cloud-init: the host name, user and keys below would not be set' }
  } catch (error) {
    if (!(error instanceof ExecError)) throw error
    if (error.result && /no operating system was found/.test(error.result.stderr))
      return { system: null, cloudInit: false, note: 'No installed operating system was found on this image, so nothing would apply the first-boot settings' }
    return { system: null, cloudInit: null, note: `Could not look inside the image: ${error.message}` }
  }
}
