// One action at a time on a page or panel: which one runs (its label, for "Starting…" and disabled
// buttons) and why the last one failed. Every page's try/catch in one place.
import { ref } from 'vue'

export function useAction() {
  const busy = ref<string | null>(null)
  const error = ref<string | null>(null)

  /** Runs work under label; a failure's message goes to error (onError sees the error too) and run resolves with undefined. */
  async function run<T>(label: string, work: () => Promise<T>, onError?: (failure: unknown) => void): Promise<T | undefined> {
    busy.value = label
    error.value = null
    try {
      return await work()
    } catch (failure) {
      error.value = failure instanceof Error ? failure.message : String(failure)
      onError?.(failure)
      return undefined
    } finally {
      busy.value = null
    }
  }

  return { busy, error, run }
}
