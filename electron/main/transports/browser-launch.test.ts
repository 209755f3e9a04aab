import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { announcement, openInBrowser, writeAddressFile } from './browser-launch'

const token = 'f00d'.repeat(12)
const url = `http://127.0.0.1:4567/#token=${token}`
let dir: string
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'berth-launch-'))))
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('browser mode hands out its token privately', () => {
  it('opens the browser on a 0600 page: no argv it spawns holds the token', () => {
    const spawned: string[][] = []
    const page = openInBrowser(dir, url, (command, argv) => spawned.push([command, ...argv]))
    expect(spawned).toEqual([['xdg-open', page]])
    expect(spawned.flat().join(' ')).not.toContain(token)
    expect(statSync(page).mode & 0o777).toBe(0o600)
    expect(readFileSync(page, 'utf8')).toContain(JSON.stringify(url))
  })

  it('prints the token only to a terminal; elsewhere it names the 0600 file that holds it', () => {
    const file = writeAddressFile(dir, url)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, 'utf8')).toBe(`${url}\n`)
    expect(announcement(url, file, true)).toBe(`Berth is serving at ${url}`)
    const logged = announcement(url, file, false)
    expect(logged).toBe(`Berth is serving at http://127.0.0.1:4567/ (address with the access token: ${file})`)
    expect(logged).not.toContain(token)
  })
})
