import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogAppender } from './log-appender'

let dir = ''
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('LogAppender', () => {
  it('appends in order and hands each chunk on only once it is in the log', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-appender-'))
    const log = join(dir, 'console.log')
    const appender = new LogAppender(log)
    const handed: string[] = []
    for (let i = 0; i < 200; i++)
      appender.append(Buffer.from(`line-${i}\n`), (chunk) => {
        // what is handed on is already in the file, up to and including this chunk
        expect(readFileSync(log, 'utf8').endsWith(chunk.toString())).toBe(true)
        handed.push(chunk.toString())
      })
    await appender.close()
    const expected = Array.from({ length: 200 }, (_, i) => `line-${i}\n`)
    expect(handed).toEqual(expected)
    expect(readFileSync(log, 'utf8')).toBe(expected.join(''))
    expect(statSync(log).mode & 0o777).toBe(0o600)
  })
})
