// Disk images through qemu-img: the format is read from the content, never from the extension.
import { access, constants, open, stat } from 'node:fs/promises'
import { dirname, resolve, sep } from 'node:path'
import type { ImageInfo } from '../../../../shared/model/drives'
import { exec, ExecError } from '../../exec'

interface QemuImgInfo {
  filename: string
  format?: string
  'virtual-size'?: number
  'backing-filename'?: string
  'full-backing-filename'?: string
}

export async function qemuImgInfo(qemuImg: string, path: string): Promise<QemuImgInfo[]> {
  const argv = [qemuImg, 'info', '--output=json', '--force-share', '--backing-chain', '--', path]
  const result = await exec(argv, { timeoutMs: 30_000 })
  const parsed = JSON.parse(result.stdout) as QemuImgInfo[] | QemuImgInfo
  return Array.isArray(parsed) ? parsed : [parsed]
}

/** The detected format of an image that is known to be readable. */
export async function imageFormat(qemuImg: string, path: string): Promise<string> {
  const [top] = await qemuImgInfo(qemuImg, path)
  if (!top?.format) throw new Error(`qemu-img could not tell the format of ${path}`)
  return top.format
}

const signatures: [string, number[]][] = [
  ['a ZIP archive', [0x50, 0x4b, 0x03, 0x04]],
  ['a gzip archive', [0x1f, 0x8b]],
  ['an XZ archive', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46]],
  ['a PNG picture', [0x89, 0x50, 0x4e, 0x47]],
  ['an ELF program', [0x7f, 0x45, 0x4c, 0x46]],
]

/** What a raw file really holds: an ISO 9660 filesystem, another known kind of file, or nothing known. */
async function sniff(path: string): Promise<{ iso: boolean; other: string | null }> {
  const file = await open(path, 'r')
  try {
    const head = Buffer.alloc(512)
    const { bytesRead } = await file.read(head, 0, 512, 0)
    const iso = Buffer.alloc(5)
    await file.read(iso, 0, 5, 0x8001)
    if (iso.toString('latin1') === 'CD001') return { iso: true, other: null }
    for (const [kind, magic] of signatures) if (magic.every((b, i) => head[i] === b)) return { iso: false, other: kind }
    const text = head.subarray(0, bytesRead)
    const printable = text.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127))
    return { iso: false, other: bytesRead > 0 && printable ? 'a text file' : null }
  } finally {
    await file.close()
  }
}

function inside(path: string, dir: string): boolean {
  const p = resolve(path)
  const d = resolve(dir)
  return p === d || p.startsWith(d + sep)
}

export class ImageError extends Error {}

/**
 * Everything Berth needs to know before attaching a file, or an ImageError saying plainly why it
 * cannot be attached. allowedDirs: where backing files may live without the person's confirmation
 * (the image's own folder always counts).
 */
export async function inspectImage(qemuImg: string, path: string, allowedDirs: string[] = []): Promise<ImageInfo> {
  let info
  try {
    info = await stat(path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ImageError(code === 'ENOENT' ? `${path} does not exist` : `${path} cannot be read (${code})`)
  }
  if (info.isDirectory()) throw new ImageError(`${path} is a folder, not a disk image`)
  if (info.isBlockDevice() || info.isCharacterDevice()) throw new ImageError(`${path} is a device node, not an image file`)
  if (!info.isFile()) throw new ImageError(`${path} is not a regular file`)
  try {
    await access(path, constants.R_OK)
  } catch {
    throw new ImageError(`${path} cannot be read: check its permissions`)
  }
  let chain: QemuImgInfo[]
  try {
    chain = await qemuImgInfo(qemuImg, path)
  } catch (error) {
    const why = error instanceof ExecError ? error.message : String(error)
    throw new ImageError(`${path} is not a disk image qemu-img can read (${why})`)
  }
  const top = chain[0]!
  const format = top.format ?? 'raw'
  let kind: ImageInfo['kind'] = 'disk'
  if (format === 'raw') {
    const found = await sniff(path)
    if (found.other) throw new ImageError(`${path} looks like ${found.other}, not a disk image`)
    if (found.iso) kind = 'iso'
    else if (info.size < 512) throw new ImageError(`${path} is ${info.size} bytes: too small to be a disk image`)
  }
  const backingChain = chain.slice(1).map((link) => link.filename)
  const allowed = [dirname(resolve(path)), ...allowedDirs]
  const writable = await access(path, constants.W_OK).then(() => true, () => false)
  return {
    path,
    format,
    kind,
    virtualSize: top['virtual-size'] ?? info.size,
    fileSize: info.size,
    readOnly: !writable,
    backingChain,
    backingOutsideAllowed: backingChain.filter((file) => !allowed.some((dir) => inside(file, dir))),
  }
}

/** Why a path cannot be a VM's disk, or null when it can (a missing file is made at first start). */
export async function imageProblem(qemuImg: string, path: string): Promise<string | null> {
  const exists = await stat(path).then(() => true, () => false)
  if (!exists) return (await stat(dirname(path)).then((d) => d.isDirectory(), () => false)) ? null : `The folder ${dirname(path)} does not exist`
  try {
    const image = await inspectImage(qemuImg, path)
    return image.kind === 'iso' ? `${path} is an ISO image: insert it in the CD drive instead` : null
  } catch (error) {
    if (error instanceof ImageError) return error.message
    throw error
  }
}

export async function createQcow2(qemuImg: string, path: string, sizeMiB: number): Promise<void> {
  await exec([qemuImg, 'create', '-q', '-f', 'qcow2', '--', path, `${sizeMiB}M`], { timeoutMs: 60_000 })
}
