// The preload is a frame pipe only (it knows no method names), plus the path of a dropped file and
// the desktop's file chooser.
// Sandboxed, context-isolated.
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron'
import { CHOOSE_FILE_CHANNEL, IPC_CHANNEL as CHANNEL } from '../main/transports/ipc'

contextBridge.exposeInMainWorld('berthBridge', {
  send(frame: unknown): void {
    ipcRenderer.send(CHANNEL, frame)
  },
  onFrame(listener: (frame: unknown) => void): () => void {
    const handler = (_event: IpcRendererEvent, frame: unknown) => listener(frame)
    ipcRenderer.on(CHANNEL, handler)
    return () => ipcRenderer.off(CHANNEL, handler)
  },
  /** A dropped file's path on this host: the image is used in place, never copied. */
  pathForFile(file: File): string {
    return webUtils.getPathForFile(file)
  },
  /** The desktop's open dialog for this kind of file (file-dialog.ts): the chosen path, or null. */
  chooseFile(kind: string): Promise<string | null> {
    return ipcRenderer.invoke(CHOOSE_FILE_CHANNEL, kind) as Promise<string | null>
  },
})
