import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/globalSetup.ts'],
    // Forks, not threads: each worker is a new Node process, so it reads the NODE_EXTRA_CA_CERTS
    // that globalSetup sets and trusts the local CA the emulators serve TLS with.
    pool: 'forks',
    reporters: ['default', './test/support/summaryReporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
