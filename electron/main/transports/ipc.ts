// The Electron IPC transport, without importing electron: index.ts hands in the window's pipe.
import { Emitter, type Transport } from '../../../shared/rpc/transport'
import type { Frame } from '../../../shared/rpc/protocol'

/** The one IPC channel of Berth's frames, for main and preload alike. */
export const IPC_CHANNEL = 'berth:frame'
/** The Electron window's file chooser (file-dialog.ts): the page names a kind, main answers with a path. */
export const CHOOSE_FILE_CHANNEL = 'berth:choose-file'

/** What trustedSender needs of an IPC event (Electron's IpcMainEvent has it). */
export interface IpcSenderInfo {
  sender: { id: number; mainFrame: unknown }
  senderFrame: { url: string } | null
}

/** Only Berth's own top-level page in Berth's own window may talk to the main process. */
export function trustedSender(event: IpcSenderInfo, window: { webContents: unknown } | null, rendererUrl: string): boolean {
  const frame = event.senderFrame
  return (
    window !== null &&
    event.sender === window.webContents &&
    frame !== null &&
    frame === event.sender.mainFrame &&
    frame.url.split('#')[0] === rendererUrl
  )
}

export interface IpcPipe {
  /** Frames to the renderer (webContents.send). */
  post(frame: Frame): void
  /** Whether the window is still there to receive. */
  alive(): boolean
}

export interface IpcTransport extends Transport {
  /** Called by index.ts for each frame from the window's own, validated sender. */
  receive(frame: unknown): void
  /** Called when the window's web contents go away or reload. */
  end(): void
}

export function ipcTransport(pipe: IpcPipe): IpcTransport {
  const frames = new Emitter<unknown>()
  const closes = new Emitter<void>()
  let open = true
  return {
    send(frame) {
      if (open && pipe.alive()) pipe.post(frame)
    },
    onFrame: (listener) => frames.on(listener),
    onClose: (listener) => closes.on(listener),
    close() {
      this.end()
    },
    receive(frame) {
      if (open) frames.emit(frame)
    },
    end() {
      if (!open) return
      open = false
      closes.emit()
    },
  }
}
