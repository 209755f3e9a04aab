// Root's own state: its folders, and its records of what the helper made (links, Xen domains) so that
// it acts only on those: JSON, read without following a link, replaced atomically.
import { chmodSync, closeSync, constants, lstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { Refusal } from './refusal'

/** A folder of root's that users may pass through to what is theirs (0711): made, or checked to be exactly that. */
export function rootFolder(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o711 })
  const info = lstatSync(dir)
  if (info.isSymbolicLink() || !info.isDirectory() || info.uid !== 0) throw new Refusal(`${dir} is not a folder of root's: the helper will not keep its state there`)
  chmodSync(dir, 0o711)
}

export function readRecord<T extends object>(file: string, empty: T): T {
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      return { ...empty, ...(JSON.parse(readFileSync(fd, 'utf8')) as Partial<T>) }
    } finally {
      closeSync(fd)
    }
  } catch {
    return empty
  }
}

export function updateRecord<T extends object>(file: string, empty: T, change: (record: T) => T): void {
  const temp = `${file}.${process.pid}.tmp`
  writeFileSync(temp, JSON.stringify(change(readRecord(file, empty))), { mode: 0o600 })
  renameSync(temp, file)
}
