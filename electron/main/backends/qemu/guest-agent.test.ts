import { afterEach, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { guestFilesystems } from './guest-agent'

let server: Server | null = null
let dir: string | null = null
afterEach(() => {
  server?.close()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

/** An agent on a socket whose channel still holds what an earlier client left: junk and a stale sync answer. */
async function agentWithStaleAnswers(): Promise<string> {
  dir = mkdtempSync(join(tmpdir(), 'berth-qga-'))
  const path = join(dir, 'qga.sock')
  server = createServer((socket) => {
    socket.on('data', (data) => {
      const text = data.toString('latin1')
      const sync = /"guest-sync-delimited".*"id":\s*(\d+)/.exec(text)
      const ff = Buffer.from([0xff])
      // What was queued in the channel comes out first: junk, then an earlier client's sync answer.
      if (sync) socket.write(Buffer.concat([Buffer.from('{"junk": 1}\n'), ff, Buffer.from('{"return": 7}\n{"return": {}}\n'), ff, Buffer.from(`{"return": ${sync[1]}}\n`)]))
      else if (text.includes('guest-get-fsinfo')) socket.write('{"return": []}\n')
    })
  })
  await new Promise<void>((resolve) => server!.listen(path, resolve))
  return path
}

describe('the guest agent channel', () => {
  it('skips what an earlier client left, even its sync answer, and answers this session', async () => {
    expect(await guestFilesystems(await agentWithStaleAnswers())).toEqual([])
  })
})
