// The machine list with many machines: it draws the rows in view, scrolls to any of them, and the
// filter finds machines by name, kind or state as you type.
import { test, expect } from '../fixtures/berth'
import { connectWebSocket } from '../../electron/main/testing/serve-process'
import { tinyGuestSpec } from '../../electron/main/testing/harness'

test('a long list scrolls to its last machine, and the filter finds by name, kind and state', async ({ page, berth }, testInfo) => {
  const client = await connectWebSocket(berth.url)
  for (let i = 0; i < 120; i++) await client.call('machines.create', { spec: tinyGuestSpec(`vm-${String(i).padStart(3, '0')}`) })
  await page.goto(berth.url)
  const list = page.getByRole('list', { name: 'Machine list' })
  await expect(list.getByRole('listitem').first()).toHaveAttribute('aria-setsize', '120')
  // Only what is in view (and a margin) is drawn.
  expect(await list.getByRole('listitem').count()).toBeLessThan(60)
  await expect(page.getByRole('link', { name: 'vm-119, stopped' })).toHaveCount(0)
  await page.locator('.rows').evaluate((rows) => rows.scrollTo(0, rows.scrollHeight))
  await expect(page.getByRole('link', { name: 'vm-119, stopped' })).toBeVisible()
  await page.screenshot({ path: testInfo.outputPath('list-scrolled.png') })
  // A row opens its machine in the window and is marked as the open one.
  const last = page.getByRole('link', { name: 'vm-119, stopped' })
  await last.click()
  await expect(page).toHaveURL(/#\/machines\/[a-z0-9]{12}$/)
  await expect(page.getByRole('heading', { name: 'vm-119' })).toBeVisible()
  await expect(last).toHaveAttribute('aria-current', 'page')
  // A file dragged over a row says what a drop there will do (the rows share one set of drop handlers).
  const dataTransfer = await page.evaluateHandle(() => {
    const transfer = new DataTransfer()
    transfer.items.add(new File([new Uint8Array(512)], 'disk.img'))
    return transfer
  })
  await last.dispatchEvent('dragenter', { dataTransfer })
  await expect(last).toHaveAttribute('title', /Drop to attach/)
  await expect(page.getByRole('link', { name: 'vm-118, stopped' })).not.toHaveAttribute('title', /Drop/)
  await last.dispatchEvent('dragleave', { dataTransfer })
  await expect(last).not.toHaveAttribute('title', /Drop/)

  const filter = page.getByLabel('Filter machines')
  await filter.fill('vm-07')
  await expect(list.getByRole('listitem')).toHaveCount(10)
  await expect(page.getByLabel('Machines shown')).toHaveText('10 of 120')
  await filter.fill('vm-042 stopped')
  await expect(list.getByRole('listitem')).toHaveCount(1)
  await filter.fill('running')
  await expect(page.getByText('No machine matches “running”.')).toBeVisible()

  // A machine made elsewhere appears in place without a reload, and leaves when removed.
  await filter.fill('')
  const made = await client.call('machines.create', { spec: tinyGuestSpec('aaa-first') })
  await expect(list.getByRole('listitem').first().getByRole('link')).toHaveAttribute('aria-label', 'aaa-first, stopped')
  await expect(page.getByRole('link', { name: 'aaa-first, stopped' })).toBeVisible()
  await client.call('machines.remove', { id: made.id })
  await expect(page.getByRole('link', { name: 'aaa-first, stopped' })).toHaveCount(0)
  client.close()
})
