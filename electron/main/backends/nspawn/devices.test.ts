import { describe, expect, it } from 'vitest'
import { deviceRules } from './devices'

describe('device rules', () => {
  it('start from the closed policy and add each allowed node by its numbers and modifier', () => {
    const rules = deviceRules([
      { node: '/dev/null', modifier: 'r' },
      { node: '/dev/urandom', modifier: 'rw' },
    ])
    expect(rules).toContain('c 136:* rw')
    expect(rules.slice(-2)).toEqual(['c 1:3 r', 'c 1:9 rw'])
  })
  it('refuse what is not a device node', () => {
    expect(() => deviceRules([{ node: '/dev/shm', modifier: 'r' }])).toThrow('/dev/shm is not a device node')
  })
})
