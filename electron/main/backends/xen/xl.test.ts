import { describe, expect, it } from 'vitest'
import { xenSpecSchema, type XenSpecInput } from '../../../../shared/model/xen'
import { zodFieldErrors } from '../../../../shared/model/zod-fields'
import { dom0Info, parseXlInfo, parseXlList, xlConfig, xlMessage } from './xl'

const spec = (extra: Partial<XenSpecInput> = {}) =>
  xenSpecSchema.parse({ kind: 'xen', name: 'web', host: 'habcdefghij', memoryMiB: 512, vcpus: 2, kernel: '/boot/vmlinuz', ...extra })
const errors = (extra: Partial<XenSpecInput>) => {
  const result = xenSpecSchema.safeParse({ kind: 'xen', name: 'web', host: 'local', memoryMiB: 512, vcpus: 1, kernel: '/k', ...extra })
  return result.success ? {} : zodFieldErrors(result.error)
}

describe('domain spec → xl.cfg', () => {
  it('a PVH domain booting a kernel: the minimal config', () => {
    expect(xlConfig('m1', spec())).toBe(
      [
        '# Made by Berth for machine m1; Berth rewrites it at every start.',
        'name = "web"',
        'type = "pvh"',
        'memory = 512',
        'vcpus = 2',
        'kernel = "/boot/vmlinuz"',
        'on_poweroff = "destroy"',
        'on_reboot = "restart"',
        'on_crash = "preserve"',
        '',
      ].join('\n'),
    )
  })

  it('PV with ramdisk, command line, balloon ceiling, disks, interfaces on xenbr0 and 9pfs shares', () => {
    const text = xlConfig(
      'm2',
      spec({
        type: 'pv',
        maxMemoryMiB: 1024,
        ramdisk: '/boot/initrd.img',
        cmdline: 'console=hvc0 root=/dev/xvda1',
        disks: [
          { target: '/var/lib/xen/images/web.qcow2', format: 'qcow2', vdev: 'xvda' },
          { target: '/srv/iso/debian.iso', vdev: 'xvdb', access: 'ro', cdrom: true },
        ],
        interfaces: [{}, { bridge: 'lan0', mac: '00:16:3e:00:00:01' }],
        shares: [{ tag: 'data', path: '/srv/data' }],
      }),
    )
    expect(text.split('\n').slice(1, -4)).toEqual([
      'name = "web"',
      'type = "pv"',
      'memory = 512',
      'maxmem = 1024',
      'vcpus = 2',
      'kernel = "/boot/vmlinuz"',
      'ramdisk = "/boot/initrd.img"',
      'cmdline = "console=hvc0 root=/dev/xvda1"',
      'disk = [ "format=qcow2, vdev=xvda, access=rw, target=/var/lib/xen/images/web.qcow2", "format=raw, vdev=xvdb, access=ro, devtype=cdrom, target=/srv/iso/debian.iso" ]',
      'vif = [ "bridge=xenbr0", "bridge=lan0,mac=00:16:3e:00:00:01" ]',
      'p9 = [ "tag=data,security_model=none,path=/srv/data" ]',
    ])
  })

  it('HVM: the firmware, no kernel needed', () => {
    const text = xlConfig('m3', spec({ type: 'hvm', kernel: undefined, firmware: 'ovmf', disks: [{ target: '/dev/vg/web', vdev: 'hda' }] }))
    expect(text).toContain('bios = "ovmf"\n')
    expect(text).not.toContain('kernel')
    expect(text).toContain('disk = [ "format=raw, vdev=hda, access=rw, target=/dev/vg/web" ]')
  })

  it('refuses what would be wrong or would break out of the file, field by field', () => {
    expect(errors({ type: 'pv', kernel: undefined })).toEqual({ kernel: 'A PV domain boots a kernel: give its path on the Xen host' })
    expect(errors({ cmdline: 'quiet"\nbootloader="/bin/sh' })).toEqual({ cmdline: 'Cannot contain ", \\ or a line break' })
    expect(errors({ kernel: '/boot/"x' })).toEqual({ kernel: 'A path in xl.cfg cannot contain ", \\ or a line break' })
    expect(errors({ maxMemoryMiB: 256 })).toEqual({ maxMemoryMiB: 'The maximum memory cannot be less than the memory' })
    expect(errors({ memoryMiB: 16 })).toEqual({ memoryMiB: 'Xen domains need at least 32 MiB' })
    expect(errors({ disks: [{ target: '/a', vdev: 'xvda' }, { target: '/b', vdev: 'xvda' }] })).toEqual({ 'disks.1.vdev': 'xvda is used twice' })
    expect(errors({ disks: [{ target: '/a', vdev: 'vda' }] })).toEqual({ 'disks.0.vdev': 'A virtual device name like xvda, xvdb, hda or sda' })
    expect(errors({ interfaces: [{ bridge: 'br0,script=/x' }] })['interfaces.0.bridge']).toBeDefined()
    expect(errors({ host: '../etc' })).toEqual({ host: 'Not a host id' })
    expect(errors({ shares: [{ tag: 'x', path: '/srv/a,security_model=passthrough,path=/' }] })).toEqual({
      'shares.0.path': 'A shared folder path cannot contain a comma (xl.cfg splits on it)',
    })
    expect(errors({ name: '0' })).toEqual({ name: 'A Xen domain name cannot be only digits (xl would take it for a domain id)' })
    expect(errors({ name: 'domain-0' })).toEqual({ name: 'Domain-0 is the Xen host itself: choose another name' })
  })
})

describe('what xl prints → data', () => {
  it('xl list: every domain with its state letters', () => {
    const text = [
      'Name                                        ID   Mem VCPUs\tState\tTime(s)',
      'Domain-0                                     0  1024     2     r-----      11.8',
      'pv1                                          1   160     1     -b----       4.3',
      'held                                         2   160     1     --p---       0.4',
      'broken                                       3   160     1     ----c-       1.0',
      'waiting                                      4   160     1     ------       0.1',
    ].join('\n')
    expect(parseXlList(text)).toEqual([
      { name: 'Domain-0', id: 0, memoryMiB: 1024, vcpus: 2, state: 'running', cpuSeconds: 11.8 },
      { name: 'pv1', id: 1, memoryMiB: 160, vcpus: 1, state: 'blocked', cpuSeconds: 4.3 },
      { name: 'held', id: 2, memoryMiB: 160, vcpus: 1, state: 'paused', cpuSeconds: 0.4 },
      { name: 'broken', id: 3, memoryMiB: 160, vcpus: 1, state: 'crashed', cpuSeconds: 1 },
      { name: 'waiting', id: 4, memoryMiB: 160, vcpus: 1, state: 'running', cpuSeconds: 0.1 },
    ])
  })

  it('xl info → the dom0 panel', () => {
    const info = parseXlInfo(
      'release                : 6.1.0-56-amd64\nnr_cpus                : 2\nvirt_caps              : pv hvm hap gnttab-v1\n' +
        'total_memory           : 2047\nfree_memory            : 1000\nxen_version            : 4.17.7\n' +
        'xen_scheduler          : credit2\nxen_commandline        : console=com1 dom0_mem=1024M,max:1024M loglvl=all\n',
    )
    const domains = parseXlList('h\nDomain-0 0 1024 2 r----- 6.3')
    expect(dom0Info(info, domains, { xenstored: true, xenconsoled: false })).toEqual({
      xenVersion: '4.17.7',
      commandLine: 'console=com1 dom0_mem=1024M,max:1024M loglvl=all',
      dom0MemoryMiB: 1024,
      totalMemoryMiB: 2047,
      freeMemoryMiB: 1000,
      virtCaps: ['pv', 'hvm', 'hap', 'gnttab-v1'],
      cpus: 2,
      scheduler: 'credit2',
      daemons: { xenstored: true, xenconsoled: false },
    })
  })

  it("xl's errors: the line that says what went wrong, without libxl's noise", () => {
    const clash = [
      'Parsing config from /var/lib/berth/xen/x.cfg',
      'libxl: error: libxl_domain.c:81:libxl__domain_rename: Domain 3:Domain with name "Domain-0" already exists.',
      'libxl: error: libxl_create.c:1296:initiate_domain_create: Domain 3:cannot make domain: -6',
    ].join('\n')
    expect(xlMessage(clash)).toBe('Domain with name "Domain-0" already exists.')
    expect(xlMessage('nosuch is an invalid domain identifier (rc=-6)')).toBe('nosuch is an invalid domain identifier (rc=-6)')
  })
})
