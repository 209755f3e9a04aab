// Bundles the Electron main process and preload into dist/electron (CommonJS, as Electron loads them).
import { build } from 'esbuild'

const common = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true, logLevel: 'warning' }
await build({
  ...common,
  entryPoints: ['electron/main/index.ts'],
  outfile: 'dist/electron/main.cjs',
  external: ['electron', 'bufferutil', 'utf-8-validate'],
})
await build({ ...common, entryPoints: ['electron/preload/index.ts'], outfile: 'dist/electron/preload.cjs', external: ['electron'] })
console.log('built dist/electron/main.cjs and dist/electron/preload.cjs')
