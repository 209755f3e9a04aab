// What a test process really keeps on its heap (garbage collected first; needs node --expose-gc).
export function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('Run with --expose-gc (vitest.config.ts sets it for integration tests)')
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
