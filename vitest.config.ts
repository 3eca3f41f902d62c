import { defineConfig } from 'vitest/config';

// One vitest run covers every workspace package, so `pnpm test` prints one summary.
export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
