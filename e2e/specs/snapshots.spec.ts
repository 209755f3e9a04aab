// Snapshots through the UI: take one of a running VM, change a shell variable in the console, revert,
// and the guest has the old value and goes on; the tree shows where each came from; delete asks first.
import { test, expect, terminalText, typeInConsole } from '../fixtures/berth'
import { createTestVm } from '../fixtures/wizard'
import type { Page } from '@playwright/test'

async function takeSnapshot(page: Page, name: string, description: string) {
  await page.getByRole('tab', { name: 'Snapshots' }).click()
  await page.getByLabel('Snapshot name').fill(name)
  await page.getByLabel('Description').fill(description)
  await page.getByRole('button', { name: 'Take snapshot' }).click()
  await expect(page.getByRole('row', { name: `Snapshot ${name}` })).toContainText('current', { timeout: 120_000 })
}

test('take a snapshot of a running VM, change the guest, revert: the guest is back where it was', async ({ page, berth }) => {
  await page.goto(berth.url)
  await createTestVm(page, 'snapper', { diskMiB: 64 })
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminalText(page)).toContainText('guest#', { timeout: 60_000 })
  await typeInConsole(page, 'snapper', 'X=before; echo "set to $X"', 'set to before', 3000)

  await takeSnapshot(page, 'first', 'X is before')
  const first = page.getByRole('row', { name: 'Snapshot first' })
  await expect(first).toContainText('disks and memory')
  await expect(first).toContainText('X is before')
  await typeInConsole(page, 'snapper', 'X=after; echo "now $X"', 'now after', 3000)
  await takeSnapshot(page, 'second', 'X is after')

  await page.getByRole('tab', { name: 'Snapshots' }).click()
  await page.getByRole('button', { name: 'Revert to first' }).click()
  const ask = page.getByRole('dialog', { name: 'Revert to first?' })
  await expect(ask).toContainText('It resumes where it was when the snapshot was taken.')
  await ask.getByRole('button', { name: 'Revert' }).click()
  await expect(first).toContainText('current', { timeout: 120_000 })
  await expect(page.getByRole('row', { name: 'Snapshot second' })).not.toContainText('current')
  await page.screenshot({ path: 'test-results/e2e/snapshots-tab.png' })
  await typeInConsole(page, 'snapper', 'echo "X is $X"', 'X is before', 3000)
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')

  await page.getByRole('tab', { name: 'Snapshots' }).click()
  await page.getByRole('button', { name: 'Delete snapshot second' }).click()
  await page.getByRole('dialog', { name: 'Delete snapshot second?' }).getByRole('button', { name: 'Delete snapshot' }).click()
  await expect(page.getByRole('row', { name: 'Snapshot second' })).toBeHidden({ timeout: 60_000 })
  await expect(first).toBeVisible()
})

test('clone a stopped VM: the clone has its own page, disk and MAC, and boots', async ({ page, berth }) => {
  await page.goto(berth.url)
  await createTestVm(page, 'snapper', { diskMiB: 64 })
  await page.getByRole('button', { name: 'Start' }).click()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminalText(page)).toContainText('guest#', { timeout: 60_000 })
  await typeInConsole(page, 'snapper', 'echo MAC=$(cat /sys/class/net/eth0/address)', /MAC=52:54/, 3000)
  const originMac = /MAC=(52:54:[0-9a-f:]+)/.exec(await terminalText(page).innerText())![1]
  await expect(page.getByRole('button', { name: 'Clone…' })).toBeHidden() // only a stopped VM is cloned
  await page.getByRole('button', { name: 'Force stop' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped')

  await page.getByRole('button', { name: 'Clone…' }).click()
  const dialog = page.getByRole('dialog', { name: 'Clone snapper' })
  await expect(dialog.getByLabel('Name of the clone')).toHaveValue('snapper-clone')
  await dialog.getByLabel(/Linked clone/).check()
  await expect(dialog.getByRole('note')).toContainText('snapper cannot start')
  await dialog.getByLabel(/Full copy/).check()
  await page.screenshot({ path: 'test-results/e2e/clone-dialog.png' })
  await dialog.getByRole('button', { name: 'Clone' }).click()
  await expect(page.getByRole('heading', { name: /snapper-clone/ })).toBeVisible({ timeout: 60_000 })

  await page.getByRole('button', { name: 'Start' }).click()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminalText(page)).toContainText('guest#', { timeout: 60_000 })
  await typeInConsole(page, 'snapper-clone', 'echo MAC=$(cat /sys/class/net/eth0/address)', /MAC=52:54/, 3000)
  const cloneMac = /MAC=(52:54:[0-9a-f:]+)/.exec(await terminalText(page).innerText())![1]
  expect(cloneMac).not.toBe(originMac)
})
