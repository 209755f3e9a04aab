// A UEFI VM with a new disk and a host folder shared, made through the wizard: a wrong share path
// is named on its field; the machine page gives the mount command; in the guest, the firmware is
// UEFI, the disk is there and the host's file reads through the share.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, expect, terminalText } from '../fixtures/berth'
import { chooseKernelBoot, nextSteps } from '../fixtures/wizard'
import { requireTestGuest } from '../../electron/main/testing/guest'

test('UEFI, a disk and a shared folder through the wizard, checked in the guest', async ({ page, berth }) => {
  const guest = requireTestGuest()
  const folder = join(berth.home, 'to-share')
  mkdirSync(folder)
  writeFileSync(join(folder, 'hello.txt'), 'hello through 9p\n')
  const notAFolder = join(berth.home, 'plain-file')
  writeFileSync(notAFolder, 'x')

  await page.goto(berth.url)
  await page.getByRole('button', { name: 'New virtual machine' }).click()
  // OVMF starts the bzImage through its EFI stub
  await chooseKernelBoot(page, guest.bzImage)
  await nextSteps(page, 'General')
  await page.getByLabel('Name').fill('sharing')
  await page.getByLabel('Screen', { exact: true }).selectOption({ label: 'None' })
  await nextSteps(page, 'Boot & firmware')
  await page.getByLabel('Firmware').selectOption({ label: 'UEFI (OVMF)' })
  await nextSteps(page, 'Disk')
  await page.getByLabel('A new disk image (qcow2)').check()
  await page.getByLabel('Disk size (MiB)').fill('64')
  await nextSteps(page, 'Shared folders')
  await page.getByRole('button', { name: 'Add a shared folder' }).click()
  const share = page.getByRole('group', { name: 'Shared folder 1' })
  await share.getByLabel('Tag').fill('docs')
  await share.getByLabel('Host folder').fill(notAFolder)
  await share.getByLabel('Guest path').fill('/mnt/docs')
  await share.getByLabel('msize').fill('262144')
  await nextSteps(page, 'Network')
  await page.getByRole('button', { name: 'Next' }).click()
  // Back on the folder, told what is wrong; the values are kept.
  await expect(share.getByRole('alert')).toHaveText(`${notAFolder} is a file: share a folder`)
  await page.screenshot({ path: 'test-results/e2e/wizard-bad-share.png' })
  await share.getByLabel('Host folder').fill(folder)
  await nextSteps(page, 'Network', 'Review')
  await page.getByRole('button', { name: 'Create' }).click()

  const mount = page.getByLabel('Mount command for docs')
  await expect(mount).toHaveText('mkdir -p /mnt/docs && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 docs /mnt/docs')
  const command = await mount.textContent()
  await expect(page.getByLabel('Machine settings')).toContainText('UEFI')
  await page.getByRole('button', { name: 'Start' }).click()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminalText(page)).toContainText('BERTH-GUEST-EFI', { timeout: 90_000 }) // /sys/firmware/efi exists
  await expect(terminalText(page)).toContainText('guest#', { timeout: 60_000 })
  await page.getByRole('region', { name: 'Serial console of sharing' }).click()
  await page.keyboard.type(`${command} && cat /mnt/docs/hello.txt; grep vda /proc/partitions\n`)
  await expect(terminalText(page)).toContainText('hello through 9p')
  await expect(terminalText(page)).toContainText('65536 vda')
  await page.screenshot({ path: 'test-results/e2e/uefi-disk-share.png' })
  await page.getByRole('button', { name: 'Force stop' }).click()
})
