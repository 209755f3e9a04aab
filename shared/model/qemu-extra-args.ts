// Extra QEMU arguments are an allow-list: options that tune the machine and cannot make QEMU open a
// file, a socket or a program (no -chardev, -qmp, -incoming, -plugin, -gdb, -netdev, -drive, -D ...).
// Everything that can reach the host is Berth's to build from the spec.

type ValueCheck = (value: string) => boolean

/** key=value pairs, each key one of keys, each value plain (no commas smuggled in, no paths). */
const pairs = (keys: string[], first?: RegExp): ValueCheck => (value) =>
  value.split(',').every((part, i) => {
    if (i === 0 && first?.test(part)) return true
    const [key, val, ...rest] = part.split('=')
    return rest.length === 0 && keys.includes(key!) && val !== undefined && /^[A-Za-z0-9._:+-]*$/.test(val)
  })

/** Devices that take no file, socket, host device or backend of their own. */
const safeDevices = [
  'virtio-rng-pci', 'virtio-balloon-pci', 'virtio-keyboard-pci', 'virtio-mouse-pci', 'virtio-tablet-pci',
  'usb-kbd', 'usb-mouse', 'usb-tablet', 'i6300esb', 'ib700', 'pvpanic', 'virtio-gpu-pci', 'VGA', 'virtio-vga', 'bochs-display',
]
const deviceKeys = ['id', 'bus', 'addr', 'port', 'multifunction', 'xres', 'yres', 'max_outputs', 'deflate-on-oom', 'free-page-reporting', 'max-bytes', 'period', 'ioport']

export const allowedExtraOptions: Record<string, ValueCheck | null> = {
  '-rtc': pairs(['base', 'clock', 'driftfix']),
  '-overcommit': pairs(['mem-lock', 'cpu-pm']),
  '-cpu': (v) => /^[A-Za-z0-9_.-]+(,[+-]?[A-Za-z0-9_.-]+(=[A-Za-z0-9_.-]+)?)*$/.test(v),
  '-boot': pairs(['order', 'once', 'menu', 'strict', 'reboot-timeout', 'splash-time'], /^[a-z]+$/),
  '-smbios': (v) => v.startsWith('type=') && !/(^|,)file=/.test(v) && /^[^\n]*$/.test(v),
  '-device': (v) => {
    const [type, ...rest] = v.split(',')
    return safeDevices.includes(type!) && pairs(deviceKeys)(rest.join(',') || 'id=x')
  },
  '-vga': (v) => ['std', 'virtio', 'cirrus', 'none', 'qxl', 'vmware'].includes(v),
  '-k': (v) => /^[a-z]{2}(-[a-z]{2,3})?$/.test(v),
  '-uuid': (v) => /^[0-9a-fA-F-]{36}$/.test(v),
  '-msg': pairs(['timestamp', 'guest-name']),
  '-watchdog-action': (v) => ['reset', 'shutdown', 'poweroff', 'inject-nmi', 'pause', 'debug', 'none'].includes(v),
  '-icount': pairs(['shift', 'align', 'sleep']),
  '-no-hpet': null,
  '-no-reboot': null,
  '-no-shutdown': null,
  '-usb': null,
}

/** Why these extra arguments cannot be used, or null when each is an allowed option with a fitting value. */
export function extraArgsProblem(args: readonly string[]): string | null {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const option = arg.startsWith('--') ? arg.slice(1) : arg
    if (!Object.hasOwn(allowedExtraOptions, option))
      return `${arg} is not allowed in extra arguments: they may only tune the machine (${Object.keys(allowedExtraOptions).join(', ')}), never open files, sockets or programs. Berth builds those from the settings.`
    const check = allowedExtraOptions[option]
    if (!check) continue
    const value = args[++i]
    if (value === undefined) return `${arg} needs a value on the next line`
    if (!check(value)) return `"${value}" is not a value Berth allows for ${arg} in extra arguments (no files, sockets, programs or host devices)`
  }
  return null
}
