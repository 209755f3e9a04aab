// Server state shared across views. Events are signals to refresh, never the data itself.
import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import type { RpcClient } from '../../shared/rpc/client'
import type { BrokenDefinition, Machine } from '../../shared/model/machine'
import type { HostInfo } from '../../shared/model/host'
import type { HostView } from '../../shared/model/remote-host'
import type { MethodInput, MethodName, MethodOutput } from '../../shared/contract'
import type { FirstList } from '../api/early-connection'

/** One collator for every comparison: localeCompare makes one per call, slow over a thousand names. */
const byName = new Intl.Collator()

export const useMachinesStore = defineStore('machines', () => {
  // Replaced whole, never changed in place: no deep reactivity over a thousand machines.
  const machines = shallowRef<Machine[]>([])
  const broken = ref<BrokenDefinition[]>([])
  const host = ref<HostInfo | null>(null)
  const loaded = ref(false)
  /** This computer and the SSH hosts; the ones running Xen can hold Xen domains. */
  const hosts = ref<HostView[]>([])
  const xenHosts = computed(() => hosts.value.filter((h) => h.xen))
  let client: RpcClient | null = null

  const byId = computed(() => new Map(machines.value.map((m) => [m.id, m])))

  async function refresh(): Promise<void> {
    if (client) show(await client.call('machines.list', {}))
  }

  function show(list: MethodOutput<'machines.list'>): void {
    machines.value = list.machines.sort((a, b) => byName.compare(a.spec.name, b.spec.name))
    broken.value = list.broken
    loaded.value = true
  }

  /** One machine as an event brought it: replaced, added in name order, or removed; the rest untouched. */
  function patch(id: string, machine: Machine | null): void {
    const list = machines.value.filter((m) => m.id !== id)
    if (machine) {
      const at = list.findIndex((m) => byName.compare(m.spec.name, machine.spec.name) > 0)
      list.splice(at < 0 ? list.length : at, 0, machine)
    }
    machines.value = list
  }

  async function refreshHosts(): Promise<void> {
    if (client) hosts.value = (await client.call('hosts.list', {})).hosts
  }

  /**
   * Binds the store to a connected client: loads everything and follows change events. The machine
   * list was asked for as the window connected (first): it is shown with the changes since.
   */
  async function hydrate(rpc: RpcClient, first: Promise<FirstList>): Promise<void> {
    client = rpc
    const machinesShown = first.then(({ list, follow }) => {
      show(list)
      follow(({ id, machine }) => patch(id, machine))
    })
    rpc.on('hosts.changed', () => void refreshHosts())
    await Promise.all([machinesShown, refreshHosts(), rpc.call('host.info', {}).then((info) => (host.value = info))])
  }

  /** Calls a method and refreshes afterwards, so the view never waits for the event. */
  async function act<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodOutput<M>> {
    if (!client) throw new Error('Not connected to Berth yet')
    try {
      return await client.call(method, input)
    } finally {
      void refresh()
    }
  }

  return { machines, broken, host, hosts, xenHosts, loaded, byId, hydrate, refresh, refreshHosts, act }
})
