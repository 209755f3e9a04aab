import { describe, expect, it, vi } from 'vitest'
import { chooseFile } from './file-dialog'

describe('the window’s file chooser', () => {
  it('opens the desktop dialog filtered by the kind, and returns the chosen path or null', async () => {
    const show = vi.fn().mockResolvedValue({ canceled: false, filePaths: ['/home/a/debian.iso'] })
    expect(await chooseFile('iso', show)).toBe('/home/a/debian.iso')
    expect(show).toHaveBeenCalledWith({
      title: 'Choose: Installation media (ISO)',
      properties: ['openFile'],
      filters: [{ name: 'Installation media (ISO)', extensions: ['iso'] }, { name: 'All files', extensions: ['*'] }],
    })
    show.mockResolvedValue({ canceled: true, filePaths: [] })
    expect(await chooseFile('disk', show)).toBeNull()
  })

  it('opens nothing for a kind it does not know (the page is not trusted)', async () => {
    const show = vi.fn()
    expect(await chooseFile('../../etc', show)).toBeNull()
    expect(await chooseFile({ toString: () => 'iso' }, show)).toBeNull()
    expect(show).not.toHaveBeenCalled()
  })
})
