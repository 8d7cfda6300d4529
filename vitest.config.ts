import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // FTP passive port ranges and CLI clients are per file; files run in parallel processes.
    pool: 'forks',
    // Two files at a time even on 2 cores (vitest's default there is one): most of a test's time is
    // spent waiting on the servers and clients it starts, and one at a time took over 5 minutes.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
