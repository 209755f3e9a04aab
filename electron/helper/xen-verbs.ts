// The helper's Xen verbs: xl on this computer (it needs root). The helper writes the xl.cfg itself
// from a checked domain spec, so the unprivileged side can never smuggle in a bootloader, a device
// model or a hotplug script to run as root.
import { z } from 'zod'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { machineIdSchema } from '../../shared/model/machine'
import { xenDomainNameSchema, xenSpecSchema } from '../../shared/model/xen'
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
  const result = spawnSync('xl', args, { encoding: 'utf8', timeout })
  if (result.error) throw new Error((result.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'xl is not installed' : result.error.message)
  if (result.status !== 0) throw new Error(xlMessage(result.stderr || result.stdout) || `xl ${args[0]} exited with code ${result.status}`)
  return result.stdout
}

const running = (name: string) => spawnSync('pidof', [name]).status === 0

export function runXenVerb(verb: XenVerb, args: unknown, log: (entry: Record<string, unknown>) => void): unknown {
  const a = args as { what: string; id: string; spec: z.infer<typeof xenSpecSchema>; action: string; name: string }
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
      mkdirSync(CONFIG_DIR, { recursive: true, mode: 0o755 })
      const path = configPath(a.id)
      writeFileSync(`${path}.tmp`, xlConfig(a.id, a.spec), { mode: 0o644 })
      renameSync(`${path}.tmp`, path)
      xl(['create', path], log, 180_000)
      return null
    }
    case 'xen.domain':
      xl([a.action, a.name], log)
      return null
    case 'xen.removeConfig':
      rmSync(configPath(a.id), { force: true })
      return null
  }
}
