import { defineConfig } from 'vitest/config';

// The whole suite runs on the embedded database; with TEST_DATABASE_URL set it runs a
// second time on that PostgreSQL server (each test file in its own database).
const shared = {
  include: ['test/**/*.test.ts'],
  globalSetup: ['test/helpers/global-setup.ts'],
  testTimeout: 30_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { test: { ...shared, name: 'pglite', env: { TEST_DB: 'pglite' } } },
      ...(process.env.TEST_DATABASE_URL
        ? [{ test: { ...shared, name: 'postgres', env: { TEST_DB: 'postgres' } } }]
        : []),
    ],
  },
});
