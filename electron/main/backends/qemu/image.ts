// Disk images through qemu-img: the format is read from the content, never from the extension, once,
// when a person chooses the file; from then on it is recorded and stated to QEMU, never probed again.
import { access, constants, open, realpath, stat } from 'node:fs/promises'
import { dirname, resolve, sep } from 'node:path'
import { imageFormats, layeredFormats, type ImageInfo, type ImageLink } from '../../../../shared/model/drives'
import { exec, ExecError } from '../../exec'
import { qemuOptionValue } from './argv'

interface QemuImgInfo {
  filename: string
  format?: string
  'virtual-size'?: number
  'backing-filename'?: string
  'full-backing-filename'?: string
  'backing-filename-format'?: string
  'format-specific'?: { type?: string; data?: { 'data-file'?: string } }
}

/** Longest backing chain Berth follows (qemu-img's own limit is deeper; no real chain is). */
const MAX_CHAIN = 16

/** One image's header, read by qemu-img without opening its backing file. */
export async function qemuImgInfo(qemuImg: string, path: string, format?: string): Promise<QemuImgInfo> {
  const argv = [qemuImg, 'info', '--output=json', '--force-share', ...(format ? ['-f', format] : []), '--', path]
  const result = await exec(argv, { timeoutMs: 30_000 })
  return JSON.parse(result.stdout) as QemuImgInfo
}

/**
 * A backing or data file name that is not a plain file path (nbd://, ssh:, json:{...}, host_device:)
 * would make QEMU connect out or open a device: refused before anything follows it.
 */
export function unsafeFileName(name: string): boolean {
  return name.startsWith('json:') || /^[A-Za-z][A-Za-z0-9+._-]*:/.test(name)
}

/**
 * The image and its backing files, top first, each read on its own so that no link is followed before
 * it is checked: protocol and json: names are refused, as are external data files (a qcow2 whose data
 * lives in another file, which QEMU would open read-write).
 */
export async function backingChain(qemuImg: string, path: string): Promise<QemuImgInfo[]> {
  const chain = [await qemuImgInfo(qemuImg, path)]
  for (;;) {
    const link = chain.at(-1)!
    const dataFile = link['format-specific']?.data?.['data-file']
    if (dataFile)
      throw new ImageError(`${link.filename} keeps its data in another file (${dataFile}): Berth does not open images with an external data file`)
    const next = backingOf(link)
    if (!next) return chain
    if (chain.length >= MAX_CHAIN) throw new ImageError(`${path} has more than ${MAX_CHAIN} backing files`)
    chain.push(await qemuImgInfo(qemuImg, next, link['backing-filename-format']))
  }
}

/** The backing file an image's header names, as a path; protocol and json: names are refused. */
function backingOf(link: QemuImgInfo): string | null {
  const backing = link['backing-filename']
  if (!backing) return null
  if (unsafeFileName(backing))
    throw new ImageError(`${link.filename} names ${backing.slice(0, 200)} as its backing file: only plain files are allowed, never network or json: backing files`)
  return link['full-backing-filename'] ?? resolve(dirname(link.filename), backing)
}

/**
 * Why an image's backing chain is no longer the one Berth recorded (someone rebased, committed or
 * replaced a file), or null when every header still names the recorded next file. Each file is read
 * as its recorded format, so no header is trusted to say how to open the next one.
 */
export async function chainProblem(qemuImg: string, top: ImageLink, backing: ImageLink[]): Promise<string | null> {
  const links = [top, ...backing]
  for (const [i, link] of links.entries()) {
    const expected = links[i + 1]?.file ?? null
    let named: string | null = null
    if (layeredFormats.has(link.format)) {
      const info = await qemuImgInfo(qemuImg, link.file, link.format).catch((error: Error) => {
        throw new ImageError(`${link.file} cannot be read as ${link.format} any more (${error.message})`)
      })
      if (info['format-specific']?.data?.['data-file']) return `${link.file} now keeps its data in another file`
      named = backingOf(info)
    }
    if (named !== expected)
      return named
        ? `${link.file} now names ${named} as its backing file, not ${expected ?? 'none'} as when it was added`
        : `${link.file} no longer names ${expected} as its backing file`
  }
  return null
}

/** A format qemu-img reported, as one Berth opens. */
function knownFormat(path: string, format: string | undefined): ImageLink['format'] {
  const found = format ?? 'raw'
  if (!(imageFormats as readonly string[]).includes(found)) throw new ImageError(`${path} is a ${found} image, which Berth does not open`)
  return found as ImageLink['format']
}

/**
 * The format a file's header claims. A raw disk is the guest's to write, so its header is read here,
 * by Berth, without qemu-img: qemu-img would open the data file such a header names. The formats that
 * can name other files (qcow2, qed, vmdk) are recognised by their magic; any other file is asked of
 * qemu-img, whose header only the host can have written.
 */
export async function probeFormat(qemuImg: string, path: string, recorded: string): Promise<string> {
  if (recorded === 'raw') {
    const file = await open(path, 'r')
    try {
      const head = Buffer.alloc(32)
      await file.read(head, 0, 32, 0)
      const text = head.toString('latin1')
      if (text.startsWith('QFI\xfb')) return 'qcow2'
      if (text.startsWith('QED\0')) return 'qed'
      if (text.startsWith('KDMV') || text.startsWith('# Disk DescriptorFile')) return 'vmdk'
      return 'raw'
    } finally {
      await file.close()
    }
  }
  const top = await qemuImgInfo(qemuImg, path)
  if (!top.format) throw new Error(`qemu-img could not tell the format of ${path}`)
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

/** Compared as real paths: a symlink or .. cannot make a file outside look inside. */
async function inside(path: string, dir: string): Promise<boolean> {
  const [p, d] = await Promise.all([realpath(path).catch(() => resolve(path)), realpath(dir).catch(() => resolve(dir))])
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
    chain = await backingChain(qemuImg, path)
  } catch (error) {
    if (error instanceof ImageError) throw error
    const why = error instanceof ExecError ? error.message : String(error)
    throw new ImageError(`${path} is not a disk image qemu-img can read (${why})`)
  }
  const top = chain[0]!
  const format = knownFormat(path, top.format)
  let kind: ImageInfo['kind'] = 'disk'
  if (format === 'raw') {
    const found = await sniff(path)
    if (found.other) throw new ImageError(`${path} looks like ${found.other}, not a disk image`)
    if (found.iso) kind = 'iso'
    else if (info.size < 512) throw new ImageError(`${path} is ${info.size} bytes: too small to be a disk image`)
  }
  const backing = chain.slice(1).map((link) => ({ file: link.filename, format: knownFormat(link.filename, link.format) }))
  const allowed = [dirname(resolve(path)), ...allowedDirs]
  const writable = await access(path, constants.W_OK).then(() => true, () => false)
  return {
    path,
    format,
    kind,
    virtualSize: top['virtual-size'] ?? info.size,
    fileSize: info.size,
    readOnly: !writable,
    backingChain: backing,
    backingOutsideAllowed: await outside(backing.map((link) => link.file), allowed),
  }
}

async function outside(files: string[], dirs: string[]): Promise<string[]> {
  const found = []
  for (const file of files) {
    let allowed = false
    for (const dir of dirs) allowed ||= await inside(file, dir)
    if (!allowed) found.push(file)
  }
  return found
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

/**
 * qemu-img's --image-opts for an image Berth recorded: its format stated, and its backing chain as
 * recorded (none by default) and nothing beyond, so the image's header never chooses what else is opened.
 */
export function imageOpts(image: ImageLink, backing: ImageLink[] = []): string {
  const chain = [image, ...backing]
  return chain
    .flatMap((link, depth) => {
      const at = 'backing.'.repeat(depth)
      const last = depth === chain.length - 1
      return [`${at}driver=${link.format}`, `${at}file.driver=file`, `${at}file.filename=${qemuOptionValue(link.file)}`, ...(last && layeredFormats.has(link.format) ? [`${at}backing=`] : [])]
    })
    .join(',')
}
