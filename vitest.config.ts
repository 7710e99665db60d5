// Test runner configuration: every suite under test/, run in forked workers, with a JSON report
// for .ci/run (which prints the plain "N passed, N failed" line from it).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: process.env.UFS_JSON_REPORT
      ? ['default', ['json', { outputFile: process.env.UFS_JSON_REPORT }]]
      : ['default'],
  },
});
