// Electron entry: one instance, one hardened window, the RPC over IPC. Machines outlive the window.
import { app, BrowserWindow, dialog, ipcMain, session, type WebContents } from 'electron'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createBerthServer, type BerthServer } from './server'
import { CHOOSE_FILE_CHANNEL, IPC_CHANNEL, ipcTransport, trustedSender, type IpcTransport } from './transports/ipc'
import { CONTENT_SECURITY_POLICY } from './csp'
import { chooseFile } from './file-dialog'

const rendererIndex = join(__dirname, '..', 'renderer', 'index.html')
const rendererUrl = pathToFileURL(rendererIndex).href

let berth: BerthServer | null = null
let window: BrowserWindow | null = null
/** The live transport for each window's web contents (a reload starts a new one). */
const transports = new Map<number, IpcTransport>()

function connect(contents: WebContents): IpcTransport {
  transports.get(contents.id)?.end()
  const transport = ipcTransport({
    post: (frame) => contents.send(IPC_CHANNEL, frame),
    alive: () => !contents.isDestroyed(),
  })
  transports.set(contents.id, transport)
  berth?.rpc.accept(transport)
  return transport
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1200,
    height: 800,
    title: 'Berth',
    show: false,
    webPreferences: {
      preload: join(__dirname, 'preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webviewTag: false,
      spellcheck: false,
    },
  })
  win.once('ready-to-show', () => win.show())
  const contents = win.webContents
  contents.on('did-start-loading', () => connect(contents))
  contents.on('destroyed', () => {
    transports.get(contents.id)?.end()
    transports.delete(contents.id)
  })
  void win.loadFile(rendererIndex)
  return win
}

if (!app.requestSingleInstanceLock()) {
  app.quit()
} else {
  app.on('second-instance', () => {
    if (window?.isMinimized()) window.restore()
    window?.focus()
  })

  app.on('web-contents-created', (_event, contents) => {
    contents.setWindowOpenHandler(() => ({ action: 'deny' }))
    contents.on('will-navigate', (event) => event.preventDefault())
    contents.on('will-attach-webview', (event) => event.preventDefault())
  })

  ipcMain.on(IPC_CHANNEL, (event, frame: unknown) => {
    if (!trustedSender(event, window, rendererUrl)) return
    transports.get(event.sender.id)?.receive(frame)
  })

  ipcMain.handle(CHOOSE_FILE_CHANNEL, async (event, kind: unknown) => {
    if (!trustedSender(event, window, rendererUrl) || !window) return null
    const parent = window
    return chooseFile(kind, (options) => dialog.showOpenDialog(parent, options))
  })

  void app.whenReady().then(async () => {
    session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
    session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } })
    })
    berth = await createBerthServer()
    berth.allowDisplayOrigin('file://') // the window's page is a file
    window = createWindow()
  })

  app.on('window-all-closed', () => {
    berth?.dispose() // running machines keep running; the next start re-attaches
    app.quit()
  })
}
