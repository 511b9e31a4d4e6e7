// Runs the ARM and Entra emulation on its own thread, off the function host's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { startArmEmulator } from './server.js';

// The other emulators' counters, shared memory written by their threads (see ../stack.ts).
const tables = new Int32Array(workerData.tableCounters as SharedArrayBuffer);
const bus = new Int32Array(workerData.serviceBusCounters as SharedArrayBuffer);
const arm = await startArmEmulator({
  seed: workerData.seed,
  tls: workerData.tls,
  port: workerData.port,
  identityPort: workerData.identityPort,
  stats: () => ({ tableRequests: Atomics.load(tables, 0), serviceBus: { received: Atomics.load(bus, 0), duplicates: Atomics.load(bus, 1), delivered: Atomics.load(bus, 2) } }),
});
parentPort!.postMessage({ armEndpoint: arm.armEndpoint, identityEndpoint: arm.identityEndpoint, identityHeader: arm.identityHeader, homeIssuer: arm.homeIssuer });
parentPort!.on('message', async (m: { close?: true }) => {
  if (m.close) {
    await arm.close();
    parentPort!.postMessage({ closed: true });
  }
});
