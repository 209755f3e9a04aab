// The preload is a frame pipe only: it knows no method names. Sandboxed, context-isolated.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'

const CHANNEL = 'berth:frame'

contextBridge.exposeInMainWorld('berthBridge', {
  send(frame: unknown): void {
    ipcRenderer.send(CHANNEL, frame)
  },
  onFrame(listener: (frame: unknown) => void): () => void {
    const handler = (_event: IpcRendererEvent, frame: unknown) => listener(frame)
    ipcRenderer.on(CHANNEL, handler)
    return () => ipcRenderer.off(CHANNEL, handler)
  },
})
