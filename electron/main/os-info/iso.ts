import { open } from 'node:fs/promises'

const SECTOR = 2048

/** Whether the file holds an ISO 9660 file system (its first volume descriptor, at sector 16). */
export async function isIso(path: string): Promise<boolean> {
  const file = await open(path, 'r')
  try {
    const magic = Buffer.alloc(5)
    await file.read(magic, 0, 5, 16 * SECTOR + 1)
    return magic.toString('latin1') === 'CD001'
  } finally {
    await file.close()
  }
}

/**
 * Whether an ISO 9660 image can boot a machine: its volume descriptors (from sector 16 to the set
 * terminator) hold an El Torito boot record, which BIOS and UEFI firmware start from.
 */
export async function isoBootable(path: string): Promise<boolean> {
  const file = await open(path, 'r')
  try {
    const descriptor = Buffer.alloc(SECTOR)
    for (let sector = 16; sector < 16 + 64; sector++) {
      const { bytesRead } = await file.read(descriptor, 0, SECTOR, sector * SECTOR)
      if (bytesRead < SECTOR || descriptor.toString('latin1', 1, 6) !== 'CD001') return false
      const type = descriptor[0]
      if (type === 0 && descriptor.toString('latin1', 7, 30) === 'EL TORITO SPECIFICATION') return true
      if (type === 255) return false
    }
    return false
  } finally {
    await file.close()
  }
}
