// This computer as one more series of the sampler: its CPU (all CPUs, in % of one) and memory in use.
import { hostCounters } from '../backends/host-counters'
import type { MetricsSource } from './metrics-service'

export const HOST_SERIES = 'host'

/** The machines' source with this computer added under HOST_SERIES. */
export function withHost(machines: MetricsSource): MetricsSource {
  return {
    running: () => [HOST_SERIES, ...machines.running()],
    exists: (id) => id === HOST_SERIES || machines.exists(id),
    counters: async (id, timeoutMs) => {
      if (id !== HOST_SERIES) return machines.counters(id, timeoutMs)
      const host = hostCounters()
      return host && { ...host, readBytes: null, writeBytes: null, rxBytes: null, txBytes: null, unmeasured: [] }
    },
  }
}
