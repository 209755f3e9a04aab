import { describe, expect, it } from 'vitest'
import { unsafeFileName } from './image'

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
