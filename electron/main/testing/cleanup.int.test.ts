import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { removeTestHome } from './cleanup'

describe('a test home removed with a mount left in it (a killed container supervisor leaves its pinned root)', () => {
  const outside = mkdtempSync(join(tmpdir(), 'berth-cleanup-source-'))
  afterAll(() => rmSync(outside, { recursive: true, force: true }))

  it('is unmounted first, so the mount source keeps every file', async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-cleanup-home-'))
    writeFileSync(join(outside, 'keep'), 'kept')
    const place = join(home, 'var-lib-machines', '.berth-pinned', '0', 'abc.1', 'root')
    mkdirSync(place, { recursive: true })
    const mounted = spawnSync('mount', ['--bind', outside, place], { encoding: 'utf8' })
    expect(mounted.stderr).toBe('')
    await removeTestHome(home)
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(home)
    expect(existsSync(home)).toBe(false)
    expect(readFileSync(join(outside, 'keep'), 'utf8')).toBe('kept')
  })
})
