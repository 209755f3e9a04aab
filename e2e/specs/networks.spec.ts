// A person makes a bridge on the Networks page and sees it there; the host readiness page says
// which accelerator this host uses and why.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { test, expect } from '../fixtures/berth'

const bridge = 'br-e2etest'
test.afterEach(() => {
  if (existsSync(`/sys/class/net/${bridge}`)) execFileSync('ip', ['link', 'del', bridge])
})

test('create a bridge through the form, see it on the Networks page, delete it', async ({ page, berth }, testInfo) => {
  await page.goto(berth.url)
  await page.getByRole('link', { name: 'Networks' }).click()
  const form = page.getByRole('form', { name: 'New bridge' })

  // Bad input: a name an interface cannot have; a DHCP range outside the subnet.
  await form.getByLabel('Bridge name').fill('my bridge')
  await form.getByRole('button', { name: 'Create bridge' }).click()
  await expect(form.getByText('Use letters, digits, dots, dashes and underscores')).toBeVisible()
  await form.getByLabel('Bridge name').fill(bridge)
  await form.getByLabel('Host IPv4 address').fill('10.231.170.1/24')
  await form.getByLabel('Hand out addresses (DHCP)').check()
  await form.getByLabel('First address').fill('10.231.171.10')
  await form.getByLabel('Last address').fill('10.231.171.20')
  await expect(page.getByLabel('What it will do')).toContainText('Give the host the address 10.231.170.1/24 on it')
  await form.getByRole('button', { name: 'Create bridge' }).click()
  await expect(form.getByText("The range must lie in the bridge's subnet 10.231.170.0/24")).toBeVisible()
  expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false) // nothing was made
  await form.getByLabel('Hand out addresses (DHCP)').uncheck()
  await page.screenshot({ path: testInfo.outputPath('networks-form.png'), fullPage: true })

  await form.getByRole('button', { name: 'Create bridge' }).click()
  const row = page.getByRole('row', { name: `Bridge ${bridge}` })
  await expect(row).toContainText('made by Berth')
  await expect(row).toContainText('10.231.170.1/24')
  expect(readFileSync(`/sys/class/net/${bridge}/operstate`, 'utf8').trim()).not.toBe('')
  await page.screenshot({ path: testInfo.outputPath('networks-list.png'), fullPage: true })

  await row.getByRole('button', { name: 'Delete' }).click()
  await expect(row).toHaveCount(0)
  expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false)
})

test('the host readiness page shows TCG with the reason, and what the other backends need', async ({ page, berth }, testInfo) => {
  await page.goto(berth.url)
  await page.getByRole('link', { name: 'Host readiness' }).click()
  const kvm = page.getByRole('listitem', { name: 'Hardware virtualization (KVM)' })
  const cpu = readFileSync('/proc/cpuinfo', 'utf8')
  if (!/\b(vmx|svm)\b/.test(cpu)) {
    await expect(kvm).toContainText('Attention')
    await expect(kvm).toContainText('TCG (software emulation). The CPU exposes no vmx or svm flag')
  }
  await expect(page.getByRole('listitem', { name: 'systemd-nspawn' })).toContainText('systemd-nspawn from systemd')
  await expect(page.getByRole('listitem', { name: 'systemd as PID 1' })).toBeVisible()
  await expect(page.getByRole('listitem', { name: 'Kernel module bridge' })).toBeVisible()
  await expect(page.getByRole('listitem', { name: 'Xen dom0' })).toBeVisible()
  await page.screenshot({ path: testInfo.outputPath('host-readiness.png'), fullPage: true })
})
