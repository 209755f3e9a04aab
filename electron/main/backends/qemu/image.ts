// Disk images through qemu-img: the format is detected from the content, never from the extension.
import { open, stat } from 'node:fs/promises'
import { exec, ExecError } from '../../exec'

export interface ImageInfo {
  format: string
  virtualSize: number
  backingFile: string | null
}

export async function inspectImage(qemuImg: string, path: string): Promise<ImageInfo> {
  const result = await exec([qemuImg, 'info', '--output=json', '--force-share', '--', path], { timeoutMs: 30_000 })
  const info = JSON.parse(result.stdout) as { format?: string; 'virtual-size'?: number; 'backing-filename'?: string }
  if (!info.format) throw new Error(`qemu-img could not tell the format of ${path}`)
  return { format: info.format, virtualSize: info['virtual-size'] ?? 0, backingFile: info['backing-filename'] ?? null }
}

/**
 * Why a path cannot be used as a disk image, or null when it can. Files qemu-img only sees as
 * "raw" are accepted when they are at least a sector long and not a known non-image format.
 */
export async function imageProblem(qemuImg: string, path: string): Promise<string | null> {
  let info
  try {
    info = await stat(path)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? null : `Cannot read ${path}`
  }
  if (info.isDirectory()) return `${path} is a directory, not a disk image`
  if (!info.isFile()) return `${path} is not a regular file`
  try {
    const image = await inspectImage(qemuImg, path)
    if (image.format === 'raw') {
      const kind = await sniffNonImage(path)
      if (kind) return `${path} looks like ${kind}, not a disk image`
      if (info.size < 512) return `${path} is ${info.size} bytes: too small to be a disk image`
    }
    return null
  } catch (error) {
    const why = error instanceof ExecError ? error.message : String(error)
    return `${path} is not a disk image qemu-img can read (${why})`
  }
}

const signatures: [string, number[]][] = [
  ['a ZIP archive', [0x50, 0x4b, 0x03, 0x04]],
  ['a gzip archive', [0x1f, 0x8b]],
  ['an XZ archive', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46]],
  ['a PNG picture', [0x89, 0x50, 0x4e, 0x47]],
  ['an ELF program', [0x7f, 0x45, 0x4c, 0x46]],
]

async function sniffNonImage(path: string): Promise<string | null> {
  const file = await open(path, 'r')
  try {
    const head = Buffer.alloc(512)
    const { bytesRead } = await file.read(head, 0, 512, 0)
    for (const [kind, magic] of signatures) if (magic.every((b, i) => head[i] === b)) return kind
    const text = head.subarray(0, bytesRead)
    if (bytesRead > 0 && text.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127))) return 'a text file'
    return null
  } finally {
    await file.close()
  }
}

export async function createQcow2(qemuImg: string, path: string, sizeMiB: number): Promise<void> {
  await exec([qemuImg, 'create', '-q', '-f', 'qcow2', '--', path, `${sizeMiB}M`], { timeoutMs: 60_000 })
}
