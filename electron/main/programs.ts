// Berth's own programs that run as processes of their own: a container's supervisor and a VM's serial
// keeper (both outlive the app), the privileged helper, and the boot-time start of autoStart containers. Packaged, each is bundled next to the main bundle and runs in
// Electron's Node; from the source tree it runs through tsx.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

export type Program = 'nspawn-supervisor' | 'serial-keeper' | 'helper' | 'autostart'

const sources: Record<Program, string> = {
  'nspawn-supervisor': './backends/nspawn/supervisor.ts',
  'serial-keeper': './backends/qemu/serial-keeper.ts',
  helper: '../helper/index.ts',
  autostart: './autostart.ts',
}

/** Set by scripts/build-electron.mjs in the bundle. */
declare const BERTH_BUNDLED: boolean | undefined

export function programCommand(program: Program): { argv: string[]; env: Record<string, string> } {
  if (typeof BERTH_BUNDLED !== 'undefined')
    return { argv: [process.execPath, join(__dirname, `${program}.cjs`)], env: { ELECTRON_RUN_AS_NODE: '1' } }
  // The bundles npm run build:electron made (benchmarks measure what a packaged Berth runs).
  const bundles = process.env.BERTH_PROGRAMS_DIR
  if (bundles) return { argv: [process.execPath, join(bundles, `${program}.cjs`)], env: { BERTH_PROGRAMS_DIR: bundles } }
  const tsx = createRequire(import.meta.url).resolve('tsx')
  return { argv: [process.execPath, '--import', tsx, fileURLToPath(new URL(sources[program], import.meta.url))], env: {} }
}
