// From installation media to an installed system, the way a person does it: the ISO chosen through
// Berth's file chooser, recognised (after importing a newer osinfo-db, as Debian 12's own database
// predates Debian 12), the proposed settings kept, the installer watched on the serial console, and
// the machine booting its disk after the installer restarts it, the media ejected.
import { copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test, expect, terminalText } from '../fixtures/berth'
import { nextSteps } from '../fixtures/wizard'
import { requireTestGuest } from '../../electron/main/testing/guest'
import { osinfoArchive } from '../../electron/main/testing/osinfo-archive'


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
