// The guest's screen inside Berth, through the authenticated proxy: what the canvas shows matches
// QEMU's own screendump, and keys typed on it reach the guest.
import type { Page } from '@playwright/test'
import { test, expect, terminalText } from '../fixtures/berth'
import { createTestVm } from '../fixtures/wizard'

/** Share of pixels that are the same in the display canvas and the list's thumbnail (a QMP screendump). */
async function sameAsScreendump(page: Page, name: string): Promise<{ same: number; lit: number }> {
  return page.evaluate(async (name) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`[aria-label="Screen of ${name}"] canvas`)!
    const thumb = document.querySelector<HTMLImageElement>(`img[alt="Screen of ${name}"]`)!
    await thumb.decode()
    const w = thumb.naturalWidth
    const h = thumb.naturalHeight
    const draw = (source: CanvasImageSource) => {
      const c = document.createElement('canvas')
      c.width = w
      c.height = h
      const ctx = c.getContext('2d')!
      ctx.drawImage(source, 0, 0, w, h)
      return ctx.getImageData(0, 0, w, h).data
    }
    const a = draw(canvas)
    const b = draw(thumb)
    let same = 0
    let lit = 0
    for (let i = 0; i < a.length; i += 4) {
      const close = Math.abs(a[i]! - b[i]!) + Math.abs(a[i + 1]! - b[i + 1]!) + Math.abs(a[i + 2]! - b[i + 2]!) < 48
      if (close) same++
      if (a[i]! + a[i + 1]! + a[i + 2]! > 200) lit++
    }
    return { same: same / (w * h), lit }
  }, name)
}

for (const [protocol, label] of [
  ['VNC', 'VNC (noVNC)'],
  ['SPICE', 'SPICE (spice-html5)'],
] as const) {
  test(`${protocol}: the screen in the window matches the guest's, and typed keys reach it`, async ({ page, berth }) => {
    const name = `screen-${protocol.toLowerCase()}`
    await page.goto(berth.url)
    await createTestVm(page, name, { screen: label })

    await page.getByRole('tab', { name: 'Display' }).click()
    await expect(page.getByText('Start the machine to see its screen.')).toBeVisible()
    await page.getByRole('button', { name: 'Start' }).last().click()
    await expect(page.getByRole('status', { name: 'Display status' })).toHaveText(`${protocol} connected`, { timeout: 30_000 })

    // Wait for the guest's shell, then compare the canvas with QEMU's screendump of the same screen.
    await page.getByRole('tab', { name: 'Serial console' }).click()
    await expect(terminalText(page)).toContainText('guest#', { timeout: 90_000 })
    await page.getByRole('tab', { name: 'Display' }).click()
    // The thumbnail is a fresh screendump every 5 s; once both show the shell prompt, they match.
    await expect(async () => {
      const { same, lit } = await sameAsScreendump(page, name)
      expect(lit).toBeGreaterThan(2000) // real text on screen, not a blank canvas
      expect(same).toBeGreaterThan(0.98)
    }).toPass({ timeout: 60_000, intervals: [1000] })
    await page.screenshot({ path: `test-results/e2e/display-${protocol.toLowerCase()}.png` })

    // Keys typed on the screen go to the guest's shell on its screen (tty1). The command needs no
    // Shift (the display clients send physical key codes); its effect is checked on the serial console.
    const screen = page.getByRole('region', { name: `Screen of ${name}` })
    await screen.locator('canvas').first().click()
    await expect(page.getByRole('status', { name: 'Keyboard' })).toContainText('Keyboard captured')
    await page.keyboard.type('mkdir /tmp/typed-on-screen-42\n', { delay: 30 })
    await page.screenshot({ path: `test-results/e2e/display-${protocol.toLowerCase()}-typed.png` })
    await page.getByRole('tab', { name: 'Serial console' }).click()
    await page.getByRole('region', { name: `Serial console of ${name}` }).click()
    await expect(async () => {
      await page.keyboard.type('ls /tmp\n')
      await expect(terminalText(page)).toContainText('typed-on-screen-42', { timeout: 2000 })
    }).toPass({ timeout: 30_000 })

    // Stopping the machine ends the display session and says how to get it back; started again,
    // the screen reconnects by itself.
    await page.getByRole('button', { name: 'Force stop' }).click()
    await page.getByRole('tab', { name: 'Display' }).click()
    await expect(page.getByText('Start the machine to see its screen.')).toBeVisible()
    await page.getByRole('button', { name: 'Start' }).last().click()
    await expect(page.getByRole('status', { name: 'Display status' })).toHaveText(`${protocol} connected`, { timeout: 30_000 })
    await page.getByRole('button', { name: 'Force stop' }).click()
  })
}
