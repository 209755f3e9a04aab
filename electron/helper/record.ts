// Root's own records of what the helper made (links, Xen domains), kept in its state folder so that it
// acts only on those: JSON, read without following a link, replaced atomically.
import { closeSync, constants, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs'

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
