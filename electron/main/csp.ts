/**
 * The renderer's Content Security Policy, for the Electron window and browser mode alike: only
 * Berth's own scripts; connections only back to where the page came from (its RPC WebSocket).
 * xterm.js sets element styles at run time, hence 'unsafe-inline' for styles only.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')
