// Azurite's Table server on its own thread; counts requests into shared memory for the benchmark.
import { workerData } from 'node:worker_threads';
import { startAzuriteTables } from './azurite.js';
import { serveOnThread } from './threads.js';

const counter = new Int32Array(workerData.counter as SharedArrayBuffer);
const tables = await startAzuriteTables({
  port: workerData.port,
  stateDir: workerData.stateDir,
  onRequest: (url) => {
    Atomics.add(counter, 0, 1);
    // A hub's table is hub<24 hex> (shared/domain/hubProfile.ts); batches name theirs in the body, and are not told apart.
    if (/^\/[^/]+\/hub[0-9a-f]{24}/.test(url)) Atomics.add(counter, 1, 1);
  },
});
serveOnThread({ endpoint: tables.endpoint, connectionString: tables.connectionString }, () => tables.close());
