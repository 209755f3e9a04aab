// The names Berth gives what it makes for a VM (taps, bridges, QEMU device and node ids, MACs), in
// one place: the argv builder, hot-plug, cleanup and the tests all use these.
import { createHash } from 'node:crypto'

/** A VM's tap device: its name comes from the machine id (15 characters, the kernel's limit). */
export const tapName = (id: string) => `bt-${id}`.slice(0, 15)
/** The tap of a VM's card on a vlan, and the bridge every VM on that vlan joins. */
export const vlanTapName = (id: string, vlan: number) => `bv${vlan}-${id}`.slice(0, 15)
export const vlanBridgeName = (vlan: number) => `berth-vlan${vlan}`

/**
 * The module's vlan addresses: VM M on vlan N is 192.168.N.M. Berth's DHCP server on the vlan's
 * bridge (which is 192.168.N.254) hands them out by MAC: a numbered VM's card on vlan N has the MAC
 * 52:54:01:N:M (numberedMac), the same for whichever VM holds that number, so the server's
 * reservations need no list of VMs and a lease outlives a VM that is made anew. Unnumbered VMs get an
 * address of the pool.
 */
export const vlanAddressing = { lastVlan: 254, lastNumber: 199, pool: [200, 250], host: 254 } as const
export const vlanSubnet = (vlan: number) => `192.168.${vlan}.0/24`
export const vlanAddress = (vlan: number, number: number) => `192.168.${vlan}.${number}`
const hex = (byte: number) => byte.toString(16).padStart(2, '0')
export const numberedMac = (vlan: number, number: number) => `52:54:01:${hex(vlan >> 8)}:${hex(vlan & 0xff)}:${hex(number)}`

/** A stable MAC per VM and card: cards that share a bridge must differ (QEMU's default is one MAC for all). */
export function macAddress(id: string, card: string): string {
  const hash = createHash('sha256').update(`${id}:${card}`).digest()
  return `52:54:00:${[...hash.subarray(0, 3)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`
}

/** A vlan card's MAC: the number's own (numberedMac) when the VM has one. */
export const vlanMac = (id: string, vlan: number, number: number | null): string => (number === null ? macAddress(id, `vlan${vlan}`) : numberedMac(vlan, number))

/** Free PCIe slots a q35 VM gets at launch, so disks can be hot-plugged into it. */
export const HOTPLUG_ROOT_PORTS = 4
export const rootPort = (n: number) => `rp${n}`

export const controllers = { scsi: 'scsi0', usb: 'usb0', sata: 'sata0' } as const
export const CDROM_ID = 'cd0'
export const CDROM_DEVICE = 'cd0-dev'

/** The device that shows a drive (or disk) to the guest: its node name + "-dev". */
export const deviceId = (node: string) => `${node}-dev`
/** The node of a VM's main disk (0) and its empty disks (1...). */
export const diskNode = (index: number) => `disk${index}`
/** The node of a disk's backing file at that depth (1: the nearest). */
export const backingNode = (node: string, depth: number) => `${node}-b${depth}`
