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

describe('a clone of a used Debian with an identity of its own (virt-sysprep)', () => {
  /** Boots the machine to its shell; its machine-id and SSH host key; a graceful stop. */
  async function identity(id: string): Promise<{ machineId: string; hostKey: string }> {
    await h.client.call('machines.start', { id })
    const guest = await watchConsole(h.client, id)
    try {
      await guest.waitFor(requireDebianGuest().prompt, 300_000)
      const shown = await guest.run('systemctl is-system-running --wait; cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub', 180_000)
      const machineId = /^([0-9a-f]{32})\r?$/m.exec(shown)?.[1]
      const hostKey = /^ssh-ed25519 (\S+)/m.exec(shown)?.[1]
      if (!machineId || !hostKey) throw new Error(`No machine-id or host key in:\n${shown}`)
      await h.client.call('machines.stop', { id, timeoutSec: 120 })
      await waitForState(h.client, id, 'stopped', 130_000)
      return { machineId, hostKey }
    } finally {
      guest.stream.close()
      await h.client.call('machines.stop', { id, force: true }).catch(() => undefined)
    }
  }

  it('a linked clone gets a new machine-id and new SSH host keys', async () => {
    const origin = await h.client.call('machines.create', { spec: debian('debian-used') })
    const before = await identity(origin.id)
    const clone = await h.client.call('machines.clone', { id: origin.id, name: 'debian-own', linked: true, newIdentity: true })
    const cloned = await identity(clone.id)
    expect(cloned.machineId).not.toBe(before.machineId)
    expect(cloned.hostKey).not.toBe(before.hostKey)
  }, 900_000)
})

// Installing from Debian's media under Secure Boot, with a Stop in the middle, runs through the page (e2e/specs/install.spec.ts).
describe('installation media under Secure Boot', () => {
  it.each([
    ['boots Debian’s media (shim and GRUB signed, then the signed kernel)', () => requireDebianGuest().installer, 'BERTH-INSTALLER: installing onto /dev/vda'],
    ['refuses media whose boot loader is not signed (the test guest’s, made by grub-mkrescue)', () => requireTestGuest().installer, 'Access Denied'],
  ] as [string, () => string, string][])('%s', async (_label, media, shown) => {
    const spec: QemuSpecInput = {
      kind: 'qemu',
      name: 'secure-media',
      memoryMiB: 1024,
      cores: 1,
      chipset: 'q35',
      firmware: { kind: 'efi', secureBoot: true },
      boot: { type: 'disk', install: { ejectAfterInstall: true } },
      disk: { sizeMiB: 3072 },
      cdrom: { file: media() },
    }
    const { id } = await h.client.call('machines.create', { spec })
    const guest = await watchConsole(h.client, id)
    try {
      await h.client.call('machines.start', { id })
      await guest.waitFor(shown, 240_000)
      if (shown === 'Access Denied') expect(guest.text).not.toContain('BERTH-INSTALLER-BOOT')
    } finally {
      guest.stream.close()
      await h.client.call('machines.stop', { id, force: true }).catch(() => undefined)
      await waitForState(h.client, id, 'stopped').catch(() => undefined)
      await h.client.call('machines.remove', { id, deleteImages: true }).catch(() => undefined)
    }
  }, 300_000)
})
