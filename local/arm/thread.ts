// The ARM and Entra emulation on its own thread. Its stats endpoint reads the other emulators'
// counters from shared memory their threads write (see ../stack.ts).
import { workerData } from 'node:worker_threads';
import { timerFunctionNames } from '../../shared/config.js';
import { readLoad, serveOnThread } from '../threads.js';
import { startArmEmulator } from './server.js';

const tables = new Int32Array(workerData.tableCounters as SharedArrayBuffer);
const bus = new Int32Array(workerData.serviceBusCounters as SharedArrayBuffer);
const host = new Float64Array(workerData.host as SharedArrayBuffer);
const arm = await startArmEmulator({
  seed: workerData.seed,
  tls: workerData.tls,
  port: workerData.port,
  identityPort: workerData.identityPort,
  stateDir: workerData.stateDir,
  tablesConnectionString: workerData.tablesConnectionString,
  eventGridWebhook: workerData.eventGridWebhook,
  stats: () => ({
    tableRequests: Atomics.load(tables, 0),
    hubTableRequests: Atomics.load(tables, 1),
    serviceBus: { received: Atomics.load(bus, 0), duplicates: Atomics.load(bus, 1), delivered: Atomics.load(bus, 2) },
    // Event-loop active ms per thread (published every 100 ms), and the whole process's CPU time.
    loopActiveMs: readLoad(workerData.load.buffer),
    // This process's and the function host's (a process of its own).
    cpuMs: (({ user, system }) => (user + system) / 1000)(process.cpuUsage()) + host[0],
    // The function host's alone: what the product's code costs, without the emulators'.
    functionsCpuMs: host[0],
    functionHostPid: host[1],
    // Table Storage requests the timer functions made, by timer (counted by the function host).
    timerTableRequests: Object.fromEntries(Object.values(timerFunctionNames).map((name, i) => [name, host[2 + i]])),
  }),
});
serveOnThread({ armEndpoint: arm.armEndpoint, identityEndpoint: arm.identityEndpoint, identityHeader: arm.identityHeader, homeIssuer: arm.homeIssuer }, () =>
  arm.close(),
);
