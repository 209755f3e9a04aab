// noVNC through Berth's display proxy against noVNC straight on QEMU's own WebSocket, same run:
// frames per second while the guest scrolls text, and keystroke → drawn pixels latency.
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { chromium } from 'playwright-core'
import { startHarness, tinyGuestSpec, watchConsole } from '../electron/main/testing/harness'
import { requireTestGuest } from '../electron/main/testing/guest'
import { qemuSpecSchema } from '../shared/model/machine'
import { median } from './stats'
import { rawArgv, rawConsole, startRaw, type GuestConsole } from './raw-qemu'
import type { BenchResult } from './run'

const novnc = fileURLToPath(new URL('../node_modules/@novnc/novnc/', import.meta.url))
const page = fileURLToPath(new URL('./display-page.html', import.meta.url))

/** Serves noVNC's modules and the bench page on 127.0.0.1. */
async function servePage(): Promise<{ url: string; close(): void }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const file = path === '/' ? page : join(novnc, normalize(path))
    readFile(file).then(
      (body) => res.writeHead(200, { 'Content-Type': extname(file) === '.js' ? 'text/javascript' : 'text/html' }).end(body),
      () => res.writeHead(404).end(),
    )
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, close: () => server.close() }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  await new Promise((r) => server.close(r))
  return port
}

/** Hides the text cursor (its blinking would count as frames) and waits for the shell. */
async function quietScreen(guest: GuestConsole): Promise<void> {
  guest.type("printf '\\033[?25l' > /dev/tty1; echo qu''iet\r")
  await guest.waitFor(/\nquiet/)
}

export async function displayThroughProxy(runs: number): Promise<BenchResult[]> {
  const guest = requireTestGuest()
  const h = await startHarness()
  const site = await servePage()
  const browser = await chromium.launch({
    executablePath: process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run',
      // both pages draw at full speed, whichever is in front
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
    ],
  })
  let raw: ChildProcess | null = null
  const fps = { berth: [] as number[], baseline: [] as number[] }
  const latency = { berth: [] as number[], baseline: [] as number[] }
  try {
    const spec = qemuSpecSchema.parse(
      tinyGuestSpec('bench-display', {
        boot: { type: 'kernel', kernel: guest.bzImage, initrd: guest.initrd, append: guest.append },
        display: { protocol: 'vnc', width: 1024, height: 768 },
      }),
    )
    const vm = await h.client.call('machines.create', { spec })
    await h.client.call('machines.start', { id: vm.id })
    const berthGuest = await watchConsole(h.client, vm.id)
    await berthGuest.waitFor(/guest# /)
    const { url: proxied } = await h.client.call('display.open', { id: vm.id })

    // The same machine with QEMU's own VNC WebSocket on 127.0.0.1 instead of Berth's socket + proxy.
    const { argv } = await h.client.call('machines.preview', { spec: { ...spec, name: 'bench-display-raw' } })
    const wsPort = await freePort()
    const display = 50 + Math.floor(Math.random() * 40)
    raw = startRaw(rawArgv(argv, join(h.home, 'raw'), [[/^unix:.*\/vnc\.sock$/, `127.0.0.1:${display},websocket=${wsPort}`]]))
    const rawGuest = await rawConsole(join(h.home, 'raw', 'serial.sock'))
    rawGuest.type('\r')
    await rawGuest.waitFor(/guest# /)

    const sides = [
      { name: 'berth' as const, url: proxied, guest: berthGuest as GuestConsole },
      { name: 'baseline' as const, url: `ws://127.0.0.1:${wsPort}/`, guest: rawGuest },
    ]
    const pages: ((typeof sides)[number] & { tab: Awaited<ReturnType<typeof browser.newPage>> })[] = []
    for (const side of sides) {
      const tab = await browser.newPage()
      tab.on('pageerror', (e) => console.error(`bench page: ${e.message}`))
      await tab.goto(site.url)
      await tab.waitForFunction(() => 'bench' in window)
      await tab.evaluate((url) => (window as unknown as { bench: { connect(u: string): Promise<void> } }).bench.connect(url), side.url)
      await quietScreen(side.guest)
      pages.push({ ...side, tab })
    }
    type Bench = { framesPerSecond(ms: number): Promise<number>; keyToPixels(k: number, c: string): Promise<number> }
    const call = <T>(tab: (typeof pages)[number]['tab'], fn: (b: Bench) => Promise<T>) =>
      tab.evaluate(`(${fn.toString()})(window.bench)`) as Promise<T>

    for (let run = 0; run < runs; run++) {
      for (const side of pages) {
        await side.tab.bringToFront()
        // Scrolling text: the guest writes to its screen as fast as it can for the measurement.
        // (numbered lines, so every refresh has something new to draw)
        side.guest.type('(i=0; while :; do i=$((i+1)); echo scrolling line $i; done > /dev/tty1) & echo $! > /tmp/scroll\r')
        await new Promise((r) => setTimeout(r, 500))
        fps[side.name].push(await call(side.tab, (b) => b.framesPerSecond(3000)))
        side.guest.type('kill $(cat /tmp/scroll); clear > /dev/tty1\r')
      }
      await new Promise((r) => setTimeout(r, 500))
      // Keys alternate between the two sides, so both see the same pattern of QEMU's adaptive
      // screen refresh (30 ms when busy, slower when idle), which dominates this latency.
      for (let k = 0; k < 10; k++) {
        for (const side of pages) {
          latency[side.name].push(await call(side.tab, (b) => b.keyToPixels(0x61, 'KeyA')))
          await call(side.tab, (b) => b.keyToPixels(0xff08, 'Backspace'))
        }
      }
    }
  } finally {
    await browser.close()
    site.close()
    raw?.kill('SIGKILL')
    await h.cleanup()
  }
  return [
    {
      name: 'VNC frames per second while the guest scrolls',
      unit: 'fps',
      berth: median(fps.berth),
      baseline: median(fps.baseline),
      ratio: median(fps.berth) / median(fps.baseline),
      goal: '≥ 0.95 (proxy costs under 5 %)',
      samples: fps,
    },
    {
      name: 'VNC keystroke → drawn pixels',
      unit: 'ms',
      berth: median(latency.berth),
      baseline: median(latency.baseline),
      ratio: median(latency.berth) / median(latency.baseline),
      goal: '≤ 1.05 (proxy costs under 5 %)',
      samples: latency,
    },
  ]
}
