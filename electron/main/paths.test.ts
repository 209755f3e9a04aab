import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensurePrivateFolders, resolvePaths } from './paths'

let base: string
beforeEach(() => (base = mkdtempSync(join(tmpdir(), 'berth-paths-'))))
afterEach(() => rmSync(base, { recursive: true, force: true }))
const own = (dir: string) => ({ ...resolvePaths({ BERTH_HOME: dir }), own: [dir] })

describe("Berth's own folders", () => {
  it('never fall back to a predictable name in /tmp', () => {
    const paths = resolvePaths({ HOME: '/home/someone' })
    expect([paths.runtime, ...paths.own].filter((p) => p.startsWith('/tmp'))).toEqual([])
  })

  it('are made 0700, and an existing one others can read is made private', () => {
    ensurePrivateFolders(own(join(base, 'new')))
    expect(statSync(join(base, 'new')).mode & 0o777).toBe(0o700)
    mkdirSync(join(base, 'open'), { mode: 0o755 })
    ensurePrivateFolders(own(join(base, 'open')))
    expect(statSync(join(base, 'open')).mode & 0o777).toBe(0o700)
  })

  it('refuse a symlink and a folder another user owns, saying what is wrong', () => {
    mkdirSync(join(base, 'elsewhere'))
    symlinkSync(join(base, 'elsewhere'), join(base, 'link'))
    expect(() => ensurePrivateFolders(own(join(base, 'link')))).toThrow(`${join(base, 'link')} is a symbolic link`)
    mkdirSync(join(base, 'theirs'), { mode: 0o700 })
    const me = process.getuid!()
    const other = me === 0 ? 65534 : me
    if (me === 0) chownSync(join(base, 'theirs'), other, other)
    expect(() => ensurePrivateFolders(own(join(base, 'theirs')), me === 0 ? 0 : me + 1)).toThrow(
      `${join(base, 'theirs')} belongs to user ${other}, not to you`,
    )
  })
})
