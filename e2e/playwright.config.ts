import { defineConfig } from '@playwright/test'

export default defineConfig({
  testDir: './specs',
  // Each test boots real QEMU under TCG on a 2-core machine: one at a time, honest timeouts.
  workers: 1,
  fullyParallel: false,
  timeout: 180_000,
  expect: { timeout: 30_000 },
  globalSetup: './fixtures/global-setup.ts',
  outputDir: '../test-results/e2e',
  reporter: process.env.BERTH_PW_JSON
    ? [['list'], ['json', { outputFile: process.env.BERTH_PW_JSON }]]
    : [['list']],
  use: {
    browserName: 'chromium',
    viewport: { width: 1200, height: 800 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
})
