// From installation media to an installed system, the way a person does it: the ISO chosen through
// Berth's file chooser, recognised (after importing a newer osinfo-db, as Debian 12's own database
// predates Debian 12), the proposed settings kept, the installer watched on the serial console, and
// the machine booting its disk after the installer restarts it, the media ejected.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test, expect, terminalText } from '../fixtures/berth'
import { nextSteps } from '../fixtures/wizard'
import { requireDebianGuest, requireTestGuest } from '../../electron/main/testing/guest'
import { osinfoArchive, osinfoFixture } from '../../electron/main/testing/osinfo-archive'
import { freePort } from '../../electron/main/testing/free-port'


test('install from an ISO: choose it, recognise it, create, watch the installer, boot the installed disk', async ({ page, berth }) => {
  test.setTimeout(420_000)
  const downloads = join(berth.home, 'home', 'Downloads')
  mkdirSync(downloads, { recursive: true })
  copyFileSync(requireTestGuest().installer, join(downloads, 'debian-12.0.0-amd64-netinst.iso'))
  osinfoArchive(downloads, join(berth.home, 'archive-work'))

  await page.goto(berth.url)
  await page.getByRole('button', { name: 'New virtual machine' }).click()
  // Installation media is the first choice, already selected.
  await expect(page.getByLabel('Installation media (an ISO image)')).toBeChecked()
  await page.getByRole('button', { name: 'Browse for installation media' }).click()
  const chooser = page.getByRole('dialog', { name: 'Choose installation media' })
  await chooser.getByRole('option', { name: /Downloads/ }).click()
  // Only ISO images are offered (the archive beside it is not).
  await expect(chooser.getByRole('option')).toHaveCount(1)
  await chooser.getByRole('option', { name: /debian-12\.0\.0-amd64-netinst\.iso/ }).click()
  await page.screenshot({ path: 'test-results/e2e/install-file-chooser.png' })
  await chooser.getByRole('button', { name: 'Choose' }).click()
  await expect(page.getByLabel('Installation media', { exact: true })).toHaveValue(join(downloads, 'debian-12.0.0-amd64-netinst.iso'))

  // The stock osinfo-db (2022) has no Debian 12: generic defaults, and a way to import a newer database.
  const detected = page.getByRole('region', { name: 'Detected system' })
  await expect(detected).toContainText('Not recognised (volume “Debian 12.0.0 amd64 n”)')
  await detected.getByText('Recognise newer systems').click()
  await detected.getByRole('button', { name: 'Browse for osinfo-db archive' }).click()
  const archives = page.getByRole('dialog', { name: 'Choose osinfo-db archive' })
  // The chooser opens where the last choice was.
  await archives.getByRole('option', { name: /osinfo-db-20230610\.tar\.xz/ }).dblclick()
  await expect(detected).toContainText('Debian 12 · Debian Project · installer')
  await expect(detected).toContainText('Proposed, and already filled in: 2048 MiB memory, 1 core, a 20 GiB virtio disk, a virtio network card, BIOS')
  await expect(detected).toContainText("Berth's own database 20230610 (debian-12)")
  await page.screenshot({ path: 'test-results/e2e/install-detected.png' })

  await nextSteps(page, 'General')
  await expect(page.getByLabel('Name')).toHaveValue('debian12')
  await expect(page.getByLabel('Memory (MiB)')).toHaveValue('2048')
  await page.getByLabel('Screen', { exact: true }).selectOption({ label: 'None' })
  await nextSteps(page, 'Boot & firmware', 'Disk')
  await expect(page.getByLabel('A new disk image (qcow2)')).toBeChecked()
  await expect(page.getByLabel('Disk size (MiB)')).toHaveValue('20480')
  await nextSteps(page, 'Shared folders', 'Network', 'Review')
  await expect(page.getByLabel('Summary')).toContainText('installs from')
  await expect(page.getByLabel('QEMU command line')).toContainText('-no-reboot')
  await page.getByRole('button', { name: 'Create' }).click()

  const installation = page.getByRole('status', { name: 'Installation' })
  await expect(installation).toContainText('Ready to install from debian-12.0.0-amd64-netinst.iso')
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(installation).toContainText('Installing from debian-12.0.0-amd64-netinst.iso')

  await page.getByRole('tab', { name: 'Serial console' }).click()
  const consoleText = terminalText(page)
  await expect(consoleText).toContainText('BERTH-INSTALLER: installing onto /dev/vda', { timeout: 180_000 })
  await page.screenshot({ path: 'test-results/e2e/install-running.png' })
  // The installer restarts the machine; Berth boots its disk, in the same console.
  await expect(consoleText).toContainText('BERTH-BOOTLOADER', { timeout: 180_000 })
  await expect(consoleText).toContainText('guest#', { timeout: 120_000 })
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')

  await page.getByRole('tab', { name: 'Overview' }).click()
  await expect(installation).toHaveCount(0)
  await expect(page.getByLabel('Machine settings')).toContainText('From the disk')
  await page.getByRole('tab', { name: 'Drives' }).click()
  await expect(page.getByText('debian-12.0.0-amd64-netinst.iso')).toHaveCount(0)
  await page.screenshot({ path: 'test-results/e2e/install-done.png' })
  // The test system has no ACPI daemon to honour a graceful stop.
  await page.getByRole('button', { name: 'Force stop' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped')
})

// Once with a BIOS; once with UEFI and Secure Boot (the disc's shim and GRUB are Debian's signed
// ones), where a graceful Stop in the middle of the installation leaves it to do again.
for (const firmware of ['BIOS', 'UEFI with Secure Boot'] as const) {
  test(`a real Debian 12 from its installer ISO (${firmware}): installed, booted from disk to multi-user, named by its guest agent, stopped by systemd`, async ({ page, berth }) => {
    test.setTimeout(1_200_000)
    const debian = requireDebianGuest()
    const downloads = join(berth.home, 'home', 'Downloads')
    mkdirSync(downloads, { recursive: true })
    copyFileSync(debian.installer, join(downloads, 'debian-12.0.0-amd64-netinst.iso'))
    // A newer osinfo-db imported earlier (the first test imports it through the page).
    execFileSync('cp', ['-r', osinfoFixture, join(berth.home, 'config', 'osinfo')])

    await page.goto(berth.url)
    await page.getByRole('button', { name: 'New virtual machine' }).click()
    await page.getByLabel('Installation media', { exact: true }).fill(join(downloads, 'debian-12.0.0-amd64-netinst.iso'))
    await page.getByLabel('Installation media', { exact: true }).press('Tab')
    await expect(page.getByRole('region', { name: 'Detected system' })).toContainText('Debian 12 · Debian Project · installer')
    await nextSteps(page, 'General')
    await page.getByLabel('Screen', { exact: true }).selectOption({ label: 'None' })
    await nextSteps(page, 'Boot & firmware')
    if (firmware !== 'BIOS') await page.getByLabel('Firmware', { exact: true }).selectOption({ label: firmware })
    await nextSteps(page, 'Disk', 'Shared folders', 'Network', 'Review')
    await page.getByRole('button', { name: 'Create' }).click()
    await page.getByRole('button', { name: 'Start' }).click()

    await page.getByRole('tab', { name: 'Serial console' }).click()
    const consoleText = terminalText(page)
    await expect(consoleText).toContainText('BERTH-INSTALLER: installing onto /dev/vda', { timeout: 300_000 })
    if (firmware !== 'BIOS') {
      // Stop presses the power button: the installer's system powers off, and the installation is
      // not over: the disc stays in, and the next start installs again.
      await page.getByRole('button', { name: 'Stop', exact: true }).click()
      await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped', { timeout: 90_000 })
      await expect(consoleText).toContainText('BERTH-INSTALLER: power button: powering off')
      await page.getByRole('tab', { name: 'Overview' }).click()
      await expect(page.getByRole('status', { name: 'Installation' })).toBeVisible()
      await page.getByRole('button', { name: 'Start' }).click()
      await expect(page.getByRole('status', { name: 'State' })).toHaveText('running', { timeout: 60_000 })
      await expect(page.getByRole('status', { name: 'Installation' })).toBeVisible()
      await page.getByRole('tab', { name: 'Serial console' }).click()
    }
    // The installed system boots: GRUB, the kernel, systemd, and root's shell on the serial console.
    await expect(consoleText).toContainText('root@debian:~#', { timeout: 900_000 })
    await page.getByRole('region', { name: 'Serial console of debian12' }).click()
    await page.keyboard.type('echo "state=$(systemctl is-system-running --wait)"\n')
    await expect(consoleText).toContainText('state=running', { timeout: 180_000 })
    if (firmware !== 'BIOS') {
      // The firmware's SecureBoot variable as the installed system reads it (its last byte: 1, on).
      await page.keyboard.type("od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c | awk '{print \"sb=\" $NF}'\n")
      await expect(consoleText).toContainText('sb=1')
    }
    await page.getByRole('tab', { name: 'Overview' }).click()
    await expect(page.getByRole('status', { name: 'Installation' })).toHaveCount(0)
    await page.getByRole('button', { name: 'Ask the guest agent' }).click()
    await expect(page.getByLabel('Guest agent')).toContainText('Debian GNU/Linux 12 (bookworm)')
    await page.screenshot({ path: `test-results/e2e/install-debian-${firmware === 'BIOS' ? 'bios' : 'secure-boot'}-overview.png` })
    // Stop: the ACPI power button; systemd shuts down and powers off well within the timeout.
    await page.getByRole('button', { name: 'Stop', exact: true }).click()
    await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped', { timeout: 120_000 })
    await page.getByRole('tab', { name: 'Serial console' }).click()
    await expect(consoleText).toContainText('reboot: Power down')
  })
}

test('a cloud image’s first boot: imported as a base, host name, user and SSH key set in the wizard; a real ssh logs in', async ({ page, berth }) => {
  test.setTimeout(900_000)
  const images = join(berth.home, 'home', 'images')
  mkdirSync(images, { recursive: true })
  copyFileSync(requireDebianGuest().disk, join(images, 'debian-12-genericcloud-amd64.qcow2'))
  const ssh = join(berth.home, 'home', '.ssh')
  mkdirSync(ssh, { recursive: true, mode: 0o700 })
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'ann@laptop', '-f', join(ssh, 'id_ed25519')])
  const port = await freePort()

  await page.goto(berth.url)
  await page.getByRole('button', { name: 'New virtual machine' }).click()
  await page.getByLabel('An existing disk image (import)').check()
  await page.getByRole('button', { name: 'Browse for disk image' }).click()
  const chooser = page.getByRole('dialog', { name: 'Choose disk image' })
  await chooser.getByRole('option', { name: /images/ }).click()
  await chooser.getByRole('option', { name: /debian-12-genericcloud-amd64\.qcow2/ }).dblclick()
  await expect(page.getByLabel('As a base: a new disk on top of it (the image is only read, and must stay)')).toBeChecked()
  await page.getByLabel('Disk size (MiB)').fill('3072')
  await page.getByLabel('First boot with cloud-init (a cloud image): set its host name and a user').check()
  await page.getByLabel('Host name', { exact: true }).fill('cloudy')
  await page.getByLabel('User', { exact: true }).fill('ann')
  // The person's own key, offered from ~/.ssh.
  await page.getByLabel(/id_ed25519\.pub/).check()
  await expect(page.getByLabel('SSH public keys')).toHaveValue(/^ssh-ed25519 \S+ ann@laptop$/)
  // Berth looked inside the image (libguestfs): the settings will be applied.
  await expect(page.getByRole('status', { name: 'Image contents' })).toHaveText('Debian GNU/Linux 12 (bookworm) · cloud-init is installed', { timeout: 300_000 })
  await page.screenshot({ path: 'test-results/e2e/cloud-init-wizard.png' })
  await nextSteps(page, 'General')
  await page.getByLabel('Name').fill('cloudy')
  await page.getByLabel('Memory (MiB)').fill('1024')
  await page.getByLabel('Screen', { exact: true }).selectOption({ label: 'None' })
  await nextSteps(page, 'Boot & firmware', 'Disk', 'Shared folders', 'Network')
  await page.getByRole('button', { name: 'Add a forwarded port' }).click()
  await page.getByLabel('Forward 1 host port').fill(String(port))
  await page.getByLabel('Forward 1 guest port').fill('22')
  await nextSteps(page, 'Review')
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')

  const login = () =>
    execFileSync('ssh', ['-i', join(ssh, 'id_ed25519'), '-p', String(port), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', 'ann@127.0.0.1', 'hostname'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 30_000,
    })
  await expect.poll(() => {
    try {
      return login().trim()
    } catch {
      return 'no login yet'
    }
  }, { timeout: 600_000, intervals: [3000] }).toBe('cloudy')
  await page.getByRole('button', { name: 'Force stop' }).click()
})
