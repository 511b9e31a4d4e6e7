// Runs the local Service Bus endpoint on its own thread, off the function host's event loop, as
// the real service is off the app's machine.
import { parentPort, workerData } from 'node:worker_threads';
import { startServiceBusEmulator } from './server.js';

const counters = new Int32Array(workerData.counters as SharedArrayBuffer);
const emulator = await startServiceBusEmulator({ queues: workerData.queues, port: workerData.port });
const publish = setInterval(() => {
  const s = emulator.stats();
  Atomics.store(counters, 0, s.received);
  Atomics.store(counters, 1, s.duplicates);
  Atomics.store(counters, 2, s.delivered);
}, 50);
parentPort!.postMessage({ port: emulator.port, connectionString: emulator.connectionString });
parentPort!.on('message', async (m: { peek?: string; close?: true }) => {
  if (m.peek !== undefined) parentPort!.postMessage({ peeked: emulator.peek(m.peek) });
  if (m.close) {
    clearInterval(publish);
    await emulator.close();
    parentPort!.postMessage({ closed: true });
  }
});
