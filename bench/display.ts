// noVNC through Berth's display proxy against noVNC straight on QEMU's own WebSocket, on the same
// VM in the same run: frames per second while the guest scrolls text, and keystroke → drawn pixels.
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { extname, join, normalize } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { tinyGuestSpec } from '../electron/main/testing/harness'
import { buildQemuArgv } from '../electron/main/backends/qemu/argv'
import { DisplayProxy } from '../electron/main/services/display-proxy'
import { requireTestGuest } from '../electron/main/testing/guest'
import { freePort } from '../electron/main/testing/free-port'
import { qemuSpecSchema } from '../shared/model/machine'
import { mean, median } from './stats'
import { rawArgv, rawConsole, startRaw, type GuestConsole, type RawQemu } from './raw-qemu'
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


/** Hides the text cursor (its blinking would count as frames) and waits for the shell. */
async function quietScreen(guest: GuestConsole): Promise<void> {
  guest.type("printf '\\033[?25l' > /dev/tty1; echo qu''iet\r")
  await guest.waitFor(/\nquiet/)
}

export async function displayThroughProxy(runs: number): Promise<BenchResult[]> {
  const guest = requireTestGuest()
  const home = mkdtempSync(join(tmpdir(), 'berth-bench-display-'))
  const site = await servePage()
  const proxy = new DisplayProxy()
  await proxy.start()
  proxy.allowOrigin(new URL(site.url).origin)
  const browser = await chromium.launch({
    executablePath: process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run',
      // both pages draw at full speed, whichever is in front
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows',
    ],
  })
  let raw: RawQemu | null = null
  const fps = { berth: [] as number[], baseline: [] as number[] }
  const latency = { berth: [] as number[], baseline: [] as number[] }
  try {
    // One QEMU serving its screen twice: on the unix socket Berth proxies, and on QEMU's own
    // WebSocket. Both viewers watch the same screen, so QEMU's refresh timing is the same for both.
    const spec = qemuSpecSchema.parse(
      tinyGuestSpec('bench-display', {
        boot: { type: 'kernel', kernel: guest.bzImage, initrd: guest.initrd, append: guest.append },
        display: { protocol: 'vnc', width: 1024, height: 768 },
      }),
    )
    const dir = join(home, 'run')
    const argv = buildQemuArgv({ spec, binary: 'qemu-system-x86_64', accelerator: 'tcg', runtimeDir: dir, disk: null })
    const wsPort = await freePort()
    // Built in dir already: no machine folder of Berth's to move out of.
    raw = startRaw(rawArgv(argv, dir, [], [[/^(unix:.*\/vnc\.sock)$/, `$1,websocket=127.0.0.1:${wsPort}`]]))
    const console_ = await rawConsole(join(dir, 'serial.sock'), raw)
    console_.type('\r')
    await console_.waitFor(/guest# /)
    await waitForFile(join(dir, 'vnc.sock'), raw)

    const sides = [
      { name: 'berth' as const, url: proxy.issue('benchdisplay', join(dir, 'vnc.sock'), 'vnc') },
      { name: 'baseline' as const, url: `ws://127.0.0.1:${wsPort}/` },
    ]
    const pages: ((typeof sides)[number] & { tab: Awaited<ReturnType<typeof browser.newPage>> })[] = []
    for (const side of sides) {
      const tab = await browser.newPage()
      tab.on('pageerror', (e) => console.error(`bench page: ${e.message}`))
      await tab.goto(site.url)
      await tab.waitForFunction(() => 'bench' in window)
      await tab.evaluate((url) => (window as unknown as { bench: { connect(u: string): Promise<void> } }).bench.connect(url), side.url)
      pages.push({ ...side, tab })
    }
    await quietScreen(console_)
    type Bench = { framesPerSecond(ms: number): Promise<number>; keyToPixels(k: number, c: string): Promise<number> }
    const call = <T>(tab: (typeof pages)[number]['tab'], fn: (b: Bench) => Promise<T>) =>
      tab.evaluate(`(${fn.toString()})(window.bench)`) as Promise<T>

    for (let run = 0; run < runs; run++) {
      // Scrolling text (numbered lines, so every refresh has something new to draw), both viewers
      // counting the frames they draw over the same seconds.
      console_.type('(i=0; while :; do i=$((i+1)); echo scrolling line $i; done > /dev/tty1) & echo $! > /tmp/scroll\r')
      await new Promise((r) => setTimeout(r, 500))
      const counted = await Promise.all(pages.map((side) => call(side.tab, (b) => b.framesPerSecond(3000))))
      pages.forEach((side, i) => fps[side.name].push(counted[i]!))
      console_.type('kill $(cat /tmp/scroll); clear > /dev/tty1\r')
      await new Promise((r) => setTimeout(r, 500))
      // Keys from one viewer at a time, taking turns; each waits for its own next drawn frame.
      for (let k = 0; k < 10; k++) {
        for (const side of k % 2 === 0 ? pages : [...pages].reverse()) {
          latency[side.name].push(await call(side.tab, (b) => b.keyToPixels(0x61, 'KeyA')))
          await call(side.tab, (b) => b.keyToPixels(0xff08, 'Backspace'))
        }
      }
    }
  } finally {
    await browser.close()
    site.close()
    await proxy.close()
    await raw?.stop()
    rmSync(home, { recursive: true, force: true })
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
      // The mean, not the median: QEMU's refresh ticks make the samples cluster at ~11, ~31 and ~81 ms.
      name: 'VNC keystroke → drawn pixels (mean)',
      unit: 'ms',
      berth: mean(latency.berth),
      baseline: mean(latency.baseline),
      ratio: mean(latency.berth) / mean(latency.baseline),
      goal: '≤ 1.05 (proxy costs under 5 %)',
      samples: latency,
    },
  ]
}

async function waitForFile(path: string, raw: RawQemu): Promise<void> {
  for (let i = 0; !existsSync(path); i++) {
    raw.check(`waiting for ${path}`)
    if (i > 1000) throw new Error(`The baseline QEMU did not make ${path} within 10 s`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
