import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/globalSetup.ts'],
    // Forks, not threads: each worker is a new Node process, so it reads the NODE_EXTRA_CA_CERTS
    // that globalSetup sets and trusts the local CA the emulators serve TLS with.
    pool: 'forks',
    // Two files at a time on CI's 2 cores: most e2e time is waiting on heartbeats and polls, not CPU.
    // No test asserts a duration (speed lives in npm run bench), so sharing the cores slows, never breaks, one.
    maxWorkers: 2,
    reporters: ['default', './test/support/summaryReporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
