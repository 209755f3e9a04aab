import { describe, expect, it } from 'vitest'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { blacklisting } from './readiness'

describe('modprobe.d blacklisting (modprobe.nix)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'modprobe-'))
  writeFileSync(join(dir, 'nixos.conf'), '# comment\noptions kvm_intel nested=1\nblacklist macvlan\n')
  writeFileSync(join(dir, 'disable-tun.conf'), 'install tun /bin/false\ninstall bridge /sbin/modprobe --ignore-install bridge\n')
  it('names the file and line that blacklists a module', () => {
    expect(blacklisting('macvlan', [dir])).toBe(`${join(dir, 'nixos.conf')}:3: blacklist macvlan`)
    expect(blacklisting('tun', [dir])).toBe(`${join(dir, 'disable-tun.conf')}:1: install tun /bin/false`)
  })
  it('an install line that still loads the module, or no line at all, is not a blacklisting', () => {
    expect(blacklisting('bridge', [dir])).toBeNull()
    expect(blacklisting('tap', [dir, '/nonexistent'])).toBeNull()
  })
})
