// The helper's Xen verbs: xl on this computer (it needs root). The helper writes the xl.cfg itself
// from a checked domain spec, so the unprivileged side can never smuggle in a bootloader, a device
// model or a hotplug script to run as root. The files a domain opens must be the caller's own (else
// an administrator approves), and the helper acts only on the domains it created for the caller.
import { z } from 'zod'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { machineIdSchema } from '../../shared/model/machine'
import { xenDomainNameSchema, xenSpecSchema, type XenSpec } from '../../shared/model/xen'
import { callersOwn, realPath, requireApproval, type Caller } from './policy'
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

/** What in a domain spec reaches beyond the caller's own files: block devices, others' files, folders shared over 9p. */
export function xenBeyondPolicy(spec: XenSpec, caller: Caller): string[] {
  if (caller.uid === 0) return []
  const problems: string[] = []
  const file = (path: string, what: string) => {
    const real = realPath(path)
    if (!real || !callersOwn(real, caller) || !statSync(real).isFile()) problems.push(`its ${what} ${path} is not a file of yours`)
  }
  if (spec.kernel) file(spec.kernel, 'kernel')
  if (spec.ramdisk) file(spec.ramdisk, 'ramdisk')
  for (const disk of spec.disks) file(disk.target, `disk ${disk.vdev}`)
  for (const share of spec.shares) if (!callersOwn(share.path, caller)) problems.push(`it shares ${share.path}, which is not a folder of yours`)
  return problems
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
      requireApproval(caller, `Creating the Xen domain ${a.spec.name}`, xenBeyondPolicy(a.spec, caller), log)
      mkdirSync(CONFIG_DIR, { recursive: true, mode: 0o755 })
      const path = configPath(a.id)
      writeFileSync(`${path}.tmp`, xlConfig(a.id, a.spec), { mode: 0o644 })
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
      rmSync(configPath(a.id), { force: true })
      updateRecord(recordFile, noDomains, (r) => ({ byId: Object.fromEntries(Object.entries(r.byId).filter(([id]) => id !== a.id)) }))
      return null
  }
}
