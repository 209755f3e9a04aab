// A person adds a real Xen host (Xen 4.17 + dom0, nested under QEMU TCG) over SSH, compares its host
// key, sees its dom0, makes a PV domain with a disk in the wizard, starts it, types in its console,
// and clones it: the clone's disk is a copy on the host, and the clone boots on it.
import { test, expect, terminalText } from '../fixtures/berth'
import { execFileSync } from 'node:child_process'
import { bootXenHost, dom0Ssh, xenHostFiles, type XenHost } from '../../electron/main/testing/xen-host'

let xen: XenHost
test.beforeAll(async () => {
  // Room for one more boot after a stalled one (see bootXenHost).
  test.setTimeout(330_000)
  xen = await bootXenHost()
})
test.afterAll(async () => {
  await xen?.stop()
})

test('add a Xen host, create a PV domain on it, use its console', async ({ page, berth }, testInfo) => {
  await page.goto(berth.url)
  // No Xen host yet: the wizard does not offer Xen domains.
  await expect(page.getByRole('button', { name: 'New virtual machine' })).toBeVisible()
  await expect(page.getByRole('button', { name: 'New Xen domain' })).toHaveCount(0)

  await page.getByRole('link', { name: 'Hosts' }).click()
  const local = page.getByRole('article', { name: 'Host This computer' })
  await expect(local).toContainText('this computer is not a Xen dom0: it does not run under Xen (no /proc/xen/capabilities)')

  const form = page.getByRole('form', { name: 'Add an SSH host' })
  await form.getByLabel('Host label').fill('lab')
  await form.getByLabel('Address').fill('127.0.0.1')
  await form.getByLabel('SSH port').fill(String(xen.port))
  await form.getByLabel('Private key file', { exact: true }).fill('/nonexistent/key')
  await form.getByRole('button', { name: 'Check host key' }).click()
  await expect(form.getByRole('group', { name: 'Host key to trust' })).toContainText(xen.fingerprint)
  // A key file that is not there: said before anything is kept.
  await form.getByRole('button', { name: 'Trust this key and add' }).click()
  await expect(page.getByRole('alert').filter({ hasText: 'lab (root@127.0.0.1:' })).toContainText('cannot read the key file /nonexistent/key (ENOENT)')
  await expect(form.getByText('Cannot read the key file /nonexistent/key (ENOENT)')).toBeVisible()
  await page.screenshot({ path: testInfo.outputPath('xen-trust-key.png'), fullPage: true })
  await form.getByLabel('Private key file', { exact: true }).fill(xen.clientKey)
  await form.getByRole('button', { name: 'Trust this key and add' }).click()

  const lab = page.getByRole('article', { name: 'Host lab' })
  await expect(lab).toContainText(xen.fingerprint)
  await expect(lab.getByRole('table', { name: 'Domains on lab' })).toContainText('Domain-0')
  await expect(lab).toContainText('dom0_mem=1024M')
  await expect(lab).toContainText('xenstored running · xenconsoled running')
  await page.screenshot({ path: testInfo.outputPath('xen-hosts.png'), fullPage: true })

  await page.getByRole('button', { name: 'New Xen domain' }).click()
  await page.getByLabel('Name').fill('pv1')
  await page.getByLabel('PV: classic').check()
  await page.getByLabel('Memory (MiB)', { exact: true }).fill('160')
  await page.getByLabel('Kernel', { exact: true }).fill(xenHostFiles.guestKernel)
  await page.getByLabel('Ramdisk').fill(xenHostFiles.guestRamdisk)
  await page.getByLabel('Kernel command line').fill('console=hvc0 quiet')
  execFileSync('ssh', [...dom0Ssh(xen.port), 'mkdir -p /srv && dd if=/dev/zero of=/srv/pv1.img bs=1M count=8 2>/dev/null && printf pv1-data | dd of=/srv/pv1.img conv=notrunc 2>/dev/null'])
  await page.getByRole('button', { name: 'Add a disk' }).click()
  await page.getByLabel('Disk 1 target').fill('/srv/pv1.img')
  await page.getByRole('button', { name: 'Check' }).click()
  await expect(page.getByLabel('xl.cfg')).toContainText('type = "pv"')
  await page.screenshot({ path: testInfo.outputPath('xen-wizard.png'), fullPage: true })
  await page.getByRole('button', { name: 'Create' }).click()

  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped')
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running', { timeout: 90_000 })
  await expect(page.getByRole('link', { name: 'pv1, running' })).toBeVisible()

  await page.getByRole('tab', { name: 'Console' }).click()
  const terminal = terminalText(page)
  await expect(terminal).toContainText('BERTH-GUEST-READY', { timeout: 90_000 })
  await expect(terminal).toContainText('guest#')
  await page.getByRole('region', { name: 'Console of pv1' }).click()
  await page.keyboard.type('echo typed-$((6*7)) on $(uname -r)\n')
  await expect(terminal).toContainText('typed-42 on')
  await page.screenshot({ path: testInfo.outputPath('xen-console.png') })

  // Its activity, from xl list on the host; while the host is silent, the graphs stop and say why.
  await page.getByRole('tab', { name: 'Overview' }).click()
  const metrics = page.getByRole('region', { name: 'Metrics' })
  await expect(metrics.getByRole('figure', { name: 'CPU graph' }).locator('canvas')).toBeVisible()
  await expect(metrics.getByLabel('CPU now')).toHaveText(/%/, { timeout: 20_000 })
  xen.freeze(true)
  try {
    await expect(metrics.getByRole('status', { name: 'Metrics paused' })).toContainText(`lab (root@127.0.0.1:${xen.port}) does not answer`, { timeout: 20_000 })
    await page.screenshot({ path: testInfo.outputPath('xen-metrics-paused.png'), fullPage: true })
  } finally {
    xen.freeze(false)
  }
  await expect(metrics.getByRole('status', { name: 'Metrics paused' })).toHaveCount(0, { timeout: 60_000 })

  await page.getByRole('button', { name: 'Force stop' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped', { timeout: 60_000 })

  // A clone: the dialog says where the copy of its disk goes on the host; the clone boots on that copy.
  await page.getByRole('button', { name: 'Clone…' }).click()
  const dialog = page.getByRole('dialog', { name: 'Clone pv1' })
  await expect(dialog).toContainText('xvda as /srv/pv1-clone-xvda.img')
  await page.screenshot({ path: testInfo.outputPath('xen-clone-dialog.png') })
  await dialog.getByRole('button', { name: 'Clone' }).click()
  await expect(page.getByRole('heading', { name: /pv1-clone/ })).toBeVisible({ timeout: 60_000 })
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running', { timeout: 90_000 })
  await page.getByRole('tab', { name: 'Console' }).click()
  await expect(terminal).toContainText('guest#', { timeout: 90_000 })
  await page.getByRole('region', { name: 'Console of pv1-clone' }).click()
  await page.keyboard.type('echo "disk:$(head -c 8 /dev/xvda)"\n')
  await expect(terminal).toContainText('disk:pv1-data')
  await page.screenshot({ path: testInfo.outputPath('xen-clone-console.png') })
  await page.getByRole('button', { name: 'Force stop' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped', { timeout: 60_000 })

  // Deleting the clone can delete the copy Berth made; the original's disk is the person's and stays.
  for (const name of ['pv1-clone', 'pv1']) {
    await page.getByRole('link', { name: `${name}, stopped` }).click()
    await page.getByRole('button', { name: 'Delete' }).click()
    const confirm = page.getByRole('dialog', { name: `Delete ${name}?` })
    const copy = confirm.getByLabel(/Also delete the copy of its disk Berth made/)
    if (name === 'pv1-clone') await copy.check()
    else await expect(copy).toHaveCount(0)
    await confirm.getByRole('button', { name: `Delete ${name}` }).click()
    await expect(page.getByRole('link', { name: new RegExp(`^${name},`) })).toHaveCount(0)
  }
  expect(execFileSync('ssh', [...dom0Ssh(xen.port), 'ls /srv'], { encoding: 'utf8' })).toBe('pv1.img\n')

  // The host goes away: its card says so, naming the host and the cause.
  await xen.stop()
  await page.getByRole('link', { name: 'Hosts' }).click()
  await expect(lab.getByRole('alert', { name: 'Problem with lab' })).toContainText(
    `Cannot reach lab (root@127.0.0.1:${xen.port}): nothing accepts SSH connections on 127.0.0.1:${xen.port} (connection refused)`,
  )
  await expect(page.getByRole('button', { name: 'New Xen domain' })).toHaveCount(0)
  await page.screenshot({ path: testInfo.outputPath('xen-host-gone.png'), fullPage: true })
  await lab.getByRole('button', { name: 'Check again' }).click()
  await expect(lab.getByRole('alert', { name: 'Problem with lab' })).toContainText('(connection refused)')
})
