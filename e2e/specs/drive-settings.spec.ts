// A stopped VM's drives are reordered and tuned on its Drives tab; the definition follows.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { test, expect } from '../fixtures/berth'
import { connectWebSocket } from '../../electron/main/testing/serve-process'
import { tinyGuestSpec } from '../../electron/main/testing/harness'

test('reorder drives, set a cache mode, a boot position, discard, a serial and I/O limits on the Drives tab', async ({ page, berth }, testInfo) => {
  const client = await connectWebSocket(berth.url)
  const { id } = await client.call('machines.create', { spec: tinyGuestSpec('drives', { disk: { sizeMiB: 32, interface: 'scsi' } }) })
  const [a, b] = ['a', 'b'].map((n) => join(berth.home, `${n}.qcow2`))
  for (const file of [a!, b!]) {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, '16M'])
    await client.call('drives.attach', { id, path: file, bus: 'virtio', persist: true, allowOutsideBacking: false })
  }
  await page.goto(berth.url)
  await page.getByRole('link', { name: 'drives, stopped' }).click()
  await page.getByRole('tab', { name: 'Drives' }).click()
  await page.getByLabel(`Cache of ${b}`).selectOption('none')
  await page.getByLabel(`Move ${b} up`).click()
  await expect(page.getByLabel(`Move ${b} up`)).toBeDisabled() // b is first now
  await page.getByLabel(`Boot position of ${b}`).fill('1')
  await page.getByLabel(`Boot position of ${b}`).press('Tab')
  await page.getByLabel(`Discard for ${a}`).uncheck()
  await page.getByLabel(`Serial number of ${a}`).fill('DATA-A')
  await page.getByLabel(`Serial number of ${a}`).press('Tab')
  await page.getByLabel(`MiB per second limit of ${a}`).fill('20')
  await page.getByLabel(`MiB per second limit of ${a}`).press('Tab')
  // The root disk: its real interface, and the same controls.
  await expect(page.getByRole('row', { name: 'Root disk' })).toContainText('scsi')
  await page.getByLabel('Detect zeroes for the root disk').check()
  await page.getByLabel('Operations per second limit of the root disk').fill('500')
  await page.getByLabel('Operations per second limit of the root disk').press('Tab')
  await expect
    .poll(async () => {
      const machine = (await client.call('machines.list', {})).machines.find((m) => m.id === id)!
      if (machine.spec.kind !== 'qemu') return null
      return {
        drives: machine.spec.drives.map((d) => [d.file, d.cache, d.bootIndex, d.discard, d.serial, d.mbpsLimit]),
        root: [machine.spec.disk?.detectZeroes, machine.spec.disk?.iopsLimit],
      }
    })
    .toEqual({
      drives: [
        [b, 'none', 1, true, null, null],
        [a, 'writeback', null, false, 'DATA-A', 20],
      ],
      root: [true, 500],
    })
  await page.screenshot({ path: testInfo.outputPath('drive-settings.png') })
  client.close()
})
