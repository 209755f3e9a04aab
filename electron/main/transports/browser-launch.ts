// How browser mode hands its address to a person without showing the access token to other users:
// never in a program's argv (any local user reads /proc/PID/cmdline) nor in output that may end up in
// a log; only on the person's own terminal, or in files only they can read.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

type Spawn = (command: string, argv: string[]) => void

/** The address with its token, in a file only this user can read (its folder is Berth's own, 0700). */
export function writeAddressFile(runtimeDir: string, url: string): string {
  const file = join(runtimeDir, 'browser-address')
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 })
  writeFileSync(file, `${url}\n`, { mode: 0o600 })
  return file
}

/** What serve prints: the whole address on a terminal; elsewhere (a log, a pipe) where to find it. */
export function announcement(url: string, addressFile: string, toTerminal: boolean): string {
  const { origin } = new URL(url)
  return toTerminal ? `Berth is serving at ${url}` : `Berth is serving at ${origin}/ (address with the access token: ${addressFile})`
}

/**
 * Opens the address in the person's browser through a 0600 page that forwards to it: xdg-open and the
 * browser get the page's path, never the token.
 */
export function openInBrowser(runtimeDir: string, url: string, spawn: Spawn): string {
  const page = join(runtimeDir, 'open-berth.html')
  const target = JSON.stringify(url).replace(/</g, '\\u003c')
  writeFileSync(page, `<!doctype html><meta charset="utf-8"><title>Berth</title><script>location.replace(${target})</script>\n`, { mode: 0o600 })
  spawn('xdg-open', [page])
  return page
}
