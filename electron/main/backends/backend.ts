import type { Counters } from '../../../shared/model/metrics'
import type { FieldErrors } from '../../../shared/errors'
import type { Capability, DefinitionOf, MachineAction, MachineRuntime, MachineSpec, MachineState, QemuSpec } from '../../../shared/model/machine'
import type { NspawnSpec } from '../../../shared/model/container'
import type { GuestInfo } from '../../../shared/model/guest-agent'
import type { Drive } from '../../../shared/model/drives'
import type { ConsoleStream } from '../consoles/serial-console'
import type { Disposable } from '../../../shared/rpc/transport'
import type { Snapshot, SnapshotList } from '../../../shared/model/snapshots'
import type { GrowSteps } from './qemu/grow'
import type { CloneOptions } from './qemu/clone'

export type { ConsoleStream }

export interface LiveDrive {
  drive: Drive
  /** Also in the definition. */
  persistent: boolean
  state: 'attached' | 'detaching' | 'failed'
  error: string | null
  /** The PCIe root port a hot-plugged disk occupies (q35). */
  port?: string
}

/** What every kind of machine reports about its state; what only one kind has is in its runtime(). */
export interface MachineStatus {
  state: MachineState
  lastError: string | null
  /** While stopping: how, and when Berth quits it if the guest has not. */
  stopping?: { how: string; quitsAt: string | null } | null
}

/** From which states each action may be taken; an action missing here is not one this kind has. */
export type Transitions = Partial<Record<MachineAction, readonly MachineState[]>>

/** The table the three kinds share; a backend adds or removes what differs for its kind. */
export const commonTransitions = {
  start: ['stopped', 'crashed'],
  stop: ['running', 'paused', 'stopping', 'unknown'],
  pause: ['running'],
  resume: ['paused'],
  edit: ['stopped', 'crashed'],
  remove: ['stopped', 'crashed'],
} as const satisfies Transitions

/** The command line (and, for Xen, the xl.cfg) a definition runs as, and what of it needs a password. */
export interface Preview {
  argv: string[]
  config?: string
  needsPassword?: string[]
}

/** What every kind of machine (QEMU, nspawn; Xen next) offers the machine service. */
export interface Backend<S extends MachineSpec = MachineSpec> {
  readonly kind: S['kind']
  /** From which states each action may be taken (the machine service checks it, once, for every kind). */
  readonly transitions: Transitions
  /** What a machine with this spec has (a screen, drives, a shell...): the page offers only these. */
  capabilities(spec: S): Capability[]
  /** What only this kind has while it runs (QEMU: accelerator, live drives, disc). */
  runtime(definition: DefinitionOf<S>): MachineRuntime
  /** Bridges on this computer the machine joins (a bridge in use says by whom). */
  bridgesOf(spec: S): string[]
  /** Network links on this computer named by the spec (an extra veth's name), with the field that names each: two machines cannot share one. */
  linksOf(spec: S): { field: string; name: string }[]
  /** The host the machine runs on ('local': this computer). */
  hostOf(spec: S): string
  /** Started when Berth starts (containers.nix's autoStart). */
  startsWithBerth(spec: S): boolean
  /** The spec as it is stored: what the backend records from the host itself (QEMU: image formats), never taken from the caller. */
  record(spec: S, previous: S | null, id?: string): Promise<S>
  /** What a definition runs as, for the wizard's preview. */
  preview(definition: DefinitionOf<S>): Promise<Preview>
  /** Running totals of a running machine's CPU, memory, disk and network (only kinds with the metrics capability); null: it is not running. */
  counters?(definition: DefinitionOf<S>, timeoutMs: number): Promise<Counters | null>
  /** Reboots a running machine (only kinds with the reboot capability). */
  reboot?(definition: DefinitionOf<S>): Promise<void>
  /** Host-side checks of a spec (files exist, images are images); field path → message. id: the machine being edited. */
  validate(spec: S, id?: string): Promise<FieldErrors>
  status(id: string): MachineStatus
  /** Finds a machine still running from an earlier Berth process and takes it over. */
  reattach(definition: DefinitionOf<S>): Promise<void>
  start(definition: DefinitionOf<S>): Promise<void>
  stop(definition: DefinitionOf<S>, options: { force: boolean; timeoutSec: number }): Promise<void>
  pause(definition: DefinitionOf<S>): Promise<void>
  resume(definition: DefinitionOf<S>): Promise<void>
  openConsole(definition: DefinitionOf<S>, stream: ConsoleStream): Promise<void>
  /** Deletes what the machine left on disk (logs, runtime files, and images Berth made when asked). */
  forget(definition: DefinitionOf<S>, options: { deleteImages: boolean }): Promise<void>
  onDidChange(listener: (id: string) => void): Disposable
  /** Lets go of running machines without stopping them (they outlive Berth). */
  dispose(): void
}

type QemuDefinition = DefinitionOf<QemuSpec>

/** Disks, discs and screens: what virtual machines have and containers do not. */
export interface QemuFeatures {
  /** Every drive attached to the running machine now (from the definition or hot-plugged), by id. */
  liveDrives(id: string): Map<string, LiveDrive>
  /** Hot-plugs a disk into the running machine. */
  attachDrive(definition: QemuDefinition, drive: Drive, options: { persistent: boolean }): Promise<void>
  /** Unplugs a disk from the running machine once the guest has let go of it. */
  detachDrive(definition: QemuDefinition, driveId: string): Promise<void>
  /** Puts a disc in the running machine's CD drive, or ejects it (null). */
  changeMedium(definition: QemuDefinition, file: string | null): Promise<void>
  /** The unix socket serving the running machine's screen (VNC or SPICE). */
  displaySocket(definition: QemuDefinition): string
  /** The running machine's screen now, as PNG. */
  screenshot(definition: QemuDefinition): Promise<Uint8Array>
  /** A stopped UEFI machine's variable store, made anew from the firmware's template. */
  resetFirmwareVars(definition: QemuDefinition): Promise<void>
  /** What the guest agent in the running machine says about the guest. */
  guestInfo(definition: QemuDefinition): Promise<GuestInfo>
  /** A disk's size now, and why it cannot grow (null: it can). */
  diskSize(definition: QemuDefinition, disk: 'root' | string): Promise<{ virtualSize: number; fileSize: number; format: Drive['format']; growable: string | null }>
  /** What refuses a growth before it starts: shrinking, the same size, read-only, a format that cannot grow. */
  checkGrowth(definition: QemuDefinition, disk: 'root' | string, sizeMiB: number): Promise<void>
  /** Grows a disk, stopped or running, and then what lies on it in the guest; each step goes to steps. */
  growDisk(definition: QemuDefinition, disk: 'root' | string, sizeMiB: number, steps: GrowSteps): Promise<void>
  /** The guest ended an installation (restarted: restart true, or powered off) by itself. */
  onInstallEnded(listener: (ended: { id: string; restart: boolean }) => void): Disposable
  /** Every image the machine writes to (root disk, writable drives). */
  writableImages(definition: QemuDefinition): string[]
  /** The images Berth made for the machine (what "delete its images" deletes). */
  madeImages(definition: QemuDefinition): string[]
}

/** A new machine from a stopped one, for the kinds with the clone capability. */
export interface CloneFeatures<S extends MachineSpec> {
  /** The files of a clone of the stopped machine, for the new machine target; the clone's spec. */
  cloneFiles(source: DefinitionOf<S>, target: { id: string; name: string }, options: CloneOptions): Promise<S>
}

/** Snapshots, for the kinds with the snapshots capability. */
export interface SnapshotFeatures<S extends MachineSpec> {
  /** The machine's snapshots, and why it cannot take one now. */
  snapshots(definition: DefinitionOf<S>): Promise<SnapshotList>
  takeSnapshot(definition: DefinitionOf<S>, name: string, description: string): Promise<Snapshot>
  /** Back to the snapshot; restore writes the definition it kept. */
  revertSnapshot(definition: DefinitionOf<S>, name: string, restore: (spec: S) => Promise<DefinitionOf<S>>): Promise<void>
  deleteSnapshot(definition: DefinitionOf<S>, name: string): Promise<SnapshotList>
}

/** What containers have and virtual machines do not. */
export interface ContainerFeatures {
  /** A login shell inside the running container, for as long as the stream is open. */
  openShell(definition: DefinitionOf<NspawnSpec>, stream: ConsoleStream): Promise<void>
}
