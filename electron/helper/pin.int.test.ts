// What root checked is what nspawn gets: a folder held open and bind-mounted through its descriptor
// stays the checked folder when the caller swaps its path for a link after the check (run as root,
// real mounts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { hold, pin, pinFolder, scratchOver, stillAt, unpinAll } from './pin'

let dir = ''
beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('The pinning tests mount folders: they run as root (CI does)')
  dir = mkdtempSync('/tmp/berth-pin-')
})
afterAll(() => {
  unpinAll(join(dir, 'machines'), 0, 'c1')
  rmSync(dir, { recursive: true, force: true })
})

const mounted = (path: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === path)

describe('pinning a caller-named folder', () => {
  it('mounts the folder that was checked, not what its path names later; unpinning leaves the folder whole', () => {
    const root = join(dir, 'home', 'roots', 'c1')
    mkdirSync(join(root, 'etc'), { recursive: true })
    writeFileSync(join(root, 'etc', 'os-release'), 'ID=checked\n')
    const held = hold(root)
    expect(held.path).toBe(root)
    expect(stillAt(held)).toBe(true)

    // The caller swaps their folder for a link to the host's /etc after the check.
    renameSync(root, `${root}.moved`)
    symlinkSync('/etc', root)
    expect(stillAt(held)).toBe(false) // a check by path now would speak of something else
    expect(held.stats.isDirectory()).toBe(true)

    const place = pinFolder(join(dir, 'machines'), 0, 'c1')
    const [pinned] = pin(place, [{ name: 'root', file: held }])
    closeSync(held.fd)
    expect(mounted(pinned!)).toBe(true)
    expect(readFileSync(join(pinned!, 'etc', 'os-release'), 'utf8')).toBe('ID=checked\n')
    expect(readdirSync(pinned!)).toEqual(['etc'])

    unpinAll(join(dir, 'machines'), 0, 'c1')
    expect(mounted(pinned!)).toBe(false)
    expect(existsSync(place)).toBe(false)
    expect(readFileSync(join(`${root}.moved`, 'etc', 'os-release'), 'utf8')).toBe('ID=checked\n')
  })

  it('refuses a path that does not exist, saying which', () => {
    expect(() => hold(join(dir, 'nothing-here'))).toThrow(`${join(dir, 'nothing-here')} does not exist`)
  })

  it("an ephemeral container's changes go to a scratch layer that is thrown away; the root is untouched", () => {
    const root = join(dir, 'home', 'roots', 'eph')
    mkdirSync(root, { recursive: true })
    writeFileSync(join(root, 'kept'), 'original\n')
    const held = hold(root)
    const place = pinFolder(join(dir, 'machines'), 0, 'c1')
    const [lower] = pin(place, [{ name: 'root', file: held }])
    closeSync(held.fd)
    const merged = scratchOver(place, lower!)
    writeFileSync(join(merged, 'kept'), 'changed\n')
    writeFileSync(join(merged, 'new'), 'new\n')
    expect(readFileSync(join(root, 'kept'), 'utf8')).toBe('original\n')
    expect(existsSync(join(root, 'new'))).toBe(false)
    unpinAll(join(dir, 'machines'), 0, 'c1')
    expect(existsSync(place)).toBe(false)
    expect(readdirSync(root)).toEqual(['kept'])
  })
})
