import { defineConfig } from 'vitest/config';

// The files that load the whole machine on purpose (hundreds of joins against a stack they kill, the
// bench's thousand agents) run last and one at a time: beside another e2e file they starved its
// agents, whose joins and heartbeats then outran fixed waits (CI saw an agent not healthy in 40 s and a
// crash test that had no join done in 2.5 s).
const loadFiles = ['test/e2e/host-recycle.test.ts', 'test/e2e/crash-restart.test.ts', 'test/e2e/bench.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/support/globalSetup.ts'],
    // Forks, not threads: each worker is a new Node process, so it reads the NODE_EXTRA_CA_CERTS
    // that globalSetup sets and trusts the local CA the emulators serve TLS with.
    pool: 'forks',
    reporters: ['default', './test/support/summaryReporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        // Two files at a time on CI's 2 cores: most e2e time is waiting on heartbeats and polls, not
        // CPU. No test asserts a duration (speed lives in npm run bench), so sharing the cores slows,
        // never breaks, one.
        test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: loadFiles, maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      { extends: true, test: { name: 'load', include: loadFiles, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
