import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One moto server per run (test/support/global-setup.ts); each file resets it.
    globalSetup: ['test/support/global-setup.ts'],
    // Two cores in CI: files in parallel, but not so many that child processes starve.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
