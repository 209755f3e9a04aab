// The preload's whole surface, with Electron faked: exactly a frame pipe on Berth's one channel and
// the path of a dropped file; nothing else reaches the page.
import { describe, expect, it, vi } from 'vitest'
import { IPC_CHANNEL } from '../main/transports/ipc'

const electron = vi.hoisted(() => ({
  exposed: new Map<string, Record<string, (...args: unknown[]) => unknown>>(),
  sent: [] as unknown[][],
  listeners: new Map<string, Set<(...args: unknown[]) => void>>(),
}))

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, api: Record<string, (...args: unknown[]) => unknown>) => electron.exposed.set(key, api) },
  ipcRenderer: {
    send: (...args: unknown[]) => electron.sent.push(args),
    on: (channel: string, l: (...args: unknown[]) => void) => electron.listeners.set(channel, new Set([...(electron.listeners.get(channel) ?? []), l])),
    off: (channel: string, l: (...args: unknown[]) => void) => electron.listeners.get(channel)?.delete(l),
    invoke: (...args: unknown[]) => Promise.resolve(electron.sent.push(args) && '/home/someone/debian.iso'),
  },
  webUtils: { getPathForFile: (file: { name: string }) => `/home/someone/${file.name}` },
}))

describe('the preload', () => {
  it('exposes only berthBridge: send, onFrame, pathForFile and chooseFile', async () => {
    await import('./index')
    expect([...electron.exposed.keys()]).toEqual(['berthBridge'])
    const bridge = electron.exposed.get('berthBridge')!
    expect(Object.keys(bridge).sort()).toEqual(['chooseFile', 'onFrame', 'pathForFile', 'send'])

    bridge.send!({ t: 'call', id: 1 })
    expect(electron.sent).toEqual([[IPC_CHANNEL, { t: 'call', id: 1 }]])

    const frames: unknown[] = []
    const stop = bridge.onFrame!((frame: unknown) => frames.push(frame)) as () => void
    for (const l of electron.listeners.get(IPC_CHANNEL)!) l({ sender: 'event' }, { t: 'result', id: 1 })
    expect(frames).toEqual([{ t: 'result', id: 1 }]) // the event itself never reaches the page
    stop()
    expect(electron.listeners.get(IPC_CHANNEL)!.size).toBe(0)
    expect(bridge.pathForFile!({ name: 'disk.qcow2' })).toBe('/home/someone/disk.qcow2')
    // The chooser says only which kind of file; the main process opens the dialog.
    electron.sent.length = 0
    expect(await bridge.chooseFile!('iso')).toBe('/home/someone/debian.iso')
    expect(electron.sent).toEqual([['berth:choose-file', 'iso']])
  })
})
