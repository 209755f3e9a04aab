import { describe, expect, it } from 'vitest'
import { extraArgsProblem } from './qemu-extra-args'

describe('extra QEMU arguments are an allow-list', () => {
  it('refuses every option that opens a file, a socket or a program, in every spelling', () => {
    const hostile = [
      ['-chardev', 'socket,id=x,path=/tmp/s'], ['--chardev', 'file,id=x,path=/etc/shadow'], ['-qmp', 'tcp:0:4444'],
      ['--qmp', 'unix:/tmp/q'], ['-qmp-pretty', 'tcp:0:1'], ['-incoming', 'exec:sh -c id'], ['-plugin', '/tmp/p.so'],
      ['-gdb', 'tcp::1234'], ['-s'], ['-netdev', 'bridge,id=n,br=virbr0'], ['-netdev', 'tap,id=t,script=/tmp/x'],
      ['-drive', 'file=/etc/shadow'], ['-blockdev', 'driver=file,filename=/etc/shadow,node-name=x'], ['-D', '/tmp/log'],
      ['-serial', 'file:/etc/passwd'], ['-monitor', 'stdio'], ['-mon', 'chardev=x'], ['-pidfile', '/tmp/p'], ['-daemonize'],
      ['-runas', 'root'], ['-sandbox', 'off'], ['-readconfig', '/tmp/c'], ['-object', 'memory-backend-file,id=m,mem-path=/etc'],
      ['-fsdev', 'local,id=f,path=/'], ['-virtfs', 'local,path=/,mount_tag=r'], ['-kernel', '/etc/shadow'], ['-loadvm', 'x'],
      ['-device', 'loader,file=/etc/shadow'], ['-device', 'vfio-pci,host=00:02.0'], ['-device', 'usb-host,hostbus=1'],
      ['-device', 'virtio-rng-pci,rng=r0,file=/x'], ['-boot', 'splash=/etc/shadow'], ['-smbios', 'file=/etc/shadow'],
      ['-rtc', 'base=utc; rm -rf /'], ['-machine', 'dumpdtb=/tmp/x'], ['-global', 'cfi.pflash01.x=y'], ['-trace', 'file=/tmp/t'],
    ]
    for (const args of hostile) expect(extraArgsProblem(args), args.join(' ')).not.toBeNull()
  })

  it('takes options that only tune the machine', () => {
    expect(extraArgsProblem(['-rtc', 'base=localtime,clock=host', '-overcommit', 'mem-lock=off', '-cpu', 'max,-pcid,+x2apic', '-no-hpet',
      '-device', 'virtio-balloon-pci,id=balloon0', '-device', 'usb-kbd', '-boot', 'menu=on,splash-time=0', '-k', 'de',
      '-smbios', 'type=1,serial=ABC123'])).toBeNull()
  })

  it('says what is wrong', () => {
    expect(extraArgsProblem(['-chardev', 'x'])).toMatch(/^-chardev is not allowed in extra arguments: they may only tune the machine \(-rtc, /)
    expect(extraArgsProblem(['-rtc'])).toBe('-rtc needs a value on the next line')
    expect(extraArgsProblem(['-device', 'loader,file=/etc/shadow'])).toBe('"loader,file=/etc/shadow" is not a value Berth allows for -device in extra arguments (no files, sockets, programs or host devices)')
  })
})
