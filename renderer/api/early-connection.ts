// The window's first act (main.ts imports this before Vue and the app): connect to Berth and ask for
// the machine list while the rest of the window's code is still evaluated, so the list is on its way
// before the app mounts.
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
