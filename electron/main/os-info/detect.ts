// Installation media → the operating system on them and what Berth proposes for it, from libosinfo (as
// virt-manager and GNOME Boxes do). osinfo.py asks libosinfo; proposeDefaults() turns its answer into
// the wizard's defaults, each with the reason the person reads.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { BerthError, fieldErrors } from '../../../shared/errors'
import { detectedOsSchema, type MediaInfo, type OsDefaults } from '../../../shared/model/os-info'
import { exec, ExecError } from '../exec'
import { isIso } from './iso'

/** Debian's own Python, which has the GObject bindings (another python3 on PATH may not). */
const PYTHON = '/usr/bin/python3'
const OSINFO_DB_IMPORT = '/usr/bin/osinfo-db-import'
const SYSTEM_DB_VERSION = '/usr/share/osinfo/VERSION'

/** Set by scripts/build-electron.mjs in the bundle, which copies osinfo.py beside it. */
declare const BERTH_BUNDLED: boolean | undefined
const script = () => (typeof BERTH_BUNDLED !== 'undefined' ? join(__dirname, 'osinfo.py') : fileURLToPath(new URL('./osinfo.py', import.meta.url)))

const resourcesSchema = z.object({ ramBytes: z.number().nullable(), storageBytes: z.number().nullable(), cpus: z.number().nullable() }).nullable()
const answerSchema = z.union([
  z.object({ error: z.string() }),
  z.object({
    volumeId: z.string().nullable(),
    // What the page is told about the system, and what the defaults are worked out from.
    os: detectedOsSchema.extend({ recommended: resourcesSchema, minimum: resourcesSchema, devices: z.array(z.string()) }).nullable(),
  }),
])
export type OsinfoOs = NonNullable<Extract<z.infer<typeof answerSchema>, { os: unknown }>['os']>

const MiB = 1024 * 1024

/** The defaults for a VM of this OS (null: not recognised) on this host, and why each is what it is. */
export function proposeDefaults(os: OsinfoOs | null, host: { memoryMiB: number; cores: number }): { defaults: OsDefaults; reasons: string[] } {
  const reasons: string[] = []
  // Never more than half of the host: the host and other machines need the rest.
  const memoryCap = Math.max(256, Math.floor(host.memoryMiB / 2))
  if (!os) {
    reasons.push('libosinfo does not know this system: generic defaults for a current Linux (virtio disk and network, 2 GiB memory, a 20 GiB disk). Change them to what the system needs.')
    return {
      defaults: { memoryMiB: Math.min(2048, memoryCap), cores: Math.min(2, host.cores), diskSizeMiB: 20 * 1024, firmware: 'seabios', chipset: 'q35', diskInterface: 'virtio', nicModel: 'virtio', tpm: false, guestAgent: true },
      reasons,
    }
  }
  const wanted = os.recommended ?? os.minimum
  const memoryMiB = Math.round((wanted?.ramBytes ?? os.minimum?.ramBytes ?? 2048 * MiB) / MiB)
  const diskSizeMiB = Math.round((wanted?.storageBytes ?? os.minimum?.storageBytes ?? 20 * 1024 * MiB) / MiB)
  const cores = Math.min(host.cores, wanted?.cpus ?? os.minimum?.cpus ?? 2)
  const which = os.recommended ? 'recommends' : 'needs at least'
  reasons.push(`${os.name} ${which} ${memoryMiB} MiB of memory and a ${Math.round(diskSizeMiB / 1024)} GiB disk.`)
  if (memoryMiB > memoryCap) reasons.push(`This host has ${host.memoryMiB} MiB: the machine gets ${memoryCap} MiB, half of it.`)
  const has = (...names: string[]) => names.some((name) => os.devices.includes(name))
  const virtio = has('virtio-block', 'virtio1.0-block')
  const windows = os.family === 'winnt'
  const nicModel = has('virtio-net', 'virtio1.0-net') ? 'virtio' : has('e1000e') ? 'e1000e' : has('e1000') ? 'e1000' : 'e1000e'
  if (virtio) reasons.push(`${os.name} has virtio drivers: the disk and the network card are virtio, the fastest.`)
  else if (windows) reasons.push(`${os.name} has no virtio drivers of its own: the disk is SATA and the card ${nicModel}. With the virtio-win drivers (a second CD during the installation) virtio is faster.`)
  else reasons.push(`${os.name} has no virtio drivers: the disk is SATA and the card ${nicModel}.`)
  const windows11 = windows && /^win(11|2k22|2k25)/.test(os.shortId)
  if (windows11) reasons.push(`${os.name} requires UEFI with Secure Boot and a TPM 2.0.`)
  const q35 = windows11 || has('qemu-x86-q35')
  return {
    defaults: {
      memoryMiB: Math.min(memoryMiB, memoryCap),
      cores,
      diskSizeMiB,
      firmware: windows11 ? 'efi-secure' : 'seabios',
      chipset: q35 ? 'q35' : 'pc',
      diskInterface: virtio ? 'virtio' : 'sata',
      nicModel,
      tpm: windows11,
      guestAgent: true,
    },
    reasons: [...reasons, windows ? 'The guest agent needs the QEMU guest agent from virtio-win installed in Windows.' : 'The guest agent works once the system has qemu-guest-agent installed.'],
  }
}

/** The databases libosinfo reads: osinfo-db's version, and the entries in Berth's own folder. */
export function describeDatabase(ownDir: string): string {
  const version = existsSync(SYSTEM_DB_VERSION) ? readFileSync(SYSTEM_DB_VERSION, 'utf8').trim() : 'unknown'
  const own = existsSync(join(ownDir, 'os'))
    ? readdirSync(join(ownDir, 'os'), { withFileTypes: true, recursive: true }).filter((e) => e.isFile() && e.name.endsWith('.xml')).map((e) => e.name.replace(/\.xml$/, ''))
    : []
  const ownVersion = existsSync(join(ownDir, 'VERSION')) ? ` ${readFileSync(join(ownDir, 'VERSION'), 'utf8').trim()}` : ''
  return `osinfo-db ${version}${own.length ? `, and Berth's own database${ownVersion} (${own.sort().join(', ')})` : ''}`
}

/** What the medium is; refused with the reason when it is not bootable installation media. */
export async function detectMedia(path: string, options: { osinfoDir: string; host: { memoryMiB: number; cores: number } }): Promise<MediaInfo> {
  const iso = await isIso(path).catch((error: NodeJS.ErrnoException) => error.code ?? 'unreadable')
  if (iso !== true) {
    const message =
      iso === false
        ? `${path} is not an ISO image (it has no ISO 9660 volume): choose the installer's .iso file, or import a disk image instead.`
        : iso === 'ENOENT'
          ? `${path} does not exist`
          : `${path} cannot be read (${iso})`
    throw fieldErrors({ path: message }, message)
  }
  if (!existsSync(PYTHON)) throw new BerthError('unavailable', `Detecting operating systems needs ${PYTHON} with libosinfo: apt-get install python3-gi gir1.2-libosinfo-1.0 osinfo-db`)
  let stdout: string
  try {
    ;({ stdout } = await exec([PYTHON, script(), path, ...(existsSync(options.osinfoDir) ? [options.osinfoDir] : [])], { timeoutMs: 30_000 }))
  } catch (error) {
    const stderr = error instanceof ExecError ? (error.result?.stderr ?? '') : ''
    if (/Libosinfo|No module named 'gi'/.test(stderr)) throw new BerthError('unavailable', 'libosinfo is not installed: apt-get install python3-gi gir1.2-libosinfo-1.0 osinfo-db')
    throw error
  }
  const answer = answerSchema.parse(JSON.parse(stdout))
  if ('error' in answer) {
    const message = /not bootable/i.test(answer.error)
      ? `${path} cannot boot a machine: it has no boot record. Choose installation media (the ISO an OS offers for download), or put this disc in a machine's CD drive as data.`
      : `libosinfo cannot read ${path}: ${answer.error}`
    throw fieldErrors({ path: message }, message)
  }
  const { defaults, reasons } = proposeDefaults(answer.os, options.host)
  // Parsing with the page's schema leaves out the resources and devices.
  return { path, volumeId: answer.volumeId, os: answer.os && detectedOsSchema.parse(answer.os), defaults, reasons, database: describeDatabase(options.osinfoDir) }
}

/** An osinfo-db archive the person downloaded, imported into Berth's own database folder. */
export async function importDatabase(archive: string, osinfoDir: string): Promise<string> {
  if (!existsSync(OSINFO_DB_IMPORT)) throw new BerthError('unavailable', 'Importing needs osinfo-db-import: apt-get install osinfo-db-tools')
  try {
    await exec([OSINFO_DB_IMPORT, '--dir', osinfoDir, archive], { timeoutMs: 120_000 })
  } catch (error) {
    const why = error instanceof ExecError ? (error.result?.stderr.trim() || error.message) : String(error)
    const message = `${archive} is not an osinfo-db archive osinfo-db-import can read (${why}): download osinfo-db-*.tar.xz from releases.pagure.org/libosinfo`
    throw fieldErrors({ path: message }, message)
  }
  return describeDatabase(osinfoDir)
}
