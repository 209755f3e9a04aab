// A person opens a running VM's overview and watches its activity: the graphs draw and move, a busy
// guest shows on the CPU graph, and once stopped the machine's last hour stays, greyed.
import { test, expect, terminalText } from '../fixtures/berth'
import { connectWebSocket } from '../../electron/main/testing/serve-process'
import { tinyGuestSpec } from '../../electron/main/testing/harness'

test('the overview graphs a VM\'s CPU, memory, disk and network, live, and keep its last hour when it stops; the home page shows what it takes of the host', async ({ page, berth }, testInfo) => {
  const client = await connectWebSocket(berth.url)
  await client.call('machines.create', { spec: tinyGuestSpec('watched') })
  client.close()
  await page.goto(berth.url)
  await page.getByRole('link', { name: 'watched, stopped' }).click()
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')

  const metrics = page.getByRole('region', { name: 'Metrics' })
  await expect(metrics.getByRole('figure', { name: 'CPU graph' }).locator('canvas')).toBeVisible()
  await expect(metrics.getByLabel('Memory now')).toContainText(/\d+ MiB used, 256 assigned/)
  // The guest's user-mode card has no address (the test guest does not configure it): the graph says why it is not counted.
  await expect(metrics).toContainText(/Not measured: network: .*user-mode card/)

  // A busy loop in the guest: the CPU figure climbs past half a CPU.
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminalText(page)).toContainText('guest#', { timeout: 60_000 })
  await page.getByRole('region', { name: 'Serial console of watched' }).click()
  await page.keyboard.type('while :; do :; done &\n')
  await page.getByRole('tab', { name: 'Overview' }).click()
  await expect
    .poll(async () => Number((await metrics.getByLabel('CPU now').textContent())?.match(/(\d+) %/)?.[1] ?? 0), { timeout: 15_000 })
    .toBeGreaterThan(50)
  await page.waitForTimeout(5000) // a few more one-second samples: lines, not points
  // The plot has drawn lines: its canvas is not blank.
  const drawn = await metrics.getByRole('figure', { name: 'CPU graph' }).locator('canvas').evaluate((canvas: HTMLCanvasElement) => {
    const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
    let coloured = 0
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3]! > 0) coloured++
    return coloured
  })
  expect(drawn).toBeGreaterThan(100)
  // Its row in the list has a sparkline of the last minute's CPU.
  await expect(page.getByRole('img', { name: /^CPU of watched: \d+ %$/ })).toBeVisible()
  await expect
    .poll(async () => Number((await page.getByRole('img', { name: /^CPU of watched/ }).getAttribute('aria-label'))?.match(/(\d+) %/)?.[1] ?? 0))
    .toBeGreaterThan(50)
  await page.screenshot({ path: testInfo.outputPath('metrics-running.png'), fullPage: true })

  // The home page: this computer's CPU and memory, and what the busy VM takes of them.
  await page.getByRole('link', { name: 'Berth: home' }).click()
  const host = page.getByRole('region', { name: 'This computer' })
  await expect(host.getByLabel(/^Host CPU: \d+ %$/)).toBeVisible()
  await expect(host.getByLabel(/^Host memory: \d+ %$/)).toBeVisible()
  const share = host.getByRole('table', { name: 'What each machine takes' }).getByRole('row', { name: /watched/ })
  await expect(share).toContainText(/\d+ % of the host/)
  await expect.poll(async () => Number((await share.textContent())?.match(/(\d+) % of the host/)?.[1] ?? 0), { timeout: 15_000 }).toBeGreaterThan(20)
  await page.screenshot({ path: testInfo.outputPath('metrics-host.png'), fullPage: true })
  await page.getByRole('link', { name: 'watched, running' }).click()

  await page.getByRole('button', { name: 'Force stop' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('stopped')
  await expect(metrics.getByRole('heading')).toContainText('stopped: its last hour')
  await page.screenshot({ path: testInfo.outputPath('metrics-stopped.png'), fullPage: true })
})
