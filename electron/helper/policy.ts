// What a user who is not root may ask the helper for without an administrator's password (the
// README's "Security model" says the same in words). Beyond it, polkit asks for an administrator's
// password through its own action, every time (auth_admin, never kept). Root asking is root already.
import { spawnSync } from 'node:child_process'
import { lstatSync, realpathSync } from 'node:fs'
import { dirname, sep } from 'node:path'
import { Refusal } from './refusal'

/** Who asked: the user pkexec names (or root), and the folders that are theirs. */
export interface Caller {
  uid: number
  gid: number
  /** The caller's process (Berth), for polkit's check. */
  pid: number
  /** Folders the caller owns and may use for roots, bind mounts and images: their home (and a test home). */
  ownFolders: string[]
  /** Where container roots Berth makes live (/var/lib/machines). */
  containersDir: string
}

const inside = (path: string, dir: string) => path === dir || path.startsWith(dir + sep)

/** The real path, or null when it does not exist. */
export function realPath(path: string): string | null {
  try {
    return realpathSync(path)
  } catch {
    return null
  }
}

/** A file or folder of the caller's own: its real path is inside their folders and they own every step down to it. */
export function callersOwn(path: string, caller: Caller): boolean {
  const resolved = realPath(path)
  if (!resolved) return false
  const top = caller.ownFolders.map(realPath).find((dir) => dir && inside(resolved, dir))
  if (!top) return false
  for (let p = resolved; ; p = dirname(p)) {
    if (lstatSync(p).uid !== caller.uid) return false
    if (p === top) return true
  }
}

/** The polkit action for everything beyond the policy (build/org.berth.helper.policy). */
export const BEYOND_POLICY_ACTION = 'org.berth.beyond-policy'

/**
 * Goes on only when what goes beyond the policy (reasons) is approved: by being root, or by an
 * administrator's password that polkit asks for now, for the caller's process.
 */
export function requireApproval(caller: Caller, what: string, reasons: string[], log: (entry: Record<string, unknown>) => void): void {
  if (reasons.length === 0 || caller.uid === 0) return
  const check = spawnSync('/usr/bin/pkcheck', ['--action-id', BEYOND_POLICY_ACTION, '--process', String(caller.pid), '--allow-user-interaction'], {
    stdio: 'ignore',
    timeout: 300_000,
  })
  if (check.status !== 0) throw new Refusal(`${what} needs an administrator's password, which was not given: ${reasons.join('; ')}`)
  log({ approved: reasons })
}
