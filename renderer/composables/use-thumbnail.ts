// A small live picture of a running machine's screen: a QMP screendump at most every few seconds,
// and only while the page is visible.
import { onBeforeUnmount, ref, watch, type Ref } from 'vue'
import { useApi } from '../api/use-api'

const INTERVAL_MS = 5000

export function useThumbnail(machineId: string, enabled: Ref<boolean>) {
  const api = useApi()
  const src = ref<string | null>(null)
  let timer: ReturnType<typeof setTimeout> | null = null

  async function refresh() {
    timer = null
    if (!enabled.value) return
    if (document.visibilityState === 'visible') {
      try {
        const { png } = await api.require().call('display.screenshot', { id: machineId })
        src.value = `data:image/png;base64,${png}`
      } catch {
        // the machine stopped in between: the next state change decides
      }
    }
    if (enabled.value && timer === null) timer = setTimeout(refresh, INTERVAL_MS)
  }

  watch(
    enabled,
    (on) => {
      if (timer) clearTimeout(timer)
      timer = null
      if (on) void refresh()
      else src.value = null
    },
    { immediate: true },
  )
  onBeforeUnmount(() => timer && clearTimeout(timer))
  return src
}
