// Bundles the Electron main process and preload into dist/electron (CommonJS, as Electron loads them).
import { build } from 'esbuild'
import { copyFileSync, mkdirSync } from 'node:fs'

const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true, logLevel: 'warning' }
// Programs that run as processes of their own find each other next to the main bundle. Packages with
// native parts (node-pty, ssh2's optional crypto bindings) load from node_modules at run time.
const programs = { define: { BERTH_BUNDLED: 'true', 'import.meta.url': '""' }, external: ['electron', 'bufferutil', 'utf-8-validate', 'node-pty', 'ssh2', 'unix-dgram'] }
await build({ ...common, ...programs, entryPoints: ['electron/main/index.ts'], outfile: 'dist/electron/main.cjs' })
await build({ ...common, ...programs, entryPoints: ['electron/main/backends/nspawn/supervisor.ts'], outfile: 'dist/electron/nspawn-supervisor.cjs' })
await build({ ...common, ...programs, entryPoints: ['electron/main/backends/qemu/serial-keeper.ts'], outfile: 'dist/electron/serial-keeper.cjs' })
await build({ ...common, ...programs, entryPoints: ['electron/helper/index.ts'], outfile: 'dist/electron/helper.cjs' })
await build({ ...common, ...programs, entryPoints: ['electron/main/autostart.ts'], outfile: 'dist/electron/autostart.cjs' })
await build({ ...common, entryPoints: ['electron/preload/index.ts'], outfile: 'dist/electron/preload.cjs', external: ['electron'] })
// The libosinfo query runs in Debian's Python, beside the main bundle.
mkdirSync('dist/electron', { recursive: true })
copyFileSync('electron/main/os-info/osinfo.py', 'dist/electron/osinfo.py')
console.log('built dist/electron/{main,nspawn-supervisor,serial-keeper,helper,autostart,preload}.cjs')
