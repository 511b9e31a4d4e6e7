// The local Service Bus endpoint on its own thread; publishes its counters into shared memory.
import { workerData } from 'node:worker_threads';
import { serveOnThread } from '../threads.js';
import { startServiceBusEmulator } from './server.js';

const counters = new Int32Array(workerData.counters as SharedArrayBuffer);
const emulator = await startServiceBusEmulator({ queues: workerData.queues, port: workerData.port });
const publish = setInterval(() => {
  const s = emulator.stats();
  Atomics.store(counters, 0, s.received);
  Atomics.store(counters, 1, s.duplicates);
  Atomics.store(counters, 2, s.delivered);
}, 50);
serveOnThread({ port: emulator.port, connectionString: emulator.connectionString }, async () => {
  clearInterval(publish);
  await emulator.close();
});
