// Runs Azurite's Table server on its own thread, so storage work uses another core, as a remote
// storage service would, instead of queueing behind the function host on one event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { startAzuriteTables } from './azurite.js';

const counter = new Int32Array(workerData.counter as SharedArrayBuffer);
const tables = await startAzuriteTables({ port: workerData.port, onRequest: () => Atomics.add(counter, 0, 1) });
parentPort!.postMessage({ endpoint: tables.endpoint, connectionString: tables.connectionString });
parentPort!.on('message', async (m) => {
  if (m === 'close') {
    await tables.close();
    parentPort!.postMessage('closed');
  }
});
