// Berth's signature move in browser mode: drag a disk image onto a running VM; it is uploaded,
// inspected and hot-plugged, and the guest sees the disk. Bad files are refused and change nothing.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from '@playwright/test'
import { test, expect, terminalText, typeInConsole } from '../fixtures/berth'
import { createTestVm } from '../fixtures/wizard'

/** Drops a file on an element the way a browser does: a DataTransfer carrying a File. */
async function dropFile(page: Page, selector: string, name: string, bytes: Buffer) {
  const dataTransfer = await page.evaluateHandle(
    ({ name, base64 }) => {
      const binary = atob(base64)
      const data = new Uint8Array(binary.length)
      for (let i = 0; i < binary.length; i++) data[i] = binary.charCodeAt(i)
      const transfer = new DataTransfer()
      transfer.items.add(new File([data], name))
      return transfer
    },
    { name, base64: bytes.toString('base64') },
  )
  const target = page.locator(selector)
  await target.dispatchEvent('dragenter', { dataTransfer })
  await target.dispatchEvent('dragover', { dataTransfer })
  return {
    land: () => target.dispatchEvent('drop', { dataTransfer }),
  }
}

test('drag a qcow2 onto a running VM: upload, attach, the guest sees the disk; grow it', async ({ page, berth }) => {
  // A qcow2 with 6 MiB of data in it, made on the host.
  const raw = join(berth.home, 'source.raw')
  writeFileSync(raw, randomBytes(6 * 1024 * 1024))
  const qcow2 = join(berth.home, 'data.qcow2')
  execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', raw, qcow2])
  execFileSync('qemu-img', ['resize', '-q', qcow2, '48M'])

  await page.goto(berth.url)
  await createTestVm(page, 'dropzone')
  await page.getByRole('button', { name: 'Start' }).click()
  await expect(page.getByRole('status', { name: 'State' })).toHaveText('running')
  await page.getByRole('tab', { name: 'Serial console' }).click()
  await expect(terminalText(page)).toContainText('guest#', { timeout: 60_000 })

  const drop = await dropFile(page, 'section.page', 'data.qcow2', readFileSync(qcow2))
  await expect(page.getByText('Attach to dropzone')).toBeVisible() // shown before the drop lands
  await page.screenshot({ path: 'test-results/e2e/drop-hover.png' })
  await drop.land()

  const dialog = page.getByRole('dialog', { name: 'Attach data.qcow2' })
  await expect(dialog.getByRole('status')).toContainText(/Uploaded 6\.\d MiB/)
  await expect(dialog.getByLabel('Image')).toContainText('qcow2')
  await expect(dialog.getByLabel('Image')).toContainText('48.0 MiB')
  await page.screenshot({ path: 'test-results/e2e/drop-dialog.png' })
  await dialog.getByRole('button', { name: 'Attach' }).click()
  await expect(dialog).toBeHidden()

  await page.getByRole('tab', { name: 'Drives' }).click()
  const row = page.getByRole('row', { name: /Drive .*images\/data\.qcow2/ })
  await expect(row).toContainText('attached')
  await expect(row).toContainText('virtio')
  // The browser-mode chooser lists Berth's image folder; the uploaded image is there, attached.
  await expect(page.getByRole('button', { name: 'Attach data.qcow2' })).toHaveText('Attached')
  await page.screenshot({ path: 'test-results/e2e/drives-after-drop.png' })

  await typeInConsole(page, 'dropzone', 'cat /proc/partitions', '49152 vda')

  // Grow it while the VM runs: each step shows; nothing is mounted in the guest, so that is all.
  await page.getByRole('tab', { name: 'Drives' }).click()
  await row.getByRole('button', { name: /^Grow / }).click()
  const grow = page.getByRole('dialog', { name: /^Grow .*data\.qcow2/ })
  await expect(grow).toContainText('Now 48 MiB (qcow2')
  await grow.getByLabel('New size (MiB)').fill('40')
  await grow.getByRole('button', { name: 'Grow' }).click()
  await expect(grow.getByText('At least 48 MiB: disks only grow')).toBeVisible()
  await grow.getByLabel('New size (MiB)').fill('96')
  await grow.getByRole('button', { name: 'Grow' }).click()
  await expect(grow.getByRole('status')).toHaveText('The disk is 96 MiB now.', { timeout: 30_000 })
  const steps = grow.getByRole('list', { name: 'Steps' })
  await expect(steps.getByRole('listitem')).toHaveText([
    /✓Grow the image from 48 MiB to 96 MiB \(block_resize, while it runs\)/,
    /✓Find the disk’s filesystems in the guest.*None mounted: nothing more to grow/,
  ])
  await page.screenshot({ path: 'test-results/e2e/grow-dialog.png' })
  await grow.getByRole('button', { name: 'Close' }).click()
  await typeInConsole(page, 'dropzone', 'cat /proc/partitions', '98304 vda')
})

test('dropping files that are not disk images: a clear error, nothing changed or left behind', async ({ page, berth }) => {
  await page.goto(berth.url)
  await createTestVm(page, 'picky')

  for (const [name, bytes, reason] of [
    ['notes.txt', Buffer.from('milk\neggs\n'.repeat(100)), 'looks like a text file, not a disk image'],
    ['photos.zip', Buffer.concat([Buffer.from('PK\x03\x04'), randomBytes(8192)]), 'looks like a ZIP archive, not a disk image'],
  ] as const) {
    const drop = await dropFile(page, 'section.page', name, bytes)
    await drop.land()
    const dialog = page.getByRole('dialog', { name: `Attach ${name}` })
    await expect(dialog.getByRole('alert')).toContainText(reason)
    await page.screenshot({ path: `test-results/e2e/drop-refused-${name}.png` })
    await dialog.getByRole('button', { name: 'Close' }).click()
  }
  await page.getByRole('tab', { name: 'Drives' }).click()
  await expect(page.getByRole('row', { name: /^Drive / })).toHaveCount(0)
  expect(readdirSync(join(berth.home, 'data', 'images'))).toEqual([])
})
