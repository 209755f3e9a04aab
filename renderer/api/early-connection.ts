// The window's first act, as its own small entry (index.html loads it before the app): connect to
// Berth and ask for the machine list while Vue and the views are still being fetched and evaluated,
// so the list's data has usually arrived by the time the app mounts.
import { connect, takeSessionToken } from './client'
import type { RpcClient } from '../../shared/rpc/client'
import type { EventPayload, MethodOutput } from '../../shared/contract'

export interface FirstList {
  list: MethodOutput<'machines.list'>
  /** Changes announced after the list was made, in order; then each new one, once follow is called. */
  follow(listener: (change: EventPayload<'machines.changed'>) => void): void
}

takeSessionToken()
export const connecting: Promise<RpcClient> = connect()

/** Asks for the list and records the changes that arrive after its answer, until the store follows them itself. */
export const firstList: Promise<FirstList> = connecting.then(async (client) => {
  let listed = false
  let live: ((change: EventPayload<'machines.changed'>) => void) | null = null
  const early: EventPayload<'machines.changed'>[] = []
  client.on('machines.changed', (change) => (live ? live(change) : listed && early.push(change)))
  const list = await client.call('machines.list', {})
  listed = true
  return {
    list,
    follow(listener) {
      for (const change of early.splice(0)) listener(change)
      live = listener
    },
  }
})
