// The container wizard's values, as typed, and how they become a container spec (containers.nix).
import { reactive } from 'vue'
import type { NspawnSpec, NspawnSpecInput } from '../../../shared/model/container'

export interface PortRow {
  protocol: 'tcp' | 'udp'
  hostPort: number | null
  containerPort: number | null
}
export interface MountRow {
  hostPath: string
  mountPoint: string
  readOnly: boolean
}
export interface VethRow {
  name: string
  hostBridge: string
  hostAddress: string
  localAddress: string
  hostAddress6: string
  localAddress6: string
}
export interface DeviceRow {
  node: string
  modifier: string
}

export interface ContainerForm {
  name: string
  root: string
  init: 'boot' | 'command'
  /** One argument per line. */
  command: string
  privateNetwork: boolean
  hostBridge: string
  hostAddress: string
  localAddress: string
  hostAddress6: string
  localAddress6: string
  ports: PortRow[]
  /** Space-separated interface names. */
  interfaces: string
  macvlans: string
  veths: VethRow[]
  mounts: MountRow[]
  /** One per line: /path[:options]. */
  tmpfs: string
  devices: DeviceRow[]
  /** Space-separated. */
  capabilities: string
  enableTun: boolean
  ephemeral: boolean
  autoStart: boolean
  notifyReady: boolean
  timeoutStartSec: number | null
  /** One flag per line. */
  extraFlags: string
}

export const blankContainer = (): ContainerForm => ({
  name: '',
  root: '',
  init: 'boot',
  command: '/bin/sh',
  privateNetwork: false,
  hostBridge: '',
  hostAddress: '',
  localAddress: '',
  hostAddress6: '',
  localAddress6: '',
  ports: [],
  interfaces: '',
  macvlans: '',
  veths: [],
  mounts: [],
  tmpfs: '',
  devices: [],
  capabilities: '',
  enableTun: false,
  ephemeral: false,
  autoStart: false,
  notifyReady: false,
  timeoutStartSec: 60,
  extraFlags: '',
})

export const newPort = (): PortRow => ({ protocol: 'tcp', hostPort: null, containerPort: null })
export const newMount = (): MountRow => ({ hostPath: '', mountPoint: '', readOnly: true })
export const newVeth = (n: number): VethRow => ({ name: `vx${n}`, hostBridge: '', hostAddress: '', localAddress: '', hostAddress6: '', localAddress6: '' })
export const newDevice = (): DeviceRow => ({ node: '', modifier: 'rw' })

/** Kept while the app is open: leaving the wizard, or a failed create, loses nothing. */
export const containerDraft = reactive<ContainerForm>(blankContainer())
export function resetContainerDraft(): void {
  Object.assign(containerDraft, blankContainer())
}

const words = (text: string) => text.split(/\s+/).filter(Boolean)
const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean)
const orNull = (text: string) => (text.trim() ? text.trim() : null)
const number = (value: number | null | string) => (value === '' || value === null ? undefined : (value as number))

export function toContainerSpec(form: ContainerForm): NspawnSpecInput {
  // Without private networking the network fields are hidden, and their values do not apply.
  const net = form.privateNetwork
  return {
    kind: 'nspawn',
    name: form.name.trim(),
    root: form.root.trim(),
    init: form.init === 'boot' ? { type: 'boot' } : { type: 'command', argv: lines(form.command) },
    privateNetwork: form.privateNetwork,
    hostBridge: net ? orNull(form.hostBridge) : null,
    hostAddress: net ? orNull(form.hostAddress) : null,
    localAddress: net ? orNull(form.localAddress) : null,
    hostAddress6: net ? orNull(form.hostAddress6) : null,
    localAddress6: net ? orNull(form.localAddress6) : null,
    forwardPorts: (net ? form.ports : []).map((p) => ({
      protocol: p.protocol,
      hostPort: number(p.hostPort) as number,
      containerPort: number(p.containerPort) ?? null,
    })),
    interfaces: words(form.interfaces),
    macvlans: words(form.macvlans),
    extraVeths: (net ? form.veths : []).map((v) => ({
      name: v.name.trim(),
      hostBridge: orNull(v.hostBridge),
      hostAddress: orNull(v.hostAddress),
      localAddress: orNull(v.localAddress),
      hostAddress6: orNull(v.hostAddress6),
      localAddress6: orNull(v.localAddress6),
    })),
    bindMounts: form.mounts.map((m) => ({ mountPoint: m.mountPoint.trim(), hostPath: orNull(m.hostPath), isReadOnly: m.readOnly })),
    tmpfs: lines(form.tmpfs),
    allowedDevices: form.devices.map((d) => ({ node: d.node.trim(), modifier: d.modifier.trim() })),
    additionalCapabilities: words(form.capabilities),
    enableTun: form.enableTun,
    ephemeral: form.ephemeral,
    autoStart: form.autoStart,
    notifyReady: form.notifyReady,
    timeoutStartSec: number(form.timeoutStartSec) as number,
    extraFlags: lines(form.extraFlags),
  }
}

export function fromContainerSpec(spec: NspawnSpec): ContainerForm {
  return {
    name: spec.name,
    root: spec.root,
    init: spec.init.type,
    command: spec.init.type === 'command' ? spec.init.argv.join('\n') : '/bin/sh',
    privateNetwork: spec.privateNetwork,
    hostBridge: spec.hostBridge ?? '',
    hostAddress: spec.hostAddress ?? '',
    localAddress: spec.localAddress ?? '',
    hostAddress6: spec.hostAddress6 ?? '',
    localAddress6: spec.localAddress6 ?? '',
    ports: spec.forwardPorts.map((p) => ({ ...p })),
    interfaces: spec.interfaces.join(' '),
    macvlans: spec.macvlans.join(' '),
    veths: spec.extraVeths.map((v) => ({
      name: v.name,
      hostBridge: v.hostBridge ?? '',
      hostAddress: v.hostAddress ?? '',
      localAddress: v.localAddress ?? '',
      hostAddress6: v.hostAddress6 ?? '',
      localAddress6: v.localAddress6 ?? '',
    })),
    mounts: spec.bindMounts.map((m) => ({ hostPath: m.hostPath ?? '', mountPoint: m.mountPoint, readOnly: m.isReadOnly })),
    tmpfs: spec.tmpfs.join('\n'),
    devices: spec.allowedDevices.map((d) => ({ ...d })),
    capabilities: spec.additionalCapabilities.join(' '),
    enableTun: spec.enableTun,
    ephemeral: spec.ephemeral,
    autoStart: spec.autoStart,
    notifyReady: spec.notifyReady,
    timeoutStartSec: spec.timeoutStartSec,
    extraFlags: spec.extraFlags.join('\n'),
  }
}
