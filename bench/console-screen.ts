// The serial console on the screen: Berth's own console view in Chromium against a bare reader page
// (the same xterm with the same options, fed each chunk of QEMU's serial socket as it comes through
// a WebSocket) on the same VM in the same run. Measured in the page, when the text is drawn:
// Enter → the guest's answer on screen (p50, p95); `seq 1 100000` → its last line on screen; and
// how many WebSocket frames each page received per KB of console output.
import { createServer, type Server } from 'node:http'
import { createConnection, type Socket } from 'node:net'
import { readFile } from 'node:fs/promises'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocketServer } from 'ws'
import { chromium, type Browser, type Page } from 'playwright-core'
import { tinyGuestSpec, watchConsole } from '../electron/main/testing/harness'
import { connectWebSocket, launchServe } from '../electron/main/testing/serve-process'
import { removeTestHome } from '../electron/main/testing/cleanup'
import { median } from './stats'
import { berthMachineFolders, connectWhenReady, rawArgv, startRaw, type RawQemu } from './raw-qemu'
import type { BenchResult } from './run'

const SEQ = 100_000
/** Bytes the guest prints for `seq 1 SEQ`: each number and \r\n. */
const SEQ_BYTES = Array.from({ length: SEQ }, (_, i) => String(i + 1).length + 2).reduce((a, b) => a + b, 0)
const ANSWERS = 20
const VIEWPORT = { width: 1280, height: 800 }

const modules = fileURLToPath(new URL('../node_modules/@xterm/', import.meta.url))
const page = fileURLToPath(new URL('./console-page.html', import.meta.url))
const now = () => performance.timeOrigin + performance.now()
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!

/** The bare reader's page and its bridge to one QEMU serial socket at a time. */
async function bareReader(): Promise<{ url: string; target(path: string | null): void; close(): void }> {
  let target: string | null = null
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const file = path === '/' ? page : join(modules, normalize(path))
    readFile(file).then(
      (body) => res.writeHead(200, { 'Content-Type': { '.mjs': 'text/javascript', '.css': 'text/css' }[extname(file)] ?? 'text/html' }).end(body),
      () => res.writeHead(404).end(),
    )
  })
  const sockets = new WebSocketServer({ server, path: '/serial' })
  sockets.on('connection', (ws) => {
    const serial: Socket = createConnection(target!)
    serial.on('data', (chunk) => ws.send(chunk))
    serial.on('error', () => ws.close())
    serial.on('close', () => ws.close())
    ws.on('message', (data) => serial.write(data as Buffer))
    ws.on('close', () => serial.destroy())
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`,
    target: (path) => (target = path),
    close: () => (sockets.close(), server.close()),
  }
}

/** When the screen first shows `text` (epoch ms, measured in the page as the terminal's rows change). */
function shown(page: Page, text: string, timeoutMs = 60_000): Promise<number> {
  // A string, not a function: the page has no bundler helpers.
  return page.evaluate(`new Promise((resolve, reject) => {
    const rows = document.querySelector('.xterm-rows')
    const text = ${JSON.stringify(text)}
    const at = () => performance.timeOrigin + performance.now()
    if (rows.textContent.includes(text)) return resolve(at())
    const timer = setTimeout(() => {
      observer.disconnect()
      reject(new Error('The screen did not show ' + text + ' within ${timeoutMs} ms; it shows: ' + rows.textContent.slice(-600)))
    }, ${timeoutMs})
    const observer = new MutationObserver(() => {
      if (!rows.textContent.includes(text)) return
      observer.disconnect()
      clearTimeout(timer)
      resolve(at())
    })
    observer.observe(rows, { childList: true, subtree: true, characterData: true })
  })`) as Promise<number>
}

interface Measured {
  answers: number[]
  seqMs: number
  framesPerKB: number
}

/** Enter → answer on screen ANSWERS times, then `seq 1 SEQ` → its last line, on a page at the guest's prompt. */
async function measure(page: Page, frames: () => number, raw?: RawQemu): Promise<Measured> {
  const answers: number[] = []
  // The first answer after the page opens warms up its paths (both pages): not counted.
  for (let k = -1; k < ANSWERS; k++) {
    raw?.check('measuring')
    const n = 1000 + k
    const command = `echo M$((${n}+1))`
    await page.keyboard.type(command)
    await shown(page, command)
    const answer = shown(page, `M${n + 1}`)
    const sent = now()
    await page.keyboard.press('Enter')
    const took = (await answer) - sent
    if (k >= 0) answers.push(took)
  }
  const command = `seq 1 ${SEQ}; echo SEQ-$((${SEQ}+1))`
  await page.keyboard.type(command)
  await shown(page, command)
  const before = frames()
  const last = shown(page, `SEQ-${SEQ + 1}`, 600_000)
  const sent = now()
  await page.keyboard.press('Enter')
  const seqMs = (await last) - sent
  return { answers, seqMs, framesPerKB: (frames() - before) / (SEQ_BYTES / 1024) }
}

/** A page whose received WebSocket frames are counted. */
async function countedPage(browser: Browser): Promise<{ page: Page; frames: () => number }> {
  const page = await browser.newPage({ viewport: VIEWPORT })
  let count = 0
  page.on('websocket', (ws) => ws.on('framereceived', () => count++))
  return { page, frames: () => count }
}

export async function consoleToScreen(runs: number): Promise<BenchResult[]> {
  const home = mkdtempSync(join(tmpdir(), 'berth-bench-screen-'))
  const serve = await launchServe(home)
  const bare = await bareReader()
  const browser = await chromium.launch({
    executablePath: process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
  const berth: Measured[] = []
  const baseline: Measured[] = []
  let raw: RawQemu | null = null
  try {
    const client = await connectWebSocket(serve.url)
    for (let run = 0; run < Math.max(1, Math.floor(runs / 2)); run++) {
      const name = `screen-${run}`
      const spec = tinyGuestSpec(name)
      const machine = await client.call('machines.create', { spec })
      const { argv } = await client.call('machines.preview', { spec, id: machine.id })
      await client.call('machines.start', { id: machine.id })
      const guest = await watchConsole(client, machine.id)
      await guest.waitFor('guest# ', 120_000)
      guest.stream.close()
      const viewer = await countedPage(browser)
      await viewer.page.goto(serve.url)
      await viewer.page.getByRole('link', { name: `${name}, running` }).click()
      await viewer.page.getByRole('tab', { name: 'Serial console' }).click()
      await viewer.page.getByRole('region', { name: `Serial console of ${name}` }).click()
      await shown(viewer.page, 'guest#')
      const box = (await viewer.page.locator('.xterm').first().boundingBox())!
      berth.push(await measure(viewer.page, viewer.frames))
      await viewer.page.screenshot({ path: join('test-results', 'bench-console-berth.png') }).catch(() => undefined)
      await viewer.page.close()
      await client.call('machines.stop', { id: machine.id, force: true })
      await client.call('machines.remove', { id: machine.id })

      const dir = join(home, `raw-${run}`)
      raw = startRaw(rawArgv(argv, dir, berthMachineFolders(home)))
      bare.target(join(dir, 'serial.sock'))
      ;(await connectWhenReady(join(dir, 'serial.sock'), raw)).destroy()
      const reader = await countedPage(browser)
      await reader.page.goto(bare.url)
      await reader.page.evaluate(`openTerminal(${Math.floor(box.width)}, ${Math.floor(box.height)})`)
      // The guest boots while the page connects: wait for its prompt.
      for (let tries = 0; ; tries++) {
        await reader.page.keyboard.press('Enter')
        if (await shown(reader.page, 'guest#', 5000).then(() => true, () => false)) break
        raw.check('booting')
        if (tries > 24) throw new Error(`The baseline guest showed no prompt within 2 minutes: ${raw.stderr()}`)
      }
      baseline.push(await measure(reader.page, reader.frames, raw))
      await reader.page.screenshot({ path: join('test-results', 'bench-console-bare.png') }).catch(() => undefined)
      await reader.page.close()
      await raw.stop()
      raw = null
    }
    client.close()
  } finally {
    await raw?.stop()
    await browser.close()
    bare.close()
    await removeTestHome(home, [serve.child])
  }
  const answers = { berth: berth.flatMap((m) => m.answers), baseline: baseline.flatMap((m) => m.answers) }
  const p50 = { berth: percentile(answers.berth, 0.5), baseline: percentile(answers.baseline, 0.5) }
  const p95 = { berth: percentile(answers.berth, 0.95), baseline: percentile(answers.baseline, 0.95) }
  const seq = { berth: median(berth.map((m) => m.seqMs / 1000)), baseline: median(baseline.map((m) => m.seqMs / 1000)) }
  const frames = { berth: median(berth.map((m) => m.framesPerKB)), baseline: median(baseline.map((m) => m.framesPerKB)) }
  return [
    { name: 'Enter → guest answer drawn in the page, p50 (baseline: bare reader page)', unit: 'ms', ...p50, ratio: p50.berth / p50.baseline, goal: '≤ 1.05', samples: answers },
    { name: 'Enter → guest answer drawn in the page, p95 (baseline: bare reader page)', unit: 'ms', ...p95, ratio: p95.berth / p95.baseline, goal: '≤ 1.05, within 100 ms', samples: { berth: [], baseline: [] } },
    {
      name: `seq 1 ${SEQ} → last line drawn in the page (baseline: bare reader page)`,
      unit: 's',
      ...seq,
      ratio: seq.berth / seq.baseline,
      goal: '≤ 1.05',
      samples: { berth: berth.map((m) => m.seqMs / 1000), baseline: baseline.map((m) => m.seqMs / 1000) },
    },
    {
      name: 'WebSocket frames per KB of console output (baseline: bare reader page, a frame per socket read)',
      unit: 'frames/KB',
      ...frames,
      ratio: frames.berth / frames.baseline,
      goal: 'fewer than the bare reader',
      samples: { berth: berth.map((m) => m.framesPerKB), baseline: baseline.map((m) => m.framesPerKB) },
    },
  ]
}
