import { describe, expect, it } from 'vitest'
import { cloudInitSchema } from '../../../../shared/model/cloud-init'
import { seedFiles } from './cloud-init'

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMh0o0w8lJ3y2Sg8kqJ2mIHd0a1X8a1RzY5Q8mTQ6b6P you@laptop'

describe('the NoCloud seed', () => {
  it('writes the user with the key and no password login, as JSON a YAML reader takes as it is', () => {
    const config = cloudInitSchema.parse({ hostname: 'web1', user: 'ann', sshKeys: [key] })
    const seed = seedFiles('abcdefabcdef', config)
    expect(seed['user-data'].startsWith('#cloud-config\n')).toBe(true)
    const data = JSON.parse(seed['user-data'].slice('#cloud-config\n'.length))
    expect(data).toMatchObject({ hostname: 'web1', ssh_pwauth: false, users: [{ name: 'ann', lock_passwd: true, ssh_authorized_keys: [key] }] })
    expect(data.users[0]).not.toHaveProperty('passwd')
    expect(JSON.parse(seed['meta-data'])).toEqual({ 'instance-id': expect.stringMatching(/^berth-abcdefabcdef-[0-9a-f]{12}$/), 'local-hostname': 'web1' })
  })

  it('a new instance id when the settings change, so cloud-init applies them again', () => {
    const a = seedFiles('abcdefabcdef', cloudInitSchema.parse({ hostname: 'web1', user: 'ann', sshKeys: [key] }))
    const b = seedFiles('abcdefabcdef', cloudInitSchema.parse({ hostname: 'web2', user: 'ann', sshKeys: [key] }))
    expect(JSON.parse(a['meta-data'])['instance-id']).not.toBe(JSON.parse(b['meta-data'])['instance-id'])
  })

  it('the person’s own user-data goes in unchanged', () => {
    const config = cloudInitSchema.parse({ hostname: 'web1', user: 'ann', userData: '#!/bin/sh\necho hi\n' })
    expect(seedFiles('abcdefabcdef', config)['user-data']).toBe('#!/bin/sh\necho hi\n')
  })

  it('refuses settings that would lock everyone out, or that are not what they claim', () => {
    const refused = (input: object) => cloudInitSchema.safeParse(input).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
    expect(refused({ hostname: 'web1', user: 'ann' })).toEqual(['sshKeys: Give ann a password or an SSH key, or nobody can log in'])
    expect(refused({ hostname: 'web1\nruncmd', user: 'ann', sshKeys: [key] })?.[0]).toMatch(/^hostname: A host name is/)
    expect(refused({ hostname: 'web1', user: 'Root Admin', sshKeys: [key] })?.[0]).toMatch(/^user: /)
    expect(refused({ hostname: 'web1', user: 'ann', sshKeys: ['ssh-ed25519 AAAA\nruncmd: [x]'] })?.[0]).toMatch(/^sshKeys.0: Not an SSH public key/)
    expect(refused({ hostname: 'web1', user: 'ann', passwordHash: 'secret' })?.[0]).toMatch(/^passwordHash: Not a SHA-512 crypt hash/)
  })
})
