// Browser mode: Berth's services for a plain browser, on 127.0.0.1 with a per-start token.
//   tsx electron/serve.ts [--port N] [--open]
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createBerthServer } from './main/server'
import { startBrowserServer } from './main/transports/browser-server'
import { announcement, openInBrowser, writeAddressFile } from './main/transports/browser-launch'
import { resolvePaths } from './main/paths'

const args = process.argv.slice(2)
const portArg = args.indexOf('--port')
const port = portArg >= 0 ? Number(args[portArg + 1]) : Number(process.env.BERTH_PORT ?? 0)
const staticDir = fileURLToPath(new URL('../dist/renderer', import.meta.url))

if (!existsSync(`${staticDir}/index.html`)) {
  console.error(`Berth: the renderer is not built (${staticDir}); run npm run build:renderer`)
  process.exit(1)
}

const log = (line: string) => console.error(`berth: ${line}`)
// A failure nothing awaited is a bug: say where it happened, and keep serving the machines.
process.on('unhandledRejection', (reason) => log(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`))
const berth = await createBerthServer({ log })
const server = await startBrowserServer({ rpc: berth.rpc, staticDir, port, log })
berth.allowDisplayOrigin(new URL(server.url).origin)
const runtimeDir = resolvePaths().runtime
console.log(announcement(server.url, writeAddressFile(runtimeDir, server.url), process.stdout.isTTY === true))

const hasDisplay = Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY)
if (args.includes('--open') && hasDisplay)
  openInBrowser(runtimeDir, server.url, (command, argv) =>
    spawn(command, argv, { stdio: 'ignore', detached: true }).on('error', () => undefined).unref(),
  )

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await server.close()
  berth.dispose() // machines keep running; the next start re-attaches to them
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
