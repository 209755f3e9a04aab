// The helper's Xen verbs: xl on this computer (it needs root). The helper writes the xl.cfg itself
// from a checked domain spec, so the unprivileged side can never smuggle in a bootloader, a device
// model or a hotplug script to run as root. The files a domain opens must be the caller's own (else
// an administrator approves), and the helper acts only on the domains it created for the caller.
import { z } from 'zod'
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { machineIdSchema } from '../../shared/model/machine'
import { xenDomainNameSchema, xenSpecSchema, type XenSpec } from '../../shared/model/xen'
import { requireApproval, type Caller } from './policy'
import { callersHeld, hold, pin, pinFolder, unpinAll, type Held } from './pin'
import { readRecord, updateRecord } from './record'
import { Refusal } from './refusal'
import { CONFIG_DIR, configPath, xlConfig, xlMessage } from '../main/backends/xen/xl'
import { domainActions } from '../main/backends/xen/toolstack'

export const xenVerbSchemas = {
  /** What dom0 says: /proc/xen/capabilities, xl info, xl list, and whether its daemons run. */
  'xen.query': z.object({ what: z.enum(['capabilities', 'info', 'list', 'daemons']) }).strict(),
  'xen.create': z.object({ id: machineIdSchema, spec: xenSpecSchema }).strict(),
  'xen.domain': z.object({ action: z.enum(domainActions), name: xenDomainNameSchema }).strict(),
  'xen.removeConfig': z.object({ id: machineIdSchema }).strict(),
} as const
export type XenVerb = keyof typeof xenVerbSchemas

/** A failed xl: its own words, as the Error the helper answers with. */
function xl(args: string[], log: (entry: Record<string, unknown>) => void, timeout = 60_000): string {
  log({ exec: ['xl', ...args] })
  const result = spawnSync('/usr/sbin/xl', args, { encoding: 'utf8', timeout })
  if (result.error) throw new Error((result.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'xl is not installed' : result.error.message)
  if (result.status !== 0) throw new Error(xlMessage(result.stderr || result.stdout) || `xl ${args[0]} exited with code ${result.status}`)
  return result.stdout
}

const running = (name: string) => spawnSync('/usr/bin/pidof', [name]).status === 0

export interface XenContext {
  caller: Caller
  /** Root's state folder for the caller: the record of the domains made for them. */
  stateDir: string
  log: (entry: Record<string, unknown>) => void
}

/** The files and folders a domain uses from this computer, each held open (pin.ts) or null when missing. */
interface XenSources {
  kernel: Held | null
  ramdisk: Held | null
  disks: (Held | null)[]
  shares: (Held | null)[]
}

function holdXenSources(spec: XenSpec): XenSources & { release(): void } {
  const all: Held[] = []
  const tryHold = (path: string | undefined) => {
    if (!path) return null
    try {
      const held = hold(path)
      all.push(held)
      return held
    } catch {
      return null
    }
  }
  return {
    kernel: tryHold(spec.kernel),
    ramdisk: tryHold(spec.ramdisk),
    disks: spec.disks.map((disk) => tryHold(disk.target)),
    shares: spec.shares.map((share) => tryHold(share.path)),
    release: () => all.forEach((held) => closeSync(held.fd)),
  }
}

/** What in a domain spec reaches beyond the caller's own files: block devices, others' files, folders shared over 9p. */
export function xenBeyondPolicy(spec: XenSpec, caller: Caller, held: XenSources): string[] {
  if (caller.uid === 0) return []
  const problems: string[] = []
  const file = (source: Held | null, path: string, what: string) => {
    if (!callersHeld(source, caller) || !source.stats.isFile()) problems.push(`its ${what} ${path} is not a file of yours`)
  }
  if (spec.kernel) file(held.kernel, spec.kernel, 'kernel')
  if (spec.ramdisk) file(held.ramdisk, spec.ramdisk, 'ramdisk')
  spec.disks.forEach((disk, i) => file(held.disks[i]!, disk.target, `disk ${disk.vdev}`))
  spec.shares.forEach((share, i) => {
    if (!callersHeld(held.shares[i]!, caller)) problems.push(`it shares ${share.path}, which is not a folder of yours`)
  })
  return problems
}

/**
 * The spec with every file and folder replaced by the place where the helper mounted what it checked
 * (pin.ts): xl and the device model open those, whatever the caller renames or links afterwards.
 */
function pinnedSpec(id: string, spec: XenSpec, held: XenSources, caller: Caller): XenSpec {
  const missing = [spec.kernel && !held.kernel && spec.kernel, spec.ramdisk && !held.ramdisk && spec.ramdisk]
    .concat(spec.disks.map((d, i) => !held.disks[i] && d.target), spec.shares.map((s, i) => !held.shares[i] && s.path))
    .filter(Boolean)
  if (missing.length > 0) throw new Refusal(`${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist`)
  unpinAll(CONFIG_DIR, caller.uid, id)
  const place = pinFolder(CONFIG_DIR, caller.uid, id)
  const sources = [
    ...(held.kernel ? [{ name: 'kernel', file: held.kernel }] : []),
    ...(held.ramdisk ? [{ name: 'ramdisk', file: held.ramdisk }] : []),
    ...held.disks.map((file, i) => ({ name: `disk${i}`, file: file! })),
    ...held.shares.map((file, i) => ({ name: `share${i}`, file: file! })),
  ]
  const places = new Map(pin(place, sources).map((path, i) => [sources[i]!.name, path]))
  return {
    ...spec,
    kernel: spec.kernel && places.get('kernel'),
    ramdisk: spec.ramdisk && places.get('ramdisk'),
    disks: spec.disks.map((disk, i) => ({ ...disk, target: places.get(`disk${i}`)! })),
    shares: spec.shares.map((share, i) => ({ ...share, path: places.get(`share${i}`)! })),
  }
}

export function runXenVerb(verb: XenVerb, args: unknown, { caller, stateDir, log }: XenContext): unknown {
  const a = args as { what: string; id: string; spec: XenSpec; action: string; name: string }
  const recordFile = join(stateDir, 'xen-domains.json')
  const noDomains: { byId: Record<string, string> } = { byId: {} }
  switch (verb) {
    case 'xen.query':
      switch (a.what) {
        case 'capabilities':
          try {
            return { output: readFileSync('/proc/xen/capabilities', 'utf8') }
          } catch {
            return { output: null }
          }
        case 'daemons':
          return { xenstored: running('xenstored') || running('oxenstored'), xenconsoled: running('xenconsoled') }
        default:
          return { output: xl([a.what], log) }
      }
    case 'xen.create': {
      const held = holdXenSources(a.spec)
      let spec: XenSpec
      try {
        requireApproval(caller, `Creating the Xen domain ${a.spec.name}`, xenBeyondPolicy(a.spec, caller, held), log)
        mkdirSync(CONFIG_DIR, { recursive: true, mode: 0o755 })
        spec = pinnedSpec(a.id, a.spec, held, caller)
      } finally {
        held.release()
      }
      const path = configPath(a.id)
      writeFileSync(`${path}.tmp`, xlConfig(a.id, spec), { mode: 0o644 })
      renameSync(`${path}.tmp`, path)
      updateRecord(recordFile, noDomains, (r) => ({ byId: { ...r.byId, [a.id]: a.spec.name } }))
      xl(['create', path], log, 180_000)
      return null
    }
    case 'xen.domain':
      if (!Object.values(readRecord(recordFile, noDomains).byId).includes(a.name))
        throw new Refusal(`${a.name} is not a domain Berth created: the helper acts only on its own domains`)
      xl([a.action, a.name], log)
      return null
    case 'xen.removeConfig':
      unpinAll(CONFIG_DIR, caller.uid, a.id)
      rmSync(configPath(a.id), { force: true })
      updateRecord(recordFile, noDomains, (r) => ({ byId: Object.fromEntries(Object.entries(r.byId).filter(([id]) => id !== a.id)) }))
      return null
  }
}
