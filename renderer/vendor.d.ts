// Types for the display clients, which ship JavaScript only (the parts Berth uses).
declare module '@novnc/novnc' {
  export default class RFB extends EventTarget {
    constructor(target: HTMLElement, url: string, options?: { wsProtocols?: string[]; shared?: boolean })
    scaleViewport: boolean
    clipViewport: boolean
    resizeSession: boolean
    focusOnClick: boolean
    viewOnly: boolean
    disconnect(): void
    sendCtrlAltDel(): void
    sendKey(keysym: number, code: string | null, down?: boolean): void
    focus(): void
  }
}

declare module '@spice-project/spice-html5' {
  export class SpiceMainConn {
    constructor(options: {
      uri: string
      password: string
      screen_id: string
      onerror?: (error: Error) => void
      onsuccess?: () => void
    })
    stop(): void
  }
  export function sendCtrlAltDel(connection: SpiceMainConn): void
}
