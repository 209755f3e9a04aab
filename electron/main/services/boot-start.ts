// containers.nix's autoStart means "when the host boots". Berth keeps a systemd user unit that runs its
// autostart program (autostart.ts) when the user's service manager starts: at boot when the user
// lingers (loginctl enable-linger), else at login. It exists while some container has autoStart.
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, readlink, rm, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { userInfo } from 'node:os'
import { writeFileAtomic } from '../store/atomic-write'

export const BOOT_UNIT = 'berth-autostart.service'

/** One argument as systemd reads it in ExecStart= and Environment=: quoted, with $ and % doubled. */
const quoted = (word: string) => `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$').replace(/%/g, '%%')}"`

export function bootUnitText(command: { argv: string[]; env: Record<string, string> }, timeoutSec: number): string {
  return [
    '# Written by Berth: starts your containers marked autoStart when your systemd user instance starts',
    '# (at boot when you linger: loginctl enable-linger). Berth removes it when no container has autoStart.',
    '[Unit]',
    'Description=Berth: start the containers marked autoStart',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${command.argv.map(quoted).join(' ')}`,
    ...Object.entries(command.env).map(([key, value]) => `Environment=${quoted(`${key}=${value}`)}`),
    `TimeoutStartSec=${timeoutSec}`,
    '',
    '[Install]',
    'WantedBy=default.target',
    '',
  ].join('\n')
}

/** Writes the unit and enables it (the link systemctl --user enable makes), or removes both. */
export async function syncBootUnit(unitsDir: string, unit: string | null): Promise<void> {
  const file = join(unitsDir, BOOT_UNIT)
  const wants = join(unitsDir, 'default.target.wants')
  const link = join(wants, BOOT_UNIT)
  if (unit === null) {
    await rm(link, { force: true })
    await rm(file, { force: true })
    return
  }
  await mkdir(wants, { recursive: true, mode: 0o700 })
  if (!existsSync(file) || readFileSync(file, 'utf8') !== unit) await writeFileAtomic(file, unit)
  if ((await readlink(link).catch(() => null)) !== `../${BOOT_UNIT}`) {
    await rm(link, { force: true })
    await symlink(`../${BOOT_UNIT}`, link)
  }
}

/** Whether the user's service manager starts at boot (lingering), or only at login. */
export function lingers(user = userInfo().username): boolean {
  return existsSync(join('/var/lib/systemd/linger', user))
}
