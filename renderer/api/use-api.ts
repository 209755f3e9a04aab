import { shallowRef, ref } from 'vue'
import type { RpcClient } from '../../shared/rpc/client'

const client = shallowRef<RpcClient | null>(null)
const failure = ref<string | null>(null)

/** The one RPC client of this window, once connected. */
export function useApi() {
  return {
    client,
    failure,
    set(value: RpcClient) {
      client.value = value
      value.onDisconnect(() => (failure.value = 'The connection to Berth was lost. Restart Berth, then reload this page.'))
    },
    fail(message: string) {
      failure.value = message
    },
    require(): RpcClient {
      if (!client.value) throw new Error('Not connected to Berth yet')
      return client.value
    },
  }
}
