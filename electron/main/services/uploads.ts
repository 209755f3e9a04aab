// Browser mode's drop: the file's bytes arrive over the RPC stream and land in Berth's image folder.
// They are written to a hidden .part file and only renamed to their real name once complete, so a
// cancelled or broken upload never leaves a usable-looking image behind.
import { link, mkdir, open, unlink } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, extname, join } from 'node:path'
import { BerthError } from '../../../shared/errors'
import type { StreamControl, StreamServerControl } from '../../../shared/contract'
import type { ServerStream } from '../../../shared/rpc/server'

export type UploadStream = ServerStream<StreamControl<'images.upload'>, StreamServerControl<'images.upload'>>

/** A file name that is safe to create in the image folder, whatever the browser sent. */
export function safeImageName(name: string): string {
  const cleaned = basename(name.replaceAll('\\', '/')).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '')
  return cleaned.slice(-120) || 'image'
}

/** Links the finished file under its name, never over an existing file: name.qcow2, name-1.qcow2, ... */
async function linkUnique(temp: string, dir: string, name: string): Promise<string> {
  const ext = extname(name)
  const stem = name.slice(0, name.length - ext.length)
  for (let n = 0; n < 1000; n++) {
    const target = join(dir, n === 0 ? name : `${stem}-${n}${ext}`)
    try {
      await link(temp, target)
      return target
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
  throw new BerthError('conflict', `Too many files named like ${name} in ${dir}`)
}

/**
 * accept: checks the complete file before it gets its real name, throwing the reason it is not
 * wanted (not a disk image, say): then nothing is left behind.
 */
export async function receiveUpload(
  imagesDir: string,
  input: { name: string; size: number },
  stream: UploadStream,
  accept: (path: string) => Promise<void>,
): Promise<void> {
  await mkdir(imagesDir, { recursive: true, mode: 0o700 })
  const name = safeImageName(input.name)
  const temp = join(imagesDir, `.${name}.${randomBytes(4).toString('hex')}.part`)
  const file = await open(temp, 'wx', 0o600)
  let received = 0
  let finished = false
  const discard = async () => {
    await file.close().catch(() => undefined)
    await unlink(temp).catch(() => undefined)
  }
  stream.onInput(async (bytes) => {
    if (stream.closed) return
    if (received + bytes.length > input.size) {
      stream.close({ code: 'too_large', message: `More than the announced ${input.size} bytes arrived` })
      return
    }
    await file.write(bytes)
    received += bytes.length
  })
  stream.onControl(() => {
    void (async () => {
      await stream.inputSettled()
      if (stream.closed) return
      if (received !== input.size) {
        stream.close({ code: 'failed', message: `The upload ended after ${received} of ${input.size} bytes` })
        return
      }
      try {
        await file.sync()
        await file.close()
        await accept(temp)
        const path = await linkUnique(temp, imagesDir, name)
        await unlink(temp)
        finished = true
        stream.control({ path })
        stream.close()
      } catch (error) {
        await unlink(temp).catch(() => undefined)
        const why = (error as Error).message.replaceAll(temp, input.name)
        stream.close({ code: 'invalid_input', message: why })
      }
    })()
  })
  stream.onClose(() => {
    if (!finished) void discard()
  })
}
