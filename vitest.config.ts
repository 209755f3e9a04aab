import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['shared/**/*.test.ts', 'electron/**/*.test.ts', 'renderer/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: ['**/*.int.test.ts'],
        },
      },
      {
        // Real QEMU under TCG is CPU-bound: one file at a time on a 2-core machine.
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          exclude: ['node_modules/**'],
          fileParallelism: false,
          // Memory checks (fuzz, console flood) collect garbage before they measure.
          execArgv: ['--expose-gc'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
})
