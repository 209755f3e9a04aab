import { describe, expect, it } from 'vitest'
import { nspawnSpecSchema } from '../../../shared/model/container'
import { zodFieldErrors } from '../../../shared/model/zod-fields'
import { blankContainer, fromContainerSpec, newPort, toContainerSpec } from './container-form'

describe('the container form', () => {
  it("turns a container's settings into the form and back without loss", () => {
    const spec = nspawnSpecSchema.parse({
      kind: 'nspawn',
      name: 'web',
      root: '/var/lib/machines/web',
      privateNetwork: true,
      hostAddress: '10.0.0.1',
      localAddress: '10.0.0.2',
      forwardPorts: [{ protocol: 'tcp', hostPort: 8080, containerPort: 80 }],
      extraVeths: [{ name: 'vx0', hostAddress6: 'fc00:1::1', localAddress6: 'fc00:1::2' }],
      bindMounts: [{ mountPoint: '/srv', hostPath: '/home/me/srv', isReadOnly: true }],
      additionalCapabilities: ['CAP_NET_ADMIN'],
      init: { type: 'command', argv: ['/bin/sh', '-c', 'sleep 1'] },
    })
    expect(nspawnSpecSchema.parse(toContainerSpec(fromContainerSpec(spec)))).toEqual(spec)
  })

  it("names a row's problem by its path in the spec, as the main process does", () => {
    const form = { ...blankContainer(), name: 'ct', root: '/var/lib/machines/ct', privateNetwork: true, ports: [{ ...newPort(), hostPort: 70000 }] }
    const parsed = nspawnSpecSchema.safeParse(toContainerSpec(form))
    expect(parsed.success).toBe(false)
    expect(Object.keys(zodFieldErrors(parsed.error!))).toContain('forwardPorts.0.hostPort')
  })
})
