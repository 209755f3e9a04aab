import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { shellQuote } from './connection'
import { describeHostKey } from './ssh-connection'

describe('SSH plumbing', () => {
  it('host key fingerprints match what OpenSSH shows', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-key-'))
    try {
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')])
      const blob = Buffer.from(readFileSync(join(dir, 'k.pub'), 'utf8').split(' ')[1]!, 'base64')
      const openssh = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ')[1]
      expect(describeHostKey(blob)).toEqual({ algorithm: 'ssh-ed25519', fingerprint: openssh })
    } finally {
      rmSync(dir, { recursive: true })
    }
  })

  it('argv is quoted so the remote shell gives back exactly these arguments', () => {
    const argv = ['xl', 'create', "/var/lib/it's here/x.cfg", '$(reboot)', 'a;b', '`id`', '', 'plain-1.cfg']
    expect(shellQuote(argv)).toBe(`xl create '/var/lib/it'\\''s here/x.cfg' '$(reboot)' 'a;b' '\`id\`' '' plain-1.cfg`)
    const echoed = execFileSync('sh', ['-c', `for a in ${shellQuote(argv.slice(1))}; do printf '%s\\n' "$a"; done`], { encoding: 'utf8' })
    expect(echoed).toBe(argv.slice(1).map((a) => `${a}\n`).join(''))
  })
})
