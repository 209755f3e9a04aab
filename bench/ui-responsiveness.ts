// A click in the window while a guest floods its serial console into the open console view:
// the time until the page shows its answer, against the same clicks with the console idle.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import { tinyGuestSpec, watchConsole } from '../electron/main/testing/harness'
import { connectWebSocket, launchServe } from '../electron/main/testing/serve-process'
import { removeTestHome } from '../electron/main/testing/cleanup'
import type { BenchResult } from './run'

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!

/**
 * Switches Overview ↔ Serial console count times with real mouse clicks; each time, from the click
 * event to the first frame drawn after the page shows the tab selected (measured inside the page,
 * so Playwright's own waiting is not counted).
 */
async function clicks(page: Page, count: number): Promise<number[]> {
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    for (const name of ['Overview', 'Serial console']) {
      const box = (await page.getByRole('tab', { name }).boundingBox())!
      await page.evaluate((name) => {
        const w = window as unknown as { answered: number | null }
        w.answered = null
        let clicked = 0
        document.addEventListener('click', (e) => (clicked = e.timeStamp), { once: true, capture: true })
        // (no named helpers in here: the page does not have the bundler's __name)
        const observer = new MutationObserver(() => {
          if (!Array.from(document.querySelectorAll('[role=tab][aria-selected=true]')).some((t) => t.textContent!.includes(name))) return
          observer.disconnect()
          requestAnimationFrame(() => (w.answered = performance.now() - clicked))
        })
        observer.observe(document.body, { attributes: true, subtree: true, childList: true })
      }, name)
      await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)
      await page.waitForFunction(() => (window as unknown as { answered: number | null }).answered !== null)
      times.push(await page.evaluate(() => (window as unknown as { answered: number }).answered))
    }
  }
  return times
}

export async function uiResponsiveness(): Promise<BenchResult> {
  const home = mkdtempSync(join(tmpdir(), 'berth-bench-ui-'))
  const serve = await launchServe(home)
  const browser = await chromium.launch({
    executablePath: process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
  try {
    const client = await connectWebSocket(serve.url)
    const { id } = await client.call('machines.create', { spec: tinyGuestSpec('flooder') })
    await client.call('machines.start', { id })
    const guest = await watchConsole(client, id)
    await guest.waitFor('guest# ', 120_000)
    const page = await browser.newPage()
    await page.goto(serve.url) // takes the token from the address
    await page.getByRole('link', { name: 'flooder, running' }).click()
    await page.getByRole('tab', { name: 'Serial console' }).click()
    await page.locator('.xterm-rows').waitFor()
    const idle = await clicks(page, 30)
    guest.type('seq 1 400000\r')
    await guest.waitFor(/\n5000\r/, 60_000)
    const flooded = await clicks(page, 30)
    guest.stream.close()
    client.close()
    const p95 = { berth: percentile(flooded, 0.95), baseline: percentile(idle, 0.95) }
    return { name: 'a click in the window while the open console is flooded, p95 (baseline: console idle)', unit: 'ms', ...p95, ratio: p95.berth / p95.baseline, goal: '≤ 100 ms', samples: { berth: flooded, baseline: idle } }
  } finally {
    await browser.close()
    await removeTestHome(home, [serve.child])
  }
}
