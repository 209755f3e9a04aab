import { existsSync } from 'node:fs'

/** Whether systemd runs this host (then containers register with machined, as machinectl expects). */
export function hostRunsSystemd(): boolean {
  return existsSync('/run/systemd/system')
}
