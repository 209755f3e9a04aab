// Which devices a container may use: the module's unit has DevicePolicy=closed plus a DeviceAllow per
// allowed device. Where systemd is PID 1, nspawn's scope does that. Elsewhere the supervisor puts the
// container in a cgroup of the v1 device controller (hybrid hosts such as this one) with the same
// rules, so r, w and m (mknod) are enforced by the kernel for every process of the container.
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { NspawnSpec } from '../../../../shared/model/container'

const v1Root = '/sys/fs/cgroup/devices'

/** The v1 device controller's hierarchy, when this host has one. */
export function deviceController(): string | null {
  return existsSync(join(v1Root, 'devices.allow')) ? v1Root : null
}

export const deviceCgroup = (root: string, id: string) => join(root, 'berth', id)

/**
 * What DevicePolicy=closed always allows (null, zero, full, random, urandom, tty, ptmx and the
 * "inaccessible" nodes nspawn masks paths with), and the pseudo-terminals nspawn's console and login
 * shells are (char-pts rw, as systemd-nspawn@.service).
 */
const closedPolicy = ['c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:2 rwm', 'c 0:0 rwm', 'b 0:0 rwm', 'c 136:* rw']

/** The device controller's rules for these devices (their numbers read from the host's nodes). */
export function deviceRules(devices: NspawnSpec['allowedDevices']): string[] {
  return [
    ...closedPolicy,
    ...devices.map(({ node, modifier }) => {
      const info = statSync(node)
      if (!info.isCharacterDevice() && !info.isBlockDevice()) throw new Error(`${node} is not a device node`)
      // Linux's dev_t: 12 bits of major and 20 of minor, split as new_encode_dev does.
      const major = Number((BigInt(info.rdev) >> 8n) & 0xfffn)
      const minor = Number((BigInt(info.rdev) & 0xffn) | ((BigInt(info.rdev) >> 12n) & 0xfff00n))
      return `${info.isCharacterDevice() ? 'c' : 'b'} ${major}:${minor} ${modifier}`
    }),
  ]
}

/** Makes the cgroup (deny everything, then allow the rules) and moves pid into it: its children inherit it. */
export function confineDevices(cgroup: string, rules: string[], pid: number): void {
  mkdirSync(cgroup, { recursive: true })
  writeFileSync(join(cgroup, 'devices.deny'), 'a')
  for (const rule of rules) writeFileSync(join(cgroup, 'devices.allow'), rule)
  writeFileSync(join(cgroup, 'cgroup.procs'), String(pid))
}
