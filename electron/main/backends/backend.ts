import type { FieldErrors } from '../../../shared/errors'
import type { MachineDefinition, MachineSpec, MachineState } from '../../../shared/model/machine'
import type { StreamControl } from '../../../shared/contract'
import type { ServerStream } from '../../../shared/rpc/server'

export type ConsoleStream = ServerStream<StreamControl<'console.open'>>

export interface MachineStatus {
  state: MachineState
  accelerator: 'kvm' | 'tcg' | null
  lastError: string | null
}

/** What every kind of machine (QEMU now; nspawn and Xen next) offers the machine service. */
export interface Backend {
  readonly kind: MachineSpec['kind']
  /** Host-side checks of a spec (files exist, images are images); field path → message. */
  validate(spec: MachineSpec): Promise<FieldErrors>
  /** The command line a definition runs as. */
  commandLine(definition: MachineDefinition): Promise<string[]>
  status(id: string): MachineStatus
  /** Finds a machine still running from an earlier Berth process and takes it over. */
  reattach(definition: MachineDefinition): Promise<void>
  start(definition: MachineDefinition): Promise<void>
  stop(definition: MachineDefinition, options: { force: boolean; timeoutSec: number }): Promise<void>
  pause(definition: MachineDefinition): Promise<void>
  resume(definition: MachineDefinition): Promise<void>
  openConsole(definition: MachineDefinition, stream: ConsoleStream): Promise<void>
  /** Deletes what the machine left on disk (logs, runtime files, and images Berth made when asked). */
  forget(definition: MachineDefinition, options: { deleteImages: boolean }): Promise<void>
  onDidChange(listener: (id: string) => void): void
  /** Lets go of running machines without stopping them (they outlive Berth). */
  dispose(): void
}
