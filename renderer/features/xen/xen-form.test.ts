import { describe, expect, it } from 'vitest'
import { xenSpecSchema } from '../../../shared/model/xen'
import { fromXenSpec, toXenSpec } from './xen-form'

describe('the Xen form', () => {
  it("a new domain's defaults: PVH on the first Xen host, its console on hvc0", () => {
    const form = fromXenSpec(null, 'hxenhost001')
    expect(form).toMatchObject({ host: 'hxenhost001', type: 'pvh', memoryMiB: 512, vcpus: 1, cmdline: 'console=hvc0', maxMemoryMiB: '' })
    expect(toXenSpec({ ...form, name: 'd1', kernel: ' /boot/vmlinuz ', ramdisk: '  ' })).toMatchObject({ kernel: '/boot/vmlinuz', ramdisk: undefined, maxMemoryMiB: undefined })
  })

  it("turns a domain's settings into the form and back without loss; an interface without a bridge joins xenbr0", () => {
    const spec = xenSpecSchema.parse({
      kind: 'xen',
      host: 'hxenhost001',
      name: 'web',
      type: 'pv',
      memoryMiB: 256,
      maxMemoryMiB: 512,
      vcpus: 2,
      kernel: '/boot/vmlinuz',
      disks: [{ target: '/var/lib/xen/web.img', vdev: 'xvda', format: 'raw', access: 'rw' }],
      interfaces: [{ bridge: 'xenbr1', mac: '00:16:3e:00:00:01' }],
      shares: [{ tag: 'data', path: '/srv/data' }],
    })
    expect(xenSpecSchema.parse(toXenSpec(fromXenSpec(spec, 'other')))).toEqual(spec)
    const form = fromXenSpec(spec, 'other')
    form.interfaces = [{ bridge: ' ', mac: '' }]
    expect(toXenSpec(form).interfaces).toEqual([{ bridge: 'xenbr0', mac: undefined }])
  })
})
