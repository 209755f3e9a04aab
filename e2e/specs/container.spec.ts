// A person makes a container in the wizard from a folder, starts it, and uses its console; bad input
// is explained on the field and nothing is created.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { test, expect, terminalText } from '../fixtures/berth'
import { makeBusyboxRoot } from '../../electron/main/testing/container-root'

test('create a container from a folder, start it, type in its console', async ({ page, berth }, testInfo) => {
  const root = makeBusyboxRoot(join(berth.home, 'roots', 'web'))
  await page.goto(berth.url)
  await page.getByRole('button', { name: 'New container' }).click()

  // Bad input first: a folder that is not an OS tree, a name too long for private networking.
  await page.getByLabel('Name').fill('averylongname')
  await page.getByLabel('Root folder').fill(berth.home)
  await page.getByLabel('Private network').check()
  await page.getByLabel('Container address', { exact: true }).fill('10.231.140.2')
  await page.getByRole('button', { name: 'Create' }).click()
  await expect(page.getByText('Container names with private networking can be at most 11 characters long')).toBeVisible()
  await page.getByLabel('Name').fill('web')
  await page.getByLabel('Container address', { exact: true }).fill('10.231.140.300')
  await page.getByRole('button', { name: 'Create' }).click()
  await expect(page.getByText('Enter an IPv4 address like 10.231.136.1')).toBeVisible()
  await page.getByLabel('Private network').uncheck() // the hidden address no longer applies
  await page.getByRole('button', { name: 'Create' }).click()
  await expect(page.getByText(/is not an operating system tree: it needs a \/usr folder/)).toBeVisible()
  await page.screenshot({ path: testInfo.outputPath('container-wizard-errors.png'), fullPage: true })
  await expect(page.getByRole('link', { name: /web,/ })).toHaveCount(0) // nothing was created

  await page.getByLabel('Root folder').fill(root)
  await page.getByRole('button', { name: 'Check' }).click()
  const cmdline = page.getByLabel('Command line')
  await expect(cmdline).toContainText(`--directory=${root}`)
  await expect(cmdline).toContainText('--machine=web')
  await page.screenshot({ path: testInfo.outputPath('container-wizard-check.png'), fullPage: true })
  await page.getByRole('button', { name: 'Create' }).click()

  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped')
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')
  await expect(page.getByRole('link', { name: 'web, running' })).toBeVisible()
  await page.screenshot({ path: testInfo.outputPath('container-overview.png') })

  await page.getByRole('tab', { name: 'Console' }).click()
  const terminal = terminalText(page)
  await expect(terminal).toContainText('BERTH-CONTAINER-READY', { timeout: 20_000 })
  await expect(terminal).toContainText('container#')
  await page.getByRole('region', { name: 'Console of web' }).click()
  await page.keyboard.type('echo typed-$((6*7)); stty size\n')
  await expect(terminal).toContainText('typed-42')
  await page.screenshot({ path: testInfo.outputPath('container-console.png') })

  // A shell inside the booted container, next to its console.
  await page.getByRole('tab', { name: 'Shell' }).click()
  const shell = page.getByRole('region', { name: 'Shell in web' })
  await shell.click()
  await page.keyboard.type('echo shell-$((2+3)) $(cat /proc/1/comm)\n')
  await expect(shell.locator('.xterm-rows')).toContainText('shell-5 init')

  await page.getByRole('button', { name: 'Stop', exact: true }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped', { timeout: 30_000 })

  // Delete asks first and says what stays: the root folder the person chose.
  await page.getByRole('button', { name: 'Delete' }).click()
  const dialog = page.getByRole('dialog', { name: 'Delete web?' })
  await expect(dialog.getByRole('list', { name: 'Kept' })).toHaveText(root)
  await page.screenshot({ path: testInfo.outputPath('delete-dialog.png') })
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await expect(dialog).toHaveCount(0)
  await expect(page.getByRole('link', { name: 'web, stopped' })).toBeVisible()
  await page.getByRole('button', { name: 'Delete' }).click()
  await dialog.getByRole('button', { name: 'Delete web' }).click()
  await expect(page.getByRole('link', { name: 'web, stopped' })).toHaveCount(0)
  expect(existsSync(join(root, 'etc/os-release'))).toBe(true)
})

test('import a tarball as a new container root, with its progress and log', async ({ page, berth }, testInfo) => {
  const tree = makeBusyboxRoot(join(berth.home, 'tree'))
  const tarball = join(berth.home, 'root.tar.gz')
  execFileSync('tar', ['--create', '--gzip', `--file=${tarball}`, `--directory=${tree}`, '.'])
  await page.goto(berth.url)
  await page.getByRole('button', { name: 'New container' }).click()
  await page.getByLabel('Import a tarball').check()
  await page.getByLabel('Tarball', { exact: true }).fill(tarball)
  await page.getByRole('button', { name: 'Import' }).click()
  await expect(page.getByText('Give the container a name first')).toBeVisible() // its folder is named after it
  await page.getByLabel('Name').fill('imported')
  await page.getByRole('button', { name: 'Import' }).click()
  await expect(page.getByLabel('Root folder')).toHaveValue(join(berth.home, 'var-lib-machines', 'imported'))
  await expect(page.getByText(`Made by Berth: ${join(berth.home, 'var-lib-machines', 'imported')}`)).toBeVisible()
  await page.getByText('Log', { exact: true }).click()
  await expect(page.getByLabel('Log', { exact: true })).toContainText('tar --extract')
  await page.screenshot({ path: testInfo.outputPath('container-imported.png'), fullPage: true })
  await page.getByLabel('Run one command').check()
  await page.getByLabel('Command', { exact: true }).fill('/bin/sh\n-c\necho imported-$((6*7))')
  await page.getByRole('button', { name: 'Create' }).click()
  await page.getByRole('button', { name: 'Start' }).click()
  await page.getByRole('tab', { name: 'Console' }).click()
  await expect(terminalText(page)).toContainText('imported-42')
})
