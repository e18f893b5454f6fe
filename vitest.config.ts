import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Corpus-wide and end-to-end suites read hundreds of files or start real processes.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
