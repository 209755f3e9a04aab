// Berth at scale, as a real browser-mode process: 1,000 machine definitions, 100 of them running
// containers (the list's first paint, one status refresh, the main process's memory) against 10
// stopped ones; and the main process's CPU while 10
// VMs run idle, against none (events, not polling: it should be near zero).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'
import { qemuSpecSchema } from '../shared/model/machine'
import { MachineStore } from '../electron/main/store/machine-store'
import { tinyGuestSpec, watchConsole } from '../electron/main/testing/harness'
import { connectWebSocket, launchServe } from '../electron/main/testing/serve-process'
import { removeTestHome } from '../electron/main/testing/cleanup'
import { makeBusyboxRoot } from '../electron/main/testing/container-root'
import type { BenchResult } from './run'
import { median } from './stats'

const ticks = 100 // USER_HZ on Linux
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / ticks
}
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024

async function withServe<T>(prepare: (home: string) => void, work: (pid: number, url: string, home: string) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), 'berth-bench-scale-'))
  prepare(home)
  const serve = await launchServe(home)
  try {
    return await work(serve.child.pid!, serve.url, home)
  } finally {
    await removeTestHome(home, [serve.child])
  }
}

function writeDefinitions(home: string, count: number): void {
  const dir = join(home, 'config', 'machines')
  mkdirSync(dir, { recursive: true })
  for (let i = 0; i < count; i++) {
    const definition = MachineStore.define(qemuSpecSchema.parse(tinyGuestSpec(`machine-${String(i).padStart(4, '0')}`)))
    writeFileSync(join(dir, `${definition.id}.json`), JSON.stringify(definition))
  }
}

type Wanted = { count: number } | { gone: string }
interface ChangeMarks {
  __wanted: Wanted | null
  __changeAt: number | null
  __shownAt: number | null
}

/**
 * In the page: when the first machines.changed event after a reset arrives on the WebSocket, and the
 * first animation frame from then on whose list shows what is wanted (it counts `count` machines, or
 * no row is named `gone`). Both stamped in the page, so the figure holds no test-driver round trips.
 */
const watchChangeEvents = () => {
  const marks = window as unknown as ChangeMarks
  marks.__wanted = marks.__changeAt = marks.__shownAt = null
  const shows = (wanted: Wanted) =>
    'count' in wanted
      ? document.querySelector('[aria-label="Machine list"] li')?.getAttribute('aria-setsize') === String(wanted.count)
      : !Array.from(document.querySelectorAll('[aria-label="Machine list"] a')).some((a) => a.getAttribute('aria-label') === wanted.gone)
  const frame = () => {
    if (marks.__wanted && shows(marks.__wanted)) marks.__shownAt = performance.now()
    else requestAnimationFrame(frame)
  }
  const Native = window.WebSocket
  window.WebSocket = class extends Native {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args)
      this.addEventListener('message', (event) => {
        if (marks.__wanted === null || marks.__changeAt !== null || typeof event.data !== 'string' || !event.data.includes('machines.changed')) return
        marks.__changeAt = performance.now()
        requestAnimationFrame(frame)
      })
    }
  }
}

/** In the page from its start: stamps the first animation frame whose list knows every machine (aria-setsize). */
const markListDrawn = (count: number) => {
  const frame = () => {
    const shown = document.querySelector('[aria-label="Machine list"] li')?.getAttribute('aria-setsize') === String(count)
    if (shown) (window as unknown as { __listDrawnAt: number }).__listDrawnAt = performance.now()
    else requestAnimationFrame(frame)
  }
  requestAnimationFrame(frame)
}

/**
 * Containers running when the window opens, named to sort first: the rows in view are running
 * machines, each with its CPU graph fed by a metrics stream.
 */
async function startContainers(url: string, home: string, count: number): Promise<void> {
  const client = await connectWebSocket(url)
  try {
    for (let i = 0; i < count; i++) {
      const name = `live-${String(i).padStart(3, '0')}`
      const { id } = await client.call('machines.create', { spec: { kind: 'nspawn', name, root: makeBusyboxRoot(join(home, 'roots', name)) } })
      await client.call('machines.start', { id })
    }
  } finally {
    client.close()
  }
}

/**
 * In the page, on its own clock: load → the list's first rows drawn (the list knows every machine:
 * aria-setsize); a machines.changed event → the list counts the new machine, or the removed one's row
 * is gone; a filter → the rows that match; scrolling the whole list → frames per second, against the
 * page's idle frame rate.
 */
async function listTimes(count: number, running: number): Promise<{ paint: number; refresh: number; status: number; filter: number; rss: number; scrollFps: number; idleFps: number }> {
  return withServe(
    (home) => writeDefinitions(home, count - running),
    async (pid, url, home) => {
      await startContainers(url, home, running)
      const browser = await chromium.launch({
        executablePath: process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      })
      try {
        // First paint: the median of five loads, each in a fresh page, from the page's navigation start,
        // stamped in the page by the first frame that shows the list (not after the load event).
        // (tsx names functions with its __name helper, which a page does not have.)
        const paints: number[] = []
        for (let load = 0; load < 5; load++) {
          const fresh = await browser.newPage()
          await fresh.addInitScript({ content: 'window.__name = (f) => f' })
          await fresh.addInitScript(markListDrawn, count)
          await fresh.goto(url, { waitUntil: 'commit' })
          const drawn = await fresh.waitForFunction(() => (window as unknown as { __listDrawnAt?: number }).__listDrawnAt, undefined, { timeout: 30_000 })
          paints.push(Number(await drawn.jsonValue()))
          await fresh.close()
        }
        const paint = median(paints)
        const page = await browser.newPage()
        await page.addInitScript({ content: 'window.__name = (f) => f' })
        await page.addInitScript(watchChangeEvents)
        const items = page.getByRole('list', { name: 'Machine list' }).getByRole('listitem')
        await page.goto(url)
        await items.first().waitFor()
        const client = await connectWebSocket(url)
        /** Waits, in the page, for what the next machines.changed event should show. */
        const expectChange = (wanted: Wanted) =>
          page.evaluate((w) => {
            const marks = window as unknown as ChangeMarks
            marks.__changeAt = marks.__shownAt = null
            marks.__wanted = w
          }, wanted)
        /** ms from the event's arrival to the first frame that shows it, both stamped in the page. */
        const sinceEvent = async () => {
          const handle = await page.waitForFunction(() => {
            const marks = window as unknown as ChangeMarks
            // In an array: a difference of 0 would read as "not yet".
            return marks.__shownAt !== null && marks.__changeAt !== null && [marks.__shownAt - marks.__changeAt]
          })
          return Number((await handle.jsonValue() as number[])[0])
        }
        await expectChange({ count: count + 1 })
        await client.call('machines.create', { spec: tinyGuestSpec('aaa-new') })
        const refresh = await sinceEvent()
        // A status change of a machine in view: the first one (aaa-new) is removed, the next takes its place.
        const first = (await client.call('machines.list', {})).machines.find((m) => m.spec.name === 'aaa-new')!
        await expectChange({ gone: 'aaa-new, stopped' })
        await client.call('machines.remove', { id: first.id })
        const status = await sinceEvent()
        // Scrolling: 40 px a frame from top to bottom (at most 3 s); idle: the same number of frames untouched.
        const { scrollFps, idleFps } = await page.evaluate(async () => {
          const rows = document.querySelector('[aria-label="Machine list"]')!.closest('.rows') ?? document.querySelector('.rows')!
          const framesPerSecond = (scroll: boolean) =>
            new Promise<number>((resolve) => {
              const stamps: number[] = []
              const step = (t: number) => {
                stamps.push(t)
                if (scroll) rows.scrollTop += 40
                const done = stamps.length >= 180 || (scroll && rows.scrollTop + rows.clientHeight >= rows.scrollHeight)
                if (done) resolve(((stamps.length - 1) * 1000) / (stamps.at(-1)! - stamps[0]!))
                else requestAnimationFrame(step)
              }
              requestAnimationFrame(step)
            })
          const idle = await framesPerSecond(false)
          const scrolled = await framesPerSecond(true)
          rows.scrollTop = 0
          return { scrollFps: scrolled, idleFps: idle }
        })
        // The filter: the one machine that matches, from all of them; from the input event to the first
        // frame that shows only it, both in the page.
        const last = `machine-${String(count - running - 1).padStart(4, '0')}`
        const filter = await page.evaluate(
          (name) =>
            new Promise<number>((resolve) => {
              const box = document.querySelector<HTMLInputElement>('input[aria-label="Filter machines"]')!
              const rows = () => document.querySelectorAll('[aria-label="Machine list"] li')
              const started = performance.now()
              box.value = name
              box.dispatchEvent(new Event('input'))
              const frame = () => {
                const shown = rows()
                if (shown.length === 1 && shown[0]!.textContent!.includes(name)) resolve(performance.now() - started)
                else requestAnimationFrame(frame)
              }
              requestAnimationFrame(frame)
            }),
          last,
        )
        client.close()
        return { paint, refresh, status, filter, rss: rssMiB(pid), scrollFps, idleFps }
      } finally {
        await browser.close()
      }
    },
  )
}

/** CPU seconds the main process uses over seconds, with vms idle VMs running. */
async function idleCpu(vms: number, seconds: number): Promise<number> {
  return withServe(
    () => undefined,
    async (pid, url) => {
      const client = await connectWebSocket(url)
      for (let i = 0; i < vms; i++) {
        const { id } = await client.call('machines.create', { spec: tinyGuestSpec(`idle-${i}`) })
        await client.call('machines.start', { id })
        const viewer = await watchConsole(client, id)
        await viewer.waitFor('guest# ', 120_000)
        viewer.stream.close()
      }
      client.close()
      await new Promise((r) => setTimeout(r, 3000))
      const before = cpuSeconds(pid)
      await new Promise((r) => setTimeout(r, seconds * 1000))
      return ((cpuSeconds(pid) - before) / seconds) * 100
    },
  )
}

export async function scale(): Promise<BenchResult[]> {
  const many = await listTimes(1000, 100)
  const few = await listTimes(10, 0)
  const seconds = Number(process.env.BERTH_BENCH_IDLE_SEC ?? 60)
  const busy = await idleCpu(10, seconds)
  const idle = await idleCpu(0, seconds)
  return [
    { name: '1,000 definitions: list first paint', unit: 'ms', berth: many.paint, baseline: few.paint, ratio: many.paint / few.paint, goal: '<= 300 ms after the page opens (its clock), 100 of them running containers; baseline: 10 stopped definitions', samples: { berth: [many.paint], baseline: [few.paint] } },
    { name: '1,000 definitions: a new machine appears in the list, after its event', unit: 'ms', berth: many.refresh, baseline: few.refresh, ratio: many.refresh / few.refresh, goal: '<= 50 ms; baseline: 10 definitions', samples: { berth: [many.refresh], baseline: [few.refresh] } },
    { name: '1,000 definitions: a removed machine leaves its row, after its event', unit: 'ms', berth: many.status, baseline: few.status, ratio: many.status / few.status, goal: '<= 50 ms; baseline: 10 definitions', samples: { berth: [many.status], baseline: [few.status] } },
    { name: '1,000 definitions: scrolling the whole list', unit: 'frames/s', berth: many.scrollFps, baseline: many.idleFps, ratio: many.scrollFps / many.idleFps, goal: '60 fps; baseline: the same page not scrolling', samples: { berth: [many.scrollFps], baseline: [many.idleFps] } },
    { name: '1,000 definitions: the filter finds one machine', unit: 'ms', berth: many.filter, baseline: few.filter, ratio: many.filter / few.filter, goal: 'within a frame (from the input event to the frame that shows the match, in the page); baseline: 10 definitions', samples: { berth: [many.filter], baseline: [few.filter] } },
    { name: '1,000 definitions: main process RSS', unit: 'MiB', berth: many.rss, baseline: few.rss, ratio: many.rss / few.rss, goal: 'baseline: 10 definitions', samples: { berth: [many.rss], baseline: [few.rss] } },
    { name: `main process CPU, 10 idle VMs over ${seconds} s`, unit: '% of a core', berth: busy, baseline: idle, ratio: idle > 0 ? busy / idle : busy, goal: 'near zero; baseline: no VMs', samples: { berth: [busy], baseline: [idle] } },
  ]
}
