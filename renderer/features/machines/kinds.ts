// What each kind of machine shows and edits it with (its overview and wizard): for the machine's
// page only, so the list (kind-names.ts) does not load them.
import type { Component } from 'vue'
import type { DisplaySpec, Machine, MachineKind } from '../../../shared/model/machine'
import MachineOverview from './MachineOverview.vue'
import ContainerOverview from '../containers/ContainerOverview.vue'
import XenOverview from '../xen/XenOverview.vue'
import CreateWizard from '../vm-wizard/CreateWizard.vue'
import ContainerWizard from '../containers/ContainerWizard.vue'
import XenWizard from '../xen/XenWizard.vue'

/** The screen a machine has (only virtual machines have one, when their spec says so). */
export const displayOf = (machine: Machine): DisplaySpec | null =>
  machine.capabilities.includes('display') && machine.spec.kind === 'qemu' ? machine.spec.display : null

/** Each kind's overview (it takes the machine and shows its spec). */
export const overviews: Record<MachineKind, Component> = {
  qemu: MachineOverview,
  nspawn: ContainerOverview,
  xen: XenOverview,
}

/** Each kind's wizard, which also edits a stopped machine's settings (edit-id). */
export const wizards: Record<MachineKind, Component> = {
  qemu: CreateWizard,
  nspawn: ContainerWizard,
  xen: XenWizard,
}
