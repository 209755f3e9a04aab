// Counters every backend reads the same way from this host's /proc and /sys.
import { readFileSync } from 'node:fs'

/** Clock ticks per second of /proc/PID/stat's times (USER_HZ: 100 on Linux). */
const TICKS = 100
const PAGE = 4096

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}

/** CPU time (user + system, its threads included) and resident memory of a process; null: it is gone. */
export function processCounters(pid: number): { cpuSeconds: number; memoryBytes: number } | null {
  const stat = read(`/proc/${pid}/stat`)
  const statm = read(`/proc/${pid}/statm`)
  if (!stat || !statm) return null
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS
  return { cpuSeconds, memoryBytes: Number(statm.split(' ')[1]) * PAGE }
}

/** Bytes a host network link received and sent; null: there is no such link. */
export function linkCounters(link: string): { rx: number; tx: number } | null {
  const rx = read(`/sys/class/net/${link}/statistics/rx_bytes`)
  const tx = read(`/sys/class/net/${link}/statistics/tx_bytes`)
  return rx === null || tx === null ? null : { rx: Number(rx), tx: Number(tx) }
}

/**
 * The machine's side of host links (a tap or a veth): what the host end received, the machine sent.
 * null when none of them exists.
 */
export function machineTraffic(links: string[]): { rxBytes: number; txBytes: number } | null {
  const counted = links.map(linkCounters).filter((c) => c !== null)
  if (!counted.length) return null
  return { rxBytes: counted.reduce((sum, c) => sum + c.tx, 0), txBytes: counted.reduce((sum, c) => sum + c.rx, 0) }
}

/**
 * A cgroup's CPU time, and what the controllers this host gives cgroup v2 add: memory (current, max)
 * and block I/O bytes. null where a controller is elsewhere (a hybrid host keeps memory and io on
 * cgroup v1); null altogether: the cgroup is gone.
 */
export function cgroupCounters(dir: string): {
  cpuSeconds: number
  memoryBytes: number | null
  memoryLimitBytes: number | null
  readBytes: number | null
  writeBytes: number | null
} | null {
  const cpu = read(`${dir}/cpu.stat`)
  if (cpu === null) return null
  const memory = read(`${dir}/memory.current`)
  const max = read(`${dir}/memory.max`)?.trim()
  const io = read(`${dir}/io.stat`)
  let readBytes = 0
  let writeBytes = 0
  for (const line of (io ?? '').split('\n')) {
    readBytes += Number(/rbytes=(\d+)/.exec(line)?.[1] ?? 0)
    writeBytes += Number(/wbytes=(\d+)/.exec(line)?.[1] ?? 0)
  }
  return {
    cpuSeconds: Number(/^usage_usec (\d+)/m.exec(cpu)?.[1] ?? 0) / 1e6,
    memoryBytes: memory === null ? null : Number(memory),
    memoryLimitBytes: max && max !== 'max' ? Number(max) : null,
    readBytes: io === null ? null : readBytes,
    writeBytes: io === null ? null : writeBytes,
  }
}

/** This computer: CPU time of all its CPUs (busy, in seconds) and memory in use of its total. */
export function hostCounters(): { cpuSeconds: number; memoryBytes: number; memoryLimitBytes: number } | null {
  const stat = read('/proc/stat')
  const meminfo = read('/proc/meminfo')
  if (!stat || !meminfo) return null
  // cpu  user nice system idle iowait irq softirq steal ...: busy is everything but idle and iowait.
  // guest and guest_nice (after steal) are already inside user and nice.
  const ticks = stat.split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
  const busy = ticks.reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0)
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(meminfo)?.[1] ?? 0) * 1024
  return { cpuSeconds: busy / TICKS, memoryBytes: kib('MemTotal') - kib('MemAvailable'), memoryLimitBytes: kib('MemTotal') }
}
