/// <reference types="vite/client" />
import type { Frame } from '../shared/rpc/protocol'

declare global {
  interface Window {
    /** Present in the Electron window only: the preload's frame pipe. */
    berthBridge?: {
      send(frame: Frame): void
      onFrame(listener: (frame: unknown) => void): () => void
      pathForFile(file: File): string
      chooseFile(kind: string): Promise<string | null>
    }
  }
}

declare module '*.vue' {
  import type { DefineComponent } from 'vue'
  const component: DefineComponent<object, object, unknown>
  export default component
}
