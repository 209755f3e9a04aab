// The Electron IPC transport, without importing electron: index.ts hands in the window's pipe.
import { Emitter, type Transport } from '../../../shared/rpc/transport'
import type { Frame } from '../../../shared/rpc/protocol'

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
