// A stopped VM's drives are reordered and tuned on its Drives tab; the definition follows.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { test, expect } from '../fixtures/berth'
import { connectWebSocket } from '../../electron/main/testing/serve-process'
import { tinyGuestSpec } from '../../electron/main/testing/harness'

test('reorder drives, set a cache mode and a boot position on the Drives tab', async ({ page, berth }, testInfo) => {
  const client = await connectWebSocket(berth.url)
  const { id } = await client.call('machines.create', { spec: tinyGuestSpec('drives') })
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
  await expect
    .poll(async () => {
      const machine = (await client.call('machines.list', {})).machines.find((m) => m.id === id)!
      return machine.spec.kind === 'qemu' ? machine.spec.drives.map((d) => [d.file, d.cache, d.bootIndex]) : null
    })
    .toEqual([
      [b, 'none', 1],
      [a, 'writeback', null],
    ])
  await page.screenshot({ path: testInfo.outputPath('drive-settings.png') })
  client.close()
})
