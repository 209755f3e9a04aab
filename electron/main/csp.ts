/**
 * The renderer's Content Security Policy, for the Electron window and browser mode alike: only
 * Berth's own scripts; connections only to this machine's loopback address (RPC and display).
 * xterm.js sets element styles at run time, hence 'unsafe-inline' for styles only.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  // the RPC WebSocket (browser mode) and the display proxy, both on 127.0.0.1 only
  "connect-src 'self' ws://127.0.0.1:*",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')
