// A real Debian 12 with systemd (e2e/fixtures/build-debian.sh), booted from its own disk: the
// everyday VM. Its disk is a qcow2 on top of the fixture (the fixture stays as it is).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHarness, waitForState, waitUntil, watchConsole, type Harness } from '../../testing/harness'
import { requireDebianGuest, requireTestGuest } from '../../testing/guest'
import { freePort } from '../../testing/free-port'
import type { QemuSpecInput } from '../../../../shared/model/machine'

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.cleanup()
})

const debian = (name: string, extra: Partial<QemuSpecInput> = {}): QemuSpecInput => ({
  kind: 'qemu',
  name,
  memoryMiB: 1024,
  cores: 1,
  boot: { type: 'disk' },
  disk: { sizeMiB: 3072, base: { file: requireDebianGuest().disk, copy: false } },
  ...extra,
})

describe('a real Debian 12 (systemd) from its disk', () => {
  it.each([
    ['BIOS', {}],
    ['UEFI', { chipset: 'q35', firmware: { kind: 'efi', secureBoot: false } }],
    // Debian's signed chain: shim (signed by Microsoft's UEFI CA, whose key the firmware has enrolled), GRUB and the kernel.
    ['UEFI with Secure Boot', { chipset: 'q35', firmware: { kind: 'efi', secureBoot: true } }],
  ] as [string, Partial<QemuSpecInput>][])('%s: systemd reaches multi-user, the guest agent names the system, Stop is an ACPI shutdown systemd honours', async (label, extra) => {
    const { id } = await h.client.call('machines.create', { spec: debian(`debian-${label.toLowerCase().replaceAll(' ', '-')}`, extra) })
    await h.client.call('machines.start', { id })
    const guest = await watchConsole(h.client, id)
    try {
      await guest.waitFor(requireDebianGuest().prompt, 300_000)
      const state = await guest.run('systemctl is-system-running --wait', 180_000)
      expect(state).toMatch(/running\r?\n/)
      if (extra.firmware?.kind === 'efi') {
        // The firmware's SecureBoot variable, as the guest reads it (its last byte: 1 on, 0 off).
        const sb = await guest.run("od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | awk '{print \"sb=\" $NF}'")
        expect(sb).toMatch(extra.firmware.secureBoot ? /sb=1\r?\n/ : /sb=0\r?\n/)
      }
      const info = await h.client.call('machines.guestInfo', { id })
      expect(info.os).toMatch(/^Debian GNU\/Linux 12/)
      expect(info.hostName).toBe('debian')
      await h.client.call('machines.stop', { id, timeoutSec: 120 })
      await waitForState(h.client, id, 'stopped', 130_000)
      // systemd took the power button and powered the machine off itself (Berth did not quit it).
      expect(guest.text).toMatch(/reboot: Power down/)
      const machine = (await h.client.call('machines.list', {})).machines.find((m) => m.id === id)!
      expect(machine.lastError).toBeNull()
    } finally {
      guest.stream.close()
      await h.client.call('machines.stop', { id, force: true }).catch(() => undefined)
    }
  }, 600_000)

  it('a cloud-init first boot: the host name and the user with an SSH key, then a real ssh logs in', async () => {
    const key = join(h.home, 'id_ed25519')
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tester@berth', '-f', key])
    const port = await freePort()
    const { id } = await h.client.call('machines.create', {
      spec: debian('cloudy', {
        cloudInit: { hostname: 'cloudy', user: 'ann', sshKeys: [readFileSync(`${key}.pub`, 'utf8').trim()] },
        network: { bridge: null, forwardPorts: [{ from: 'host', proto: 'tcp', host: { address: '127.0.0.1', port }, guest: { address: '', port: 22 } }] },
      }),
    })
    await h.client.call('machines.start', { id })
    const guest = await watchConsole(h.client, id)
    try {
      const ssh = () =>
        execFileSync('ssh', ['-i', key, '-p', String(port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', 'ann@127.0.0.1', 'hostname; id -un; sudo -n true && echo sudo-ok'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
          timeout: 30_000,
        })
      let answer = ''
      await waitUntil('ssh to log in as ann with the key cloud-init set', async () => {
        try {
          answer = ssh()
          return true
        } catch {
          await new Promise((r) => setTimeout(r, 3000))
          return false
        }
      }, 420_000, () => guest.text)
      expect(answer.split('\n')).toEqual(['cloudy', 'ann', 'sudo-ok', ''])
    } finally {
      guest.stream.close()
      await h.client.call('machines.stop', { id, force: true }).catch(() => undefined)
    }
  }, 600_000)
})

describe('installing Debian from its installation media', () => {
  const sbState = "od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | awk '{print \"sb=\" $NF}'"
  const installer = (name: string, extra: Partial<QemuSpecInput> = {}): QemuSpecInput => ({
    kind: 'qemu',
    name,
    memoryMiB: 1024,
    cores: 1,
    chipset: 'q35',
    firmware: { kind: 'efi', secureBoot: true },
    boot: { type: 'disk', install: { ejectAfterInstall: true } },
    disk: { sizeMiB: 3072 },
    cdrom: { file: requireDebianGuest().installer },
    ...extra,
  })

  it('Secure Boot: the disc boots through Debian’s signed shim and GRUB; a graceful Stop mid-installation leaves it to do again; done, the installed system boots with Secure Boot', async () => {
    const { id } = await h.client.call('machines.create', { spec: installer('debian-sb-install') })
    const guest = await watchConsole(h.client, id)
    const pending = async () => {
      const machine = (await h.client.call('machines.list', {})).machines.find((m) => m.id === id)!
      return machine.spec.kind === 'qemu' && { install: machine.spec.boot.type === 'disk' && machine.spec.boot.install, cdrom: machine.spec.cdrom?.file, lastError: machine.lastError }
    }
    try {
      await h.client.call('machines.start', { id })
      await guest.waitFor('BERTH-INSTALLER: installing onto /dev/vda', 300_000)
      // Stop is the power button: the installer's system powers off, and the installation is not over.
      await h.client.call('machines.stop', { id, timeoutSec: 60 })
      await waitForState(h.client, id, 'stopped', 70_000)
      expect(guest.text).toContain('BERTH-INSTALLER: power button: powering off')
      expect(await pending()).toEqual({ install: { ejectAfterInstall: true }, cdrom: requireDebianGuest().installer, lastError: null })
      // Started again, it installs again, to the end; then the disk boots, under Secure Boot.
      const before = guest.text.length
      await h.client.call('machines.start', { id })
      await waitUntil('the installer to start again', async () => guest.text.slice(before).includes('BERTH-INSTALLER: installing onto'), 300_000, () => guest.text)
      await guest.waitFor(requireDebianGuest().prompt, 900_000)
      expect(await pending()).toEqual({ install: null, cdrom: null, lastError: null })
      expect(await guest.run(sbState)).toMatch(/sb=1\r?\n/)
      expect(await guest.run('systemctl is-system-running --wait', 180_000)).toMatch(/running\r?\n/)
    } finally {
      guest.stream.close()
      await h.client.call('machines.stop', { id, force: true }).catch(() => undefined)
      await waitForState(h.client, id, 'stopped').catch(() => undefined)
    }
  }, 1_200_000)

  it('Secure Boot refuses media whose boot loader is not signed (the test guest’s disc, made by grub-mkrescue)', async () => {
    const { id } = await h.client.call('machines.create', { spec: installer('unsigned-sb', { cdrom: { file: requireTestGuest().installer }, disk: { sizeMiB: 128 } }) })
    const guest = await watchConsole(h.client, id)
    try {
      await h.client.call('machines.start', { id })
      await guest.waitFor(/Access Denied/, 180_000)
      expect(guest.text).not.toContain('BERTH-INSTALLER-BOOT')
    } finally {
      guest.stream.close()
      await h.client.call('machines.stop', { id, force: true }).catch(() => undefined)
      await waitForState(h.client, id, 'stopped').catch(() => undefined)
    }
  }, 300_000)
})
