// Owns the VNC (noVNC) or SPICE (spice-html5) client of one machine's screen for a component's
// lifetime: connects while the machine runs, reconnects after a restart, disconnects on unmount.
import { onBeforeUnmount, ref, watch, type Ref } from 'vue'
import RFB from '@novnc/novnc'
import { SpiceMainConn, sendCtrlAltDel as spiceCtrlAltDel } from '@spice-project/spice-html5'
import { useApi } from '../api/use-api'

/** X11 keysyms for the key combinations offered next to the screen. */
const keysyms = { Control_L: 0xffe3, Alt_L: 0xffe9, F1: 0xffbe, F2: 0xffbf, BackSpace: 0xff08 } as const
type Key = keyof typeof keysyms
const codes: Record<Key, string> = { Control_L: 'ControlLeft', Alt_L: 'AltLeft', F1: 'F1', F2: 'F2', BackSpace: 'Backspace' }

export function useRemoteDisplay(screen: Ref<HTMLElement | null>, machineId: string, running: Ref<boolean>) {
  const api = useApi()
  const status = ref<'stopped' | 'connecting' | 'connected' | 'disconnected'>('stopped')
  const protocol = ref<'vnc' | 'spice' | null>(null)
  const error = ref<string | null>(null)
  const captured = ref(false)
  const fit = ref(true)
  let rfb: RFB | null = null
  let spice: SpiceMainConn | null = null
  let generation = 0

  function disconnect() {
    generation++
    rfb?.disconnect()
    spice?.stop()
    rfb = null
    spice = null
    if (screen.value) screen.value.replaceChildren()
  }

  async function connect() {
    disconnect()
    const mine = generation
    if (!screen.value) return
    status.value = 'connecting'
    error.value = null
    try {
      const display = await api.require().call('display.open', { id: machineId })
      if (mine !== generation || !screen.value) return
      protocol.value = display.protocol
      if (display.protocol === 'vnc') {
        rfb = new RFB(screen.value, display.url, { wsProtocols: ['binary'] })
        rfb.scaleViewport = fit.value
        rfb.addEventListener('connect', () => (status.value = 'connected'))
        rfb.addEventListener('disconnect', () => mine === generation && (status.value = 'disconnected'))
      } else {
        spice = new SpiceMainConn({
          uri: display.url,
          password: '',
          screen_id: screen.value.id,
          onsuccess: () => (status.value = 'connected'),
          onerror: (e) => {
            if (mine !== generation) return
            status.value = 'disconnected'
            error.value = e.message
          },
        })
      }
    } catch (e) {
      status.value = 'disconnected'
      error.value = (e as Error).message
    }
  }

  // A restarted machine gets a new QEMU: connect again whenever it runs.
  watch(
    [running, screen],
    ([isRunning, element]) => {
      if (isRunning && element) void connect()
      else if (!isRunning) {
        disconnect()
        status.value = 'stopped'
      }
    },
    { immediate: true },
  )
  watch(fit, (value) => rfb && (rfb.scaleViewport = value))

  /** Keys go to the guest while the screen has the focus: say so. */
  function onFocusChange() {
    captured.value = Boolean(screen.value?.contains(document.activeElement))
  }
  document.addEventListener('focusin', onFocusChange)
  document.addEventListener('focusout', onFocusChange)

  onBeforeUnmount(() => {
    document.removeEventListener('focusin', onFocusChange)
    document.removeEventListener('focusout', onFocusChange)
    disconnect()
  })

  return {
    status,
    protocol,
    error,
    captured,
    fit,
    reconnect: connect,
    sendCtrlAltDel() {
      if (rfb) rfb.sendCtrlAltDel()
      else if (spice) spiceCtrlAltDel(spice)
    },
    /** Presses the keys in order and releases them in reverse (VNC). */
    sendCombo(keys: Key[]) {
      if (!rfb) return
      for (const key of keys) rfb.sendKey(keysyms[key], codes[key], true)
      for (const key of [...keys].reverse()) rfb.sendKey(keysyms[key], codes[key], false)
    },
    fullScreen() {
      void screen.value?.parentElement?.requestFullscreen()
    },
  }
}
