import { describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cgroupCounters, hostCounters, linkCounters, machineTraffic, processCounters } from './host-counters'

describe('counters read from /proc and /sys', () => {
  it("reads a process's CPU time and resident memory; a gone process is null", () => {
    const self = processCounters(process.pid)!
    expect(self.cpuSeconds).toBeGreaterThan(0)
    expect(self.memoryBytes).toBeGreaterThan(10 * 1024 * 1024)
    expect(processCounters(2 ** 22 + 1)).toBeNull()
  })

  it("reads this computer's busy CPU time and memory in use of its total", () => {
    const host = hostCounters()!
    expect(host.cpuSeconds).toBeGreaterThan(0)
    expect(host.memoryBytes).toBeGreaterThan(0)
    expect(host.memoryBytes).toBeLessThan(host.memoryLimitBytes)
  })

  it("a link's counters are the machine's the other way round (what the host end received, the machine sent)", () => {
    const lo = linkCounters('lo')!
    expect(lo.rx).toBeGreaterThanOrEqual(0)
    expect(linkCounters('no-such-link')).toBeNull()
    expect(machineTraffic(['no-such-link'])).toBeNull()
  })

  it('parses a cgroup v2 folder, and leaves out the controllers it does not have', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-cgroup-'))
    try {
      writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n')
      expect(cgroupCounters(dir)).toEqual({ cpuSeconds: 2.5, memoryBytes: null, memoryLimitBytes: null, readBytes: null, writeBytes: null })
      writeFileSync(join(dir, 'memory.current'), '1048576\n')
      writeFileSync(join(dir, 'memory.max'), 'max\n')
      writeFileSync(join(dir, 'io.stat'), '8:0 rbytes=100 wbytes=200 rios=1 wios=2\n8:16 rbytes=1 wbytes=2 rios=1 wios=1\n')
      expect(cgroupCounters(dir)).toEqual({ cpuSeconds: 2.5, memoryBytes: 1048576, memoryLimitBytes: null, readBytes: 101, writeBytes: 202 })
      expect(cgroupCounters(join(dir, 'gone'))).toBeNull()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
