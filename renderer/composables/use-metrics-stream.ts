// A metrics stream (one machine's, or this computer's) open for as long as the component is mounted:
// its updates go to onUpdate, and why it could not open or was closed to `error`.
import { onBeforeUnmount, onMounted, ref } from 'vue'
import type { StreamInput, StreamServerControl } from '../../shared/contract'
import type { ClientStream } from '../../shared/rpc/client'
import { useApi } from '../api/use-api'

type MetricsStream = 'metrics.watch' | 'metrics.host'

export function useMetricsStream<S extends MetricsStream>(name: S, input: StreamInput<S>, onUpdate: (update: StreamServerControl<S>) => void) {
  const api = useApi()
  const error = ref<string | null>(null)
  let stream: ClientStream<unknown> | null = null
  let disposed = false
  onMounted(async () => {
    try {
      stream = await api.require().openStream(name, input, {
        onData: () => undefined,
        onControl: onUpdate,
        onClose: (reason) => {
          if (!disposed && reason) error.value = reason.message
        },
      })
      if (disposed) stream.close()
    } catch (e) {
      error.value = (e as Error).message
    }
  })
  onBeforeUnmount(() => {
    disposed = true
    stream?.close()
  })
  return { error }
}
