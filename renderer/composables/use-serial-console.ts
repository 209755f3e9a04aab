// Owns one xterm and its console stream for a component's lifetime; disposes both on unmount.
import { onBeforeUnmount, onMounted, ref, type Ref } from 'vue'
import { Terminal } from '@xterm/xterm'
import { FitAddon } from '@xterm/addon-fit'
import type { ClientStream } from '../../shared/rpc/client'
import type { StreamControl } from '../../shared/contract'
import { useApi } from '../api/use-api'

/** streamName: the machine's console, or a shell inside a running container. */
export function useSerialConsole(container: Ref<HTMLElement | null>, machineId: string, streamName: 'console.open' | 'shell.open' = 'console.open') {
  const api = useApi()
  const status = ref<'connecting' | 'open' | 'closed'>('connecting')
  /** Bytes of earlier output still to be drawn (the view says so while there are some). */
  const historyLeft = ref(0)
  const error = ref<string | null>(null)
  const terminal = new Terminal({ convertEol: false, scrollback: 10_000, fontSize: 13, cursorBlink: true })
  const fit = new FitAddon()
  terminal.loadAddon(fit)
  const encoder = new TextEncoder()
  let stream: ClientStream<StreamControl<'console.open'>> | null = null
  let disposed = false
  let observer: ResizeObserver | null = null

  async function open(): Promise<void> {
    status.value = 'connecting'
    try {
      stream = await api.require().openStream(streamName, { id: machineId }, {
        // Acknowledged once xterm has rendered the bytes: a slow view slows the stream, not the guest.
        onData: (bytes) =>
          new Promise<void>((resolve) =>
            terminal.write(bytes, () => {
              historyLeft.value = Math.max(0, historyLeft.value - bytes.length)
              resolve()
            }),
          ),
        onControl: ({ history }) => (historyLeft.value = history),
        onClose: (reason) => {
          stream = null
          if (disposed) return
          if (reason?.code === 'too_large') {
            terminal.reset() // fell behind: start over from the log
            void open()
          } else {
            status.value = 'closed'
            error.value = reason?.message ?? null
          }
        },
      })
      if (disposed) return stream.close()
      status.value = 'open'
      stream.control({ cols: terminal.cols, rows: terminal.rows })
    } catch (e) {
      status.value = 'closed'
      error.value = (e as Error).message
    }
  }

  // While earlier output is drawn, xterm answers the queries in it (cursor position, device
  // attributes): those answers are not keystrokes for the guest now, so nothing goes to it.
  const input = (bytes: Uint8Array) => historyLeft.value === 0 && stream?.write(bytes)
  terminal.onData((data) => input(encoder.encode(data)))
  terminal.onBinary((data) => input(Uint8Array.from(data, (c) => c.charCodeAt(0))))
  terminal.onResize(({ cols, rows }) => stream?.control({ cols, rows }))

  onMounted(() => {
    // After the frame that shows the view: a click that opens the console is answered at once,
    // and the terminal (and its scrollback) fills in right after.
    requestAnimationFrame(() => setTimeout(mount))
  })

  function mount() {
    if (disposed || !container.value) return
    terminal.open(container.value)
    fit.fit()
    observer = new ResizeObserver(() => fit.fit())
    observer.observe(container.value)
    terminal.focus()
    void open()
  }

  onBeforeUnmount(() => {
    disposed = true
    observer?.disconnect()
    stream?.close()
    terminal.dispose()
  })

  /** Everything the terminal holds, scrollback included, as text. */
  function allText(): string {
    terminal.selectAll()
    const text = terminal.getSelection()
    terminal.clearSelection()
    return text
  }

  return { status, error, historyLeft, allText, focus: () => terminal.focus() }
}
