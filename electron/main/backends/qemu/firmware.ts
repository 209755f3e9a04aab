// UEFI firmware found through QEMU's firmware descriptors (/usr/share/qemu/firmware/*.json, the
// files libvirt reads too): executable + variable-store template + features.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BerthError } from '../../../../shared/errors'

export interface UefiFirmware {
  description: string
  code: string
  varsTemplate: string
  secureBoot: boolean
  machines: string[]
}

interface Descriptor {
  description?: string
  'interface-types'?: string[]
  mapping?: { device?: string; executable?: { filename?: string }; 'nvram-template'?: { filename?: string } }
  targets?: { architecture?: string; machines?: string[] }[]
  features?: string[]
}

export const descriptorDirs = ['/etc/qemu/firmware', '/usr/share/qemu/firmware']

/** Every x86_64 UEFI flash firmware described on this host, in the descriptors' priority order. */
export async function findUefiFirmware(dirs = descriptorDirs): Promise<UefiFirmware[]> {
  const found: UefiFirmware[] = []
  for (const dir of dirs) {
    const names = (await readdir(dir).catch(() => [])).filter((n) => n.endsWith('.json')).sort()
    for (const name of names) {
      let d: Descriptor
      try {
        d = JSON.parse(await readFile(join(dir, name), 'utf8')) as Descriptor
      } catch {
        continue
      }
      const code = d.mapping?.executable?.filename
      const varsTemplate = d.mapping?.['nvram-template']?.filename
      const target = d.targets?.find((t) => t.architecture === 'x86_64')
      if (!d['interface-types']?.includes('uefi') || d.mapping?.device !== 'flash' || !code || !varsTemplate || !target) continue
      const features = d.features ?? []
      found.push({
        description: d.description ?? name,
        code,
        varsTemplate,
        // Secure Boot that is on from the first boot needs its keys enrolled in the template.
        secureBoot: features.includes('secure-boot') && features.includes('enrolled-keys'),
        machines: target.machines ?? [],
      })
    }
  }
  return found
}

export function chooseUefi(all: UefiFirmware[], secureBoot: boolean, machine: 'pc' | 'q35'): UefiFirmware {
  const family = machine === 'q35' ? 'pc-q35-' : 'pc-i440fx-'
  const fits = all.filter((f) => f.secureBoot === secureBoot && f.machines.some((m) => m.startsWith(family)))
  if (fits[0]) return fits[0]
  if (!all.length) throw new BerthError('unavailable', 'No UEFI firmware is installed on this host: install the ovmf package')
  throw new BerthError(
    'unavailable',
    secureBoot
      ? 'This host has no UEFI firmware with Secure Boot keys enrolled (Debian: ovmf provides OVMF_VARS_4M.ms.fd)'
      : `This host has no UEFI firmware for the ${machine} chipset without Secure Boot`,
  )
}

export function describeHostFirmware(all: UefiFirmware[]): { efi: boolean; secureBoot: boolean; note: string } {
  const efi = all.some((f) => !f.secureBoot)
  const secureBoot = all.some((f) => f.secureBoot)
  const note = !all.length
    ? 'No UEFI firmware is installed: UEFI machines need the ovmf package. SeaBIOS works.'
    : `UEFI: ${efi ? 'yes' : 'no'}; Secure Boot with enrolled keys: ${secureBoot ? 'yes (Q35 chipset)' : 'no'}.`
  return { efi, secureBoot, note }
}
