import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One moto server (behind the stand-in) per run, test/support/global-setup.ts. Files share it
    // and run in parallel, so they use unique resource names instead of resetting it.
    globalSetup: ['test/support/global-setup.ts'],
    // Two cores in CI: files in parallel, but not so many that child processes starve.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
