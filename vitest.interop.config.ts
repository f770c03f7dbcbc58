import { defineConfig } from 'vitest/config';

// The interop suite drives the real openclaw CLI; it installs it on first run, so it gets long timeouts.
export default defineConfig({
  test: {
    include: ['test/interop/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
