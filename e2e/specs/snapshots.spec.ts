// Snapshots through the UI: take one of a running VM, change a shell variable in the console, revert,
// and the guest has the old value and goes on; the tree shows where each came from; delete asks first.
// A container's root the same way, and its clone.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, expect, terminalText, typeInConsole } from '../fixtures/berth'
import { createTestVm } from '../fixtures/wizard'
import { makeBusyboxRoot } from '../../electron/main/testing/container-root'
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

test('a container: snapshot its root, change a file, stop, revert; then clone it and start the clone', async ({ page, berth }) => {
  const root = makeBusyboxRoot(join(berth.home, 'roots', 'box'))
  await page.goto(berth.url)
  await page.getByRole('button', { name: 'New container' }).click()
  await page.getByLabel('Name').fill('box')
  await page.getByLabel('Root folder').fill(root)
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')
  const typeInBox = async (line: string, answer: string) => {
    await page.getByRole('tab', { name: 'Console' }).click()
    await page.getByRole('region', { name: 'Console of box' }).click()
    await expect(async () => {
      await page.keyboard.type(`${line}\n`)
      await expect(terminalText(page)).toContainText(answer, { timeout: 2000 })
    }).toPass({ timeout: 30_000 })
  }
  await typeInBox('echo before > /marker; echo "marker $(cat /marker)"', 'marker before')

  await page.getByRole('tab', { name: 'Snapshots' }).click()
  await expect(page.getByText('Its root file system (the container is frozen while it is copied) and settings.')).toBeVisible()
  await takeSnapshot(page, 'clean', 'the marker says before')
  await expect(page.getByRole('row', { name: 'Snapshot clean' })).toContainText('root file system')
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')
  await typeInBox('echo after > /marker; echo "now $(cat /marker)"', 'now after')

  await page.getByRole('button', { name: 'Stop', exact: true }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped', { timeout: 30_000 })
  await page.getByRole('tab', { name: 'Snapshots' }).click()
  await page.getByRole('button', { name: 'Revert to clean' }).click()
  const ask = page.getByRole('dialog', { name: 'Revert to clean?' })
  await expect(ask).toContainText("What changed in box's root file system and settings since is lost")
  await ask.getByRole('button', { name: 'Revert' }).click()
  await expect(ask).toBeHidden()
  await expect.poll(() => readFileSync(join(root, 'marker'), 'utf8'), { timeout: 30_000 }).toBe('before\n')
  await page.screenshot({ path: 'test-results/e2e/container-snapshots-tab.png' })

  await page.getByRole('button', { name: 'Clone…' }).first().click()
  const dialog = page.getByRole('dialog', { name: 'Clone box' })
  await expect(dialog).toContainText('The clone gets a new identity: an empty machine-id')
  await dialog.getByLabel('Name of the clone').fill('box2')
  await page.screenshot({ path: 'test-results/e2e/container-clone-dialog.png' })
  await dialog.getByRole('button', { name: 'Clone' }).click()
  await expect(page.getByRole('heading', { name: /box2/ })).toBeVisible({ timeout: 60_000 })
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')
  await page.getByRole('tab', { name: 'Console' }).click()
  await page.getByRole('region', { name: 'Console of box2' }).click()
  await expect(async () => {
    await page.keyboard.type('echo "clone says $(cat /marker)"\n')
    await expect(terminalText(page)).toContainText('clone says before', { timeout: 2000 })
  }).toPass({ timeout: 30_000 })
  await page.getByRole('button', { name: 'Stop', exact: true }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped', { timeout: 30_000 })
})
