import { describe, expect, it } from 'vitest'
import { forwardPortSchema } from './network'
import { zodFieldErrors } from './zod-fields'

const check = (rule: unknown) => {
  const result = forwardPortSchema.safeParse(rule)
  return result.success ? {} : zodFieldErrors(result.error)
}

describe('forwarded ports (qemu-vm.nix rules)', () => {
  it('defaults like the module: from host, tcp, empty addresses', () => {
    expect(forwardPortSchema.parse({ host: { port: 2222 }, guest: { port: 22 } })).toEqual({
      from: 'host',
      proto: 'tcp',
      host: { address: '', port: 2222 },
      guest: { address: '', port: 22 },
    })
  })

  it('guest forwarding is TCP only, to an address in 10.0.2.0/24', () => {
    expect(check({ from: 'guest', proto: 'udp', host: { address: '127.0.0.1', port: 80 }, guest: { address: '10.0.2.10', port: 80 } })).toEqual({
      proto: 'Guest forwarding supports only TCP connections',
    })
    expect(check({ from: 'guest', host: { port: 80 }, guest: { address: '192.168.1.5', port: 80 } })).toEqual({
      'guest.address': 'The address must be in the default VLAN (10.0.2.0/24)',
    })
  })

  it('ports and addresses must be valid', () => {
    expect(check({ host: { port: 70000 }, guest: { port: 0 } })).toEqual({
      'host.port': 'Ports end at 65535',
      'guest.port': 'Ports start at 1',
    })
    expect(check({ host: { address: 'localhost', port: 1 }, guest: { port: 1 } })['host.address']).toMatch(/IPv4/)
  })
})
