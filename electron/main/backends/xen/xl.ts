// Xen's toolstack (xl) as text: a domain spec → xl.cfg, and what `xl list` / `xl info` print → data.
import type { XenSpec } from '../../../../shared/model/xen'
import type { Domain, Dom0Info } from '../../../../shared/model/remote-host'

/** Where Berth keeps the domains' xl.cfg on the Xen host, one per machine id. */
export const CONFIG_DIR = '/var/lib/berth/xen'
export const configPath = (id: string) => `${CONFIG_DIR}/${id}.cfg`

/** The schema already refuses ", \ and line breaks in every string that reaches here. */
const str = (value: string) => `"${value}"`
const list = (items: string[]) => `[ ${items.map(str).join(', ')} ]`

export function xlConfig(id: string, spec: XenSpec): string {
  const lines = [
    `# Made by Berth for machine ${id}; Berth rewrites it at every start.`,
    `name = ${str(spec.name)}`,
    `type = ${str(spec.type)}`,
    `memory = ${spec.memoryMiB}`,
    ...(spec.maxMemoryMiB !== undefined ? [`maxmem = ${spec.maxMemoryMiB}`] : []),
    `vcpus = ${spec.vcpus}`,
  ]
  if (spec.kernel) lines.push(`kernel = ${str(spec.kernel)}`)
  if (spec.ramdisk) lines.push(`ramdisk = ${str(spec.ramdisk)}`)
  if (spec.kernel && spec.cmdline) lines.push(`cmdline = ${str(spec.cmdline)}`)
  if (spec.type === 'hvm') lines.push(`bios = ${str(spec.firmware)}`)
  if (spec.disks.length)
    lines.push(
      `disk = ${list(
        // target= must come last: everything after it is the path.
        spec.disks.map((d) => `format=${d.format}, vdev=${d.vdev}, access=${d.access}${d.cdrom ? ', devtype=cdrom' : ''}, target=${d.target}`),
      )}`,
    )
  if (spec.interfaces.length)
    lines.push(`vif = ${list(spec.interfaces.map((i) => `bridge=${i.bridge}${i.mac ? `,mac=${i.mac}` : ''}`))}`)
  if (spec.shares.length)
    lines.push(`p9 = ${list(spec.shares.map((s) => `tag=${s.tag},security_model=${s.securityModel},path=${s.path}`))}`)
  // A crashed domain stays (state "crashed", its console readable) until Berth is asked to stop it.
  lines.push('on_poweroff = "destroy"', 'on_reboot = "restart"', 'on_crash = "preserve"')
  return `${lines.join('\n')}\n`
}

const stateLetters: [string, Domain['state']][] = [
  ['c', 'crashed'],
  ['d', 'dying'],
  ['s', 'shutdown'],
  ['p', 'paused'],
  ['r', 'running'],
  ['b', 'blocked'],
]

/** `xl list`: Name ID Mem VCPUs State Time(s), one domain per line after the header. */
export function parseXlList(text: string): Domain[] {
  const domains: Domain[] = []
  for (const line of text.split('\n').slice(1)) {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-a-z]{6})\s+([\d.]+)\s*$/.exec(line.trim())
    if (!m) continue
    const flags = m[5]!
    // No letter: runnable, waiting for a CPU.
    const state = stateLetters.find(([letter]) => flags.includes(letter))?.[1] ?? 'running'
    domains.push({ name: m[1]!, id: Number(m[2]), memoryMiB: Number(m[3]), vcpus: Number(m[4]), state, cpuSeconds: Number(m[6]) })
  }
  return domains
}

/** `xl info`: "key : value" lines. */
export function parseXlInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s*:\s?(.*)$/.exec(line)
    if (m) fields[m[1]!] = m[2]!.trim()
  }
  return fields
}

export function dom0Info(info: Record<string, string>, domains: Domain[], daemons: Dom0Info['daemons']): Dom0Info {
  return {
    xenVersion: info.xen_version ?? `${info.xen_major}.${info.xen_minor}${info.xen_extra ?? ''}`,
    commandLine: info.xen_commandline ?? '',
    dom0MemoryMiB: domains.find((d) => d.id === 0)?.memoryMiB ?? 0,
    totalMemoryMiB: Number(info.total_memory ?? 0),
    freeMemoryMiB: Number(info.free_memory ?? 0),
    virtCaps: (info.virt_caps ?? '').split(/\s+/).filter(Boolean),
    cpus: Number(info.nr_cpus ?? 0),
    scheduler: info.xen_scheduler ?? '',
    daemons,
  }
}

/** xl's own words, without the noise it prints around them (its config parse line, libxl prefixes). */
export function xlMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Parsing config from/.test(l) && !/^Failed to read config file: \/etc\/xen\/xl.conf/.test(l))
  const cleaned = lines.map((l) => l.replace(/^libxl: (error|warning): [^:]+:\d+:[^:]+:\s*(Domain \d+:)?/, ''))
  const known = cleaned.find((l) => /already exists|not enough memory|Cannot allocate memory|failed to free memory|Invalid domain identifier/i.test(l))
  return known ?? cleaned.slice(-3).join('; ')
}
