// What each backend needs and whether this host has it, each with a fix where one exists.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { constants, accessSync } from 'node:fs'
import { release, userInfo } from 'node:os'
import { gunzipSync } from 'node:zlib'
import { join } from 'node:path'
import type { ReadinessCheck } from '../../../shared/model/readiness'
import { exec } from '../exec'
import type { AcceleratorChoice } from '../backends/qemu/accel'
import { emulatorProblem, qemuVersion } from '../backends/qemu/emulator'
import { describeHostFirmware, findUefiFirmware } from '../backends/qemu/firmware'
import { cgroup2Root } from '../backends/nspawn/cgroup'
import { hostRunsSystemd } from '../backends/nspawn/host'
import { lingers } from './boot-start'

/** The kernel modules containers.nix loads for container networking. */
export const networkModules = ['bridge', 'macvlan', 'tap', 'tun'] as const

async function version(argv: string[], pattern: RegExp): Promise<string | null> {
  try {
    const { stdout } = await exec(argv, { timeoutMs: 10_000 })
    return pattern.exec(stdout)?.[1] ?? stdout.trim().split('\n')[0] ?? null
  } catch {
    return null
  }
}

const readText = (path: string) => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

/** `blacklist NAME` or `install NAME /bin/false` in modprobe.d, with the file and line that says it. */
export function blacklisting(module: string, dirs = ['/etc/modprobe.d', '/run/modprobe.d', '/usr/lib/modprobe.d', '/lib/modprobe.d']): string | null {
  for (const dir of dirs) {
    let names: string[] = []
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.conf')).sort()
    } catch {
      continue
    }
    for (const name of names) {
      const lines = readText(join(dir, name)).split('\n')
      for (const [i, raw] of lines.entries()) {
        const line = raw.trim()
        const m = /^(blacklist|install)\s+(\S+)(\s+(.*))?$/.exec(line)
        if (!m || m[2]!.replaceAll('-', '_') !== module.replaceAll('-', '_')) continue
        if (m[1] === 'blacklist' || /\/(bin\/)?(false|true)\b/.test(m[4] ?? '')) return `${join(dir, name)}:${i + 1}: ${line}`
      }
    }
  }
  return null
}

/** The running kernel's build configuration (/proc/config.gz or /boot/config-VERSION), when it says. */
function kernelConfig(): string {
  try {
    return gunzipSync(readFileSync('/proc/config.gz')).toString('utf8')
  } catch {
    return readText(`/boot/config-${release()}`)
  }
}
const configNames: Record<string, string> = { bridge: 'BRIDGE', macvlan: 'MACVLAN', tap: 'TAP', tun: 'TUN', veth: 'VETH' }

export function moduleState(module: string): { state: 'loaded' | 'built-in' | 'available' | 'blacklisted' | 'missing'; detail: string } {
  const kernel = release()
  const builtin = readText(`/lib/modules/${kernel}/modules.builtin`)
  const blocked = blacklisting(module)
  const configured = new RegExp(`^CONFIG_${configNames[module] ?? module.toUpperCase()}=(y|m)$`, 'm').exec(kernelConfig())?.[1]
  if (configured === 'y') return { state: 'built-in', detail: 'built into the kernel' }
  if (existsSync(join('/sys/module', module)) && !existsSync(join('/sys/module', module, 'initstate')))
    return { state: 'built-in', detail: 'built into the kernel' }
  if (existsSync(join('/sys/module', module))) return { state: 'loaded', detail: 'loaded' }
  if (new RegExp(`/${module}\\.ko`).test(builtin)) return { state: 'built-in', detail: 'built into the kernel' }
  if (blocked) return { state: 'blacklisted', detail: `blacklisted by ${blocked}` }
  const dep = readText(`/lib/modules/${kernel}/modules.dep`)
  if (configured === 'm' || new RegExp(`/${module}\\.ko(\\.[a-z]+)?:`).test(dep)) return { state: 'available', detail: 'available as a module, not loaded' }
  return { state: 'missing', detail: `not in this kernel (${kernel}) and not installed as a module` }
}

export async function readiness(options: {
  qemuBinary: string
  qemuImg: string
  accelerator: AcceleratorChoice
  nspawn: string
  /** QEMU builds that VMs chose instead of the system's (qemu.package), with the VMs' names. */
  otherQemus: Map<string, string[]>
  /** The boot unit of the containers marked autoStart; null: none is marked. */
  bootUnit: string | null
}): Promise<ReadinessCheck[]> {
  const checks: ReadinessCheck[] = []
  const add = (check: ReadinessCheck) => checks.push(check)
  const apt = (pkg: string) => ({ kind: 'command' as const, command: `apt-get install ${pkg}` })

  const qemu = await version([options.qemuBinary, '--version'], /version ([\d.]+)/)
  add({ id: 'qemu', area: 'QEMU', title: 'QEMU', status: qemu ? 'ok' : 'missing', detail: qemu ? `${options.qemuBinary} ${qemu}` : `${options.qemuBinary} is not installed`, fix: qemu ? null : apt('qemu-system-x86') })
  for (const [index, [binary, names]] of [...options.otherQemus].entries()) {
    const problem = await emulatorProblem(binary)
    add({
      id: `qemu-other-${index}`,
      area: 'QEMU',
      title: `QEMU of ${names.join(', ')}`,
      status: problem ? 'missing' : 'ok',
      detail: problem ?? `${binary} ${await qemuVersion(binary)}`,
      fix: null,
    })
  }
  const img = await version([options.qemuImg, '--version'], /version ([\d.]+)/)
  add({ id: 'qemu-img', area: 'QEMU', title: 'qemu-img', status: img ? 'ok' : 'missing', detail: img ? `qemu-img ${img}` : 'qemu-img is not installed: disks cannot be made', fix: img ? null : apt('qemu-utils') })
  const { accelerator, reason } = options.accelerator
  add({
    id: 'kvm',
    area: 'QEMU',
    title: 'Hardware virtualization (KVM)',
    status: accelerator === 'kvm' ? 'ok' : 'warning',
    detail: accelerator === 'kvm' ? 'KVM works: guests run at native speed' : `TCG (software emulation). ${reason}`,
    fix: null,
  })
  // Permissions matter only where KVM can work: a present, open /dev/kvm that cannot run guests
  // (no vmx/svm) is said as such, not as "OK".
  let kvmAccess = { status: 'warning' as 'ok' | 'warning', detail: '/dev/kvm does not exist', fix: null as { kind: 'command'; command: string } | null }
  if (existsSync('/dev/kvm')) {
    const mode = (statSync('/dev/kvm').mode & 0o777).toString(8)
    let open = true
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK)
    } catch {
      open = false
    }
    kvmAccess = !open
      ? { status: 'warning', detail: `/dev/kvm (mode ${mode}) is not readable and writable by this user`, fix: { kind: 'command', command: 'usermod -aG kvm $USER' } }
      : accelerator === 'kvm'
        ? { status: 'ok', detail: `/dev/kvm (mode ${mode}) is readable and writable by this user`, fix: null }
        : { status: 'warning', detail: `/dev/kvm (mode ${mode}) is there and this user may use it, but it cannot run guests: ${reason}`, fix: null }
  }
  add({ id: 'kvm-permissions', area: 'QEMU', title: '/dev/kvm permissions', ...kvmAccess })
  const firmware = describeHostFirmware(await findUefiFirmware())
  add({ id: 'ovmf', area: 'QEMU', title: 'UEFI firmware (OVMF)', status: firmware.efi ? 'ok' : 'missing', detail: firmware.note, fix: firmware.efi ? null : apt('ovmf') })
  add({ id: 'secure-boot', area: 'QEMU', title: 'Secure Boot firmware', status: firmware.secureBoot ? 'ok' : 'warning', detail: firmware.secureBoot ? 'OVMF with enrolled Microsoft and distribution keys (Q35 chipset)' : 'No Secure Boot firmware with enrolled keys', fix: firmware.secureBoot ? null : apt('ovmf') })

  const nspawn = await version([options.nspawn, '--version'], /systemd (\d+)/)
  add({ id: 'nspawn', area: 'nspawn', title: 'systemd-nspawn', status: nspawn ? 'ok' : 'missing', detail: nspawn ? `systemd-nspawn from systemd ${nspawn}` : 'systemd-nspawn is not installed: containers cannot run', fix: nspawn ? null : apt('systemd-container') })
  const systemd = hostRunsSystemd()
  add({
    id: 'pid1',
    area: 'nspawn',
    title: 'systemd as PID 1',
    status: 'info',
    detail: systemd
      ? 'Yes: containers register with machined and get a .nspawn file, so machinectl lists them'
      : `No (PID 1 is ${readText('/proc/1/comm').trim() || 'unknown'}): containers run with --register=no --keep-unit; machinectl does not see them`,
    fix: null,
  })
  add(bootStartCheck(options.bootUnit, systemd))
  const cgroups = cgroup2Root()
  add({
    id: 'cgroups',
    area: 'nspawn',
    title: 'cgroup layout',
    status: cgroups ? 'ok' : 'warning',
    detail: cgroups
      ? `${cgroups === '/sys/fs/cgroup' ? 'unified (cgroup2)' : 'hybrid (cgroup v1 with cgroup2 at /sys/fs/cgroup/unified)'}: each container gets its own cgroup below ${cgroups}/berth, so stopping it ends all its processes, and pause freezes it`
      : 'No cgroup2 hierarchy: a container killed hard may leave processes behind, and pause is not available',
    fix: null,
  })

  for (const module of networkModules) {
    const { state, detail } = moduleState(module)
    add({
      id: `module-${module}`,
      area: 'Networking',
      title: `Kernel module ${module}`,
      status: state === 'loaded' || state === 'built-in' ? 'ok' : state === 'available' ? 'warning' : 'missing',
      detail,
      fix: state === 'available' ? { kind: 'load-module', module, label: `Load ${module}` } : state === 'blacklisted' ? { kind: 'command', command: `Remove the line from ${detail.split(':')[0]!.replace('blacklisted by ', '')}, then: modprobe ${module}` } : null,
    })
  }
  const nft = await version(['nft', '--version'], /v([\d.]+)/)
  add({ id: 'nftables', area: 'Networking', title: 'nftables', status: nft ? 'ok' : 'missing', detail: nft ? `nft ${nft}: NAT for bridges` : 'nft is not installed: bridges cannot NAT', fix: nft ? null : apt('nftables') })
  const dnsmasq = await version(['dnsmasq', '--version'], /version ([\d.]+)/)
  add({ id: 'dnsmasq', area: 'Networking', title: 'dnsmasq', status: dnsmasq ? 'ok' : 'missing', detail: dnsmasq ? `dnsmasq ${dnsmasq}: DHCP on bridges` : 'dnsmasq is not installed: bridges cannot hand out addresses', fix: dnsmasq ? null : apt('dnsmasq-base') })

  const dom0 = existsSync('/proc/xen') && readText('/proc/xen/capabilities').includes('control_d')
  if (!dom0) {
    add({ id: 'xen', area: 'Xen', title: 'Xen dom0', status: 'info', detail: 'This host is not a Xen dom0 (no /proc/xen with control_d): Xen domains run on Xen hosts you connect to', fix: null })
  } else {
    const info = await exec(['xl', 'info']).then((r) => r.stdout, () => '')
    const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.*)$`, 'm').exec(info)?.[1] ?? 'unknown'
    add({ id: 'xen', area: 'Xen', title: 'Xen dom0', status: info ? 'ok' : 'warning', detail: info ? `Xen ${field('xen_version')}; dom0 memory ${field('total_memory')} MiB total, ${field('free_memory')} MiB free; command line: ${field('xen_commandline')}` : 'This is a dom0 but xl info failed (is xenstored running?)', fix: info ? null : apt('xen-utils') })
  }
  return checks
}

/** Whether the containers marked autoStart start when this computer starts, and what is missing if not. */
function bootStartCheck(unit: string | null, systemd: boolean): ReadinessCheck {
  const check = { id: 'boot-start', area: 'nspawn', title: 'autoStart at boot' } as const
  if (!unit) return { ...check, status: 'info', detail: 'No container is marked autoStart', fix: null }
  if (!systemd)
    return { ...check, status: 'warning', detail: `This host does not run systemd: containers marked autoStart start when Berth starts. ${unit} is kept for a systemd host.`, fix: null }
  const user = userInfo().username
  const asUser = process.getuid?.() === 0 ? '' : " Berth's helper must then start them without a password prompt: an administrator allows polkit's org.berth.helper for inactive sessions."
  if (!lingers(user))
    return { ...check, status: 'warning', detail: `Containers marked autoStart start when you log in (${unit}); to start them at boot, let your services run without a login.${asUser}`, fix: { kind: 'command', command: `loginctl enable-linger ${user}` } }
  return { ...check, status: 'ok', detail: `Containers marked autoStart start at boot (${unit}, lingering on).${asUser}`, fix: null }
}
