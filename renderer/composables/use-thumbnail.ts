// A small live picture of a running machine's screen: a QMP screendump at most every few seconds,
// and only while the page is visible; from the caller's setup until it unmounts.
import { onBeforeUnmount, ref } from 'vue'
import { useApi } from '../api/use-api'

const INTERVAL_MS = 5000

export function useThumbnail(machineId: string) {
  const api = useApi()
  const src = ref<string | null>(null)
  let timer: ReturnType<typeof setTimeout> | null = null
  let ended = false

  async function refresh() {
    timer = null
    if (document.visibilityState === 'visible') {
      try {
        const { png } = await api.require().call('display.screenshot', { id: machineId })
        src.value = `data:image/png;base64,${png}`
      } catch {
        // the machine stopped in between: its row drops the thumbnail
      }
    }
    if (!ended) timer = setTimeout(refresh, INTERVAL_MS)
  }

  void refresh()
  onBeforeUnmount(() => {
    ended = true
    if (timer) clearTimeout(timer)
  })
  return src
}
