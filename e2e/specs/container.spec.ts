// A person makes a container in the wizard from a folder, starts it, and uses its console; bad input
// is explained on the field and nothing is created.
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
})
