import type { FieldErrors } from '../../../shared/errors'
import type { DefinitionOf, MachineSpec, MachineState, QemuSpec } from '../../../shared/model/machine'
import type { NspawnSpec } from '../../../shared/model/container'
import type { GuestInfo } from '../../../shared/model/guest-agent'
import type { Drive } from '../../../shared/model/drives'
import type { ConsoleStream } from '../consoles/serial-console'
import type { Disposable } from '../../../shared/rpc/transport'

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

export interface MachineStatus {
  state: MachineState
  accelerator: 'kvm' | 'tcg' | null
  lastError: string | null
  /** While running: every drive attached now (from the definition or hot-plugged), by id. */
  drives: Map<string, LiveDrive>
  /** While running: the disc in the CD drive (null: empty). Undefined when not running. */
  cdrom: string | null | undefined
  /** While stopping: how, and when Berth quits it if the guest has not. */
  stopping?: { how: string; quitsAt: string | null } | null
}

/** What every kind of machine (QEMU, nspawn; Xen next) offers the machine service. */
export interface Backend<S extends MachineSpec = MachineSpec> {
  readonly kind: S['kind']
  /** Host-side checks of a spec (files exist, images are images); field path → message. */
  validate(spec: S): Promise<FieldErrors>
  /** The command line a definition runs as. */
  commandLine(definition: DefinitionOf<S>): Promise<string[]>
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
  /** The spec with the format and backing chain of each image recorded (read from the file once, never from the caller). */
  recordImages(spec: QemuSpec, previous: QemuSpec | null): Promise<QemuSpec>
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
  /** What the guest agent in the running machine says about the guest. */
  guestInfo(definition: QemuDefinition): Promise<GuestInfo>
}

/** What containers have and virtual machines do not. */
export interface ContainerFeatures {
  /** What in this container goes beyond the helper's policy for this user (each start asks for a password). */
  needsPassword(spec: NspawnSpec): string[]
  /** A login shell inside the running container, for as long as the stream is open. */
  openShell(definition: DefinitionOf<NspawnSpec>, stream: ConsoleStream): Promise<void>
}
