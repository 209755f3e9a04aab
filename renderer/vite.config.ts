import { defineConfig, type Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'
import { fileURLToPath } from 'node:url'

// spice-html5 0.2's rsa_encrypt drops the ciphertext's leading zero bytes (BigInteger.toString(16)),
// so about one channel link in 256 sends a short ticket, which spice-server cannot decrypt: it answers
// "Permission denied" and the screen never connects. This pads the ticket to the modulus length, as
// RSA requires, at build time.
const short = `    var h = enc.toString(16);
    if ((h.length & 1) != 0)
        h = "0" + h;`
const padded = `    var h = enc.toString(16).padStart(((rsa.n.bitLength() + 7) >> 3) * 2, "0");`

function spiceTicketFix(): Plugin {
  return {
    name: 'berth-spice-ticket-fix',
    transform(code, id) {
      if (!id.includes('spice-html5') || !id.endsWith('ticket.js')) return null
      if (!code.includes(short)) throw new Error('spice-html5 changed its rsa_encrypt: check whether the ticket fix is still needed')
      return code.replace(short, padded)
    },
  }
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative asset URLs: the same build loads from file:// (Electron) and http:// (browser mode).
  base: './',
  plugins: [vue(), spiceTicketFix()],
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
    // noVNC uses top-level await
    target: 'es2022',
  },
})
