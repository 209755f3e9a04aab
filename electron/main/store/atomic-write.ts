import { open, rename, unlink } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import { randomBytes } from 'node:crypto'

/**
 * Write a file so that readers (and a crash at any moment) see the old or the new content, never
 * a mix: write a temp file in the same directory, fsync it, rename it over, fsync the directory.
 */
export async function writeFileAtomic(path: string, content: string): Promise<void> {
  const dir = dirname(path)
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const file = await open(temp, 'wx', 0o600)
  try {
    await file.writeFile(content)
    await file.sync()
  } catch (error) {
    await file.close()
    await unlink(temp).catch(() => undefined)
    throw error
  }
  await file.close()
  try {
    await rename(temp, path)
  } catch (error) {
    await unlink(temp).catch(() => undefined)
    throw error
  }
  const directory = await open(dir, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}
