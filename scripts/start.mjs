// npm start: the Electron window when Electron's binary is present, browser mode otherwise.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const triedMarker = 'node_modules/.berth-electron-download-failed'

function electronBinary() {
  try {
    const path = require('electron') // the binary's path, or a throw when it was never downloaded
    return typeof path === 'string' && existsSync(path) ? path : null
  } catch {
    return null
  }
}

function run(argv) {
  const result = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

let binary = electronBinary()
if (!binary && !existsSync(triedMarker) && process.env.CI !== 'true') {
  // One attempt per install: npm ci skipped the download (ELECTRON_SKIP_BINARY_DOWNLOAD) so that a
  // machine without access to Electron's downloads still installs; try it now.
  console.log("Berth: fetching Electron's binary…")
  const env = { ...process.env }
  delete env.ELECTRON_SKIP_BINARY_DOWNLOAD
  const fetched = spawnSync(process.execPath, ['node_modules/electron/install.js'], { stdio: 'ignore', env, timeout: 180_000 })
  if (fetched.status !== 0) writeFileSync(triedMarker, new Date().toISOString() + '\n')
  binary = electronBinary()
}

if (binary) {
  run(['npm', 'run', 'build', '--silent'])
  spawn(binary, ['.'], { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 0))
} else {
  console.log(
    "Berth: Electron's binary is not installed (its download is not reachable from here), so Berth starts in\n" +
      'browser mode: open the address below in a browser on this machine. Delete ' + triedMarker + ' to retry the download.',
  )
  run(['npm', 'run', 'build:renderer', '--silent'])
  spawn(process.execPath, ['--import', 'tsx', 'electron/serve.ts', '--open'], { stdio: 'inherit' }).on('exit', (code) =>
    process.exit(code ?? 0),
  )
}
