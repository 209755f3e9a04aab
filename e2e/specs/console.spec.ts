// The serial console as a person watches it: the guest prints numbered lines while the page is
// reloaded and the tabs are switched; afterwards the console (screen and scrollback) holds every
// number once, in order. A console opened on a quiet VM shows the prompt the guest last printed.
import { test, expect, terminalText } from '../fixtures/berth'
import { connectWebSocket } from '../../electron/main/testing/serve-process'
import { tinyGuestSpec } from '../../electron/main/testing/harness'

test('reloads and tab switches during output never cut or repeat a line', async ({ page, berth, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write'])
  const client = await connectWebSocket(berth.url)
  const { id } = await client.call('machines.create', { spec: tinyGuestSpec('lines') })
  await client.call('machines.start', { id })
  await page.goto(berth.url)
  await page.getByRole('link', { name: 'lines, running' }).click()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  const terminal = terminalText(page)
  await expect(terminal).toContainText('guest#', { timeout: 60_000 })

  // A console opened on a quiet VM shows the prompt it last printed.
  await page.reload()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminal).toContainText('guest#')

  const count = 4000
  await page.getByRole('region', { name: 'Serial console of lines' }).click()
  await page.keyboard.type(`i=1; while [ $i -le ${count} ]; do echo line-$i; i=$((i+1)); done; echo LOOP-""DONE\n`)
  await expect(terminal).toContainText('line-', { timeout: 30_000 })
  await page.reload()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminal).toContainText('line-')
  await page.getByRole('tab', { name: 'Drives' }).click()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await page.reload()
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminal).toContainText('LOOP-DONE', { timeout: 120_000 })
  await page.screenshot({ path: 'test-results/e2e/console-after-reloads.png' })

  await page.getByRole('button', { name: 'Copy all output' }).click()
  const text = await page.evaluate(() => navigator.clipboard.readText())
  const numbers = [...text.matchAll(/^line-(\d+)\s*$/gm)].map((m) => Number(m[1]))
  const missing = Array.from({ length: count }, (_, i) => i + 1).find((n, i) => numbers[i] !== n)
  expect(numbers.length, `line-${missing} is not where it should be: ${JSON.stringify(text.slice(Math.max(0, text.indexOf(`line-${(missing ?? 1) - 1}\n`) - 200), text.indexOf(`line-${(missing ?? 1) - 1}\n`) + 200))}`).toBe(count)
  expect(numbers.every((n, i) => n === i + 1)).toBe(true)
  expect(text).toMatch(/LOOP-DONE\s*\n.*guest# /)

  await client.call('machines.stop', { id, force: true })
  client.close()
})
