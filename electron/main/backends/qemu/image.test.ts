import { describe, expect, it } from 'vitest'
import { imageOpts, unsafeFileName } from './image'

describe('backing and data file names', () => {
  it('refuses every name QEMU would read as a protocol or a json: description', () => {
    for (const name of ['nbd://10.0.0.1/x', 'nbd:127.0.0.1:10809', 'ssh://host/disk', 'http://x/y.img', 'json:{"driver":"file"}', 'host_device:/dev/sda', 'file:/etc/shadow', 'gluster+tcp://h/v/i'])
      expect(unsafeFileName(name), name).toBe(true)
  })
  it('takes plain paths, relative or absolute, even with colons past the first slash', () => {
    for (const name of ['/var/lib/images/base.qcow2', 'base.qcow2', '../base.qcow2', './a:b.qcow2', '/srv/a:b.img'])
      expect(unsafeFileName(name), name).toBe(false)
  })
})

describe('qemu-img --image-opts', () => {
  it('states every format and stops the chain where Berth recorded its end', () => {
    expect(imageOpts({ file: '/i/a.raw', format: 'raw' })).toBe('driver=raw,file.driver=file,file.filename=/i/a.raw')
    expect(imageOpts({ file: '/i/a,b.qcow2', format: 'qcow2' })).toBe('driver=qcow2,file.driver=file,file.filename=/i/a,,b.qcow2,backing=')
    expect(imageOpts({ file: '/i/top.qcow2', format: 'qcow2' }, [{ file: '/i/base.raw', format: 'raw' }])).toBe(
      'driver=qcow2,file.driver=file,file.filename=/i/top.qcow2,backing.driver=raw,backing.file.driver=file,backing.file.filename=/i/base.raw',
    )
    expect(imageOpts({ file: '/t', format: 'qcow2' }, [{ file: '/b', format: 'qcow2' }])).toMatch(/backing\.file\.filename=\/b,backing\.backing=$/)
  })
})
