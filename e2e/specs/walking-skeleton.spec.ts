// A person's path: create a VM in the wizard, start it, use its serial console, close Berth while
// the VM runs, open Berth again and find the VM running with its console history.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, expect, terminalText } from '../fixtures/berth'
import { chooseKernelBoot, createTestVm, nextSteps } from '../fixtures/wizard'
import { requireTestGuest } from '../../electron/main/testing/guest'

test('create, start, console, restart Berth, re-attach with scrollback', async ({ page, berth }) => {
  const guest = requireTestGuest()
  await page.goto(berth.url)

  await page.getByRole('button', { name: 'New virtual machine' }).click()
  await chooseKernelBoot(page, guest.vmlinux)
  await nextSteps(page, 'General')
  await page.getByLabel('Name').fill('tiny')
  await page.getByLabel('Memory (MiB)').fill('256')
  await page.getByLabel('Screen', { exact: true }).selectOption({ label: 'None' })
  await nextSteps(page, 'Boot & firmware', 'Disk', 'Shared folders', 'Network', 'Review')

  // The review step shows the command line QEMU will run.
  const cmdline = page.getByLabel('QEMU command line')
  await expect(cmdline).toContainText('qemu-system-x86_64 -name tiny')
  await expect(cmdline).toContainText(`-kernel ${guest.vmlinux}`)
  await page.getByRole('button', { name: 'Create' }).click()

  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped')
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')
  await expect(page.getByLabel('Accelerator')).toContainText(/TCG|KVM/)
  await expect(page.getByRole('link', { name: 'tiny, running' })).toBeVisible()

  await page.getByRole('tab', { name: 'Serial console' }).click()
  const terminal = terminalText(page)
  await expect(terminal).toContainText('BERTH-GUEST-READY', { timeout: 60_000 })
  await expect(terminal).toContainText('guest#')
  await page.getByRole('region', { name: 'Serial console of tiny' }).click()
  await page.keyboard.type('echo typed-$((6*7))\n')
  await expect(terminal).toContainText('typed-42')
  await page.screenshot({ path: 'test-results/e2e/console-before-restart.png' })

  // Berth's server stops while the VM runs; the page says the connection is gone.
  await berth.stop()
  await expect(page.getByRole('alert')).toContainText('connection to Berth was lost')

  // Berth starts again: the VM is still running and its console has the earlier output.
  await page.goto(await berth.start())
  await expect(page.getByRole('link', { name: 'tiny, running' })).toBeVisible()
  await page.getByRole('link', { name: 'tiny, running' }).click()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminal).toContainText('typed-42')
  await page.getByRole('region', { name: 'Serial console of tiny' }).click()
  await page.keyboard.type('echo again-$((7*7))\n')
  await expect(terminal).toContainText('again-49')
  await page.screenshot({ path: 'test-results/e2e/console-after-restart.png' })

  await page.getByRole('button', { name: 'Force stop' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped')
})

test('bad input in the wizard: a message on the field, the values kept, nothing created', async ({ page, berth }) => {
  await page.goto(berth.url)
  await page.getByRole('button', { name: 'New virtual machine' }).click()
  // Installation media is the first choice: without an ISO, Next says so on the field.
  await page.getByRole('button', { name: 'Next' }).click()
  await expect(page.getByText('Choose the installation media (an ISO image)')).toBeVisible()
  await page.getByLabel('A Linux kernel (direct kernel boot)').check()
  await page.getByLabel('Kernel', { exact: true }).fill('/nonexistent/vmlinuz')
  await nextSteps(page, 'General')

  await page.getByLabel('Name').fill('has space')
  await page.getByLabel('Memory (MiB)').fill('4')
  await page.getByRole('button', { name: 'Next' }).click()
  await expect(page.getByText('Use letters, digits, dots, dashes and underscores')).toBeVisible()
  await expect(page.getByText('At least 16 MiB')).toBeVisible()
  await expect(page.getByLabel('Name')).toHaveAttribute('aria-invalid', 'true')

  await page.getByLabel('Name').fill('nokernel')
  await page.getByLabel('Memory (MiB)').fill('256')
  await nextSteps(page, 'Boot & firmware', 'Disk', 'Shared folders', 'Network')

  // A forwarded port against qemu-vm.nix's rules is named on its field.
  await page.getByRole('button', { name: 'Add a forwarded port' }).click()
  await page.getByLabel('Forward 1 direction').selectOption('guest')
  await page.getByLabel('Forward 1 protocol').selectOption('udp')
  await page.getByLabel('Forward 1 host port').fill('5353')
  await page.getByLabel('Forward 1 guest address').fill('192.168.1.9')
  await page.getByLabel('Forward 1 guest port').fill('53')
  await page.getByRole('button', { name: 'Next' }).click()
  await expect(page.getByText('Guest forwarding supports only TCP connections')).toBeVisible()
  await expect(page.getByText('The address must be in the default VLAN (10.0.2.0/24)')).toBeVisible()
  await page.screenshot({ path: 'test-results/e2e/wizard-bad-forward.png' })
  await page.getByRole('button', { name: 'Remove forward 1' }).click()
  await page.getByRole('button', { name: 'Next' }).click()

  // The host-side check sends the person back to the first step, on the field.
  await expect(page.getByText('/nonexistent/vmlinuz does not exist')).toBeVisible()
  await expect(page.getByLabel('Kernel', { exact: true })).toHaveValue('/nonexistent/vmlinuz')
  await expect(page.getByLabel('Kernel', { exact: true })).toHaveAttribute('aria-invalid', 'true')
  await page.screenshot({ path: 'test-results/e2e/wizard-bad-kernel.png' })
  await expect(page.getByText('No machines yet.')).toBeVisible()
})

test('a corrupt definition file is shown with its path and reason; the others still load', async ({ page, berth }) => {
  await page.goto(berth.url)
  await createTestVm(page, 'survivor')
  await expect(page.getByRole('link', { name: 'survivor, stopped' })).toBeVisible()

  await berth.stop()
  const broken = join(berth.home, 'config', 'machines', 'zzzzzzzzzzzz.json')
  writeFileSync(broken, '{"version": 1, "id": "zzzzzzzzzzzz", "spec": ')
  await page.goto(await berth.start())

  const alert = page.getByRole('alert', { name: 'Definitions that could not be loaded' })
  await expect(alert).toContainText(broken)
  await expect(alert).toContainText('not valid JSON')
  await expect(page.getByRole('link', { name: 'survivor, stopped' })).toBeVisible()
  await page.screenshot({ path: 'test-results/e2e/broken-definition.png' })
})

test("a stopped machine's settings are edited in the same wizard; a running one's are not", async ({ page, berth }) => {
  await page.goto(berth.url)
  await createTestVm(page, 'editable')
  await page.getByRole('button', { name: 'Settings' }).click()
  await expect(page.getByRole('heading', { name: 'Settings of editable' })).toBeVisible()
  await expect(page.getByLabel('Name')).toHaveValue('editable')
  await page.getByLabel('Memory (MiB)').fill('384')
  await page.getByLabel('CPU cores').fill('2')
  await nextSteps(page, 'Boot & firmware', 'Disk', 'Shared folders', 'Network', 'Review')
  await expect(page.getByLabel('QEMU command line')).toContainText('-m 384 -smp 2')
  await page.getByRole('button', { name: 'Save' }).click()
  await expect(page.getByLabel('Machine settings')).toContainText('384 MiB')

  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')
  await expect(page.getByRole('button', { name: 'Settings' })).toHaveCount(0)
  await page.goto(page.url().replace(/\/machines\/([a-z0-9]+).*$/, '/machines/$1/settings'))
  await expect(page.getByRole('alert')).toHaveText('Stop editable to change its settings.')
})
