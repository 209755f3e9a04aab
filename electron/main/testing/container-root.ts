// A busybox root file system for container tests (~2 MB): a shell prompt 'container# ' on the
// console, busybox init for --boot, and BERTH-CONTAINER-READY once init has run.
import { chmodSync, copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

export const containerRoot = {
  readyMarker: 'BERTH-CONTAINER-READY',
  /** busybox ash sends a cursor-position query after each prompt. */
  prompt: /container# (\x1b\[6n)?$/,
}

export function requireBusybox(): string {
  const busybox = '/bin/busybox'
  if (!existsSync(busybox)) throw new Error('busybox is missing (apt-get install busybox-static): container tests need it')
  return busybox
}

export function makeBusyboxRoot(root: string): string {
  const busybox = requireBusybox()
  if (existsSync(join(root, 'etc/inittab'))) return root
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc/init.d', 'proc', 'sys', 'dev', 'tmp', 'root', 'run', 'var/log', 'mnt'])
    mkdirSync(join(root, dir), { recursive: true })
  copyFileSync(busybox, join(root, 'bin/busybox'))
  chmodSync(join(root, 'bin/busybox'), 0o755)
  for (const applet of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean))
    if (applet !== 'busybox' && !existsSync(join(root, 'bin', applet))) symlinkSync('busybox', join(root, 'bin', applet))
  symlinkSync('../bin/busybox', join(root, 'sbin/init'))
  const files: Record<string, string> = {
    'etc/os-release': 'ID=busybox\nNAME="Berth test root"\n',
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    'etc/group': 'root:x:0:\n',
    'etc/profile': "export PS1='container# '\nexport PATH=/bin:/sbin\n",
    'etc/inittab': '::sysinit:/etc/init.d/rcS\n::respawn:-/bin/sh\n::shutdown:/bin/echo BERTH-CONTAINER-STOPPING\n',
    'etc/init.d/rcS': `#!/bin/sh\necho ${containerRoot.readyMarker}\n`,
  }
  for (const [path, content] of Object.entries(files)) writeFileSync(join(root, path), content)
  chmodSync(join(root, 'etc/init.d/rcS'), 0o755)
  return root
}

/**
 * A root whose init is the host's own systemd: the host's /usr, bound read-only (bindMounts), under a
 * merged-/usr skeleton of the container's own /etc. systemd-firstboot is masked (it would wait for a
 * key press on the console).
 */
export function makeSystemdRoot(root: string): { root: string; bindMounts: { mountPoint: string; hostPath: string }[] } {
  const bindMounts = [{ mountPoint: '/usr', hostPath: '/usr' }]
  if (existsSync(join(root, 'etc/os-release'))) return { root, bindMounts }
  for (const dir of ['usr', 'sbin', 'etc/systemd/system', 'proc', 'sys', 'dev', 'tmp', 'root', 'run', 'var/log']) mkdirSync(join(root, dir), { recursive: true })
  for (const link of ['bin', 'lib', 'lib64']) symlinkSync(`usr/${link}`, join(root, link))
  symlinkSync('/usr/lib/systemd/systemd', join(root, 'sbin/init'))
  symlinkSync('/dev/null', join(root, 'etc/systemd/system/systemd-firstboot.service'))
  const files: Record<string, string> = {
    'etc/os-release': 'ID=berth-systemd\nNAME="Berth systemd test root"\n',
    'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
    'etc/group': 'root:x:0:\n',
  }
  for (const [path, content] of Object.entries(files)) writeFileSync(join(root, path), content)
  return { root, bindMounts }
}
