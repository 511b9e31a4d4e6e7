// The function host: a process of its own, as a Functions host instance is, so that it can die and
// come back while storage and Service Bus stay up (the local stack restarts it, as Azure recycles an
// instance). It serves the HTTP functions on a thread of their own (as Flex Consumption scales them
// apart from the queue worker), drives the Service Bus functions and runs the timers. Its settings
// come from the environment, as App Service sets them; the parent passes what it needs to know
// besides in FLEET_LOCAL_HOST (JSON), and reads its load from the messages it sends.
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { functionDefinitions } from '../../functions/index.js';
import { createServiceBusClient } from '../../shared/azure/serviceBusQueue.js';
import { settings } from '../../shared/config.js';
import { closeRuntime } from '../../shared/runtime.js';
import { loopNames, lowerThisThreadsPriority, newLoadBuffer, readLoad, reportLoad, type ThreadLoad } from '../threads.js';
import { readHostJson } from './hostJson.js';
import { startHttpHostThread, stderrLog } from './httpHost.js';
import { startServiceBusHost } from './serviceBusHost.js';
import { runningTimer, startTimerHost, timerNames } from './timerHost.js';

export interface FunctionHostConfig {
  hostJsonPath: string;
  tls: { certPem: string; keyPem: string };
  apiPort: number;
  workerNice: number;
}

/** What the host tells the stack: once that it is ready, then its load every 100 ms. */
export type FunctionHostMessage =
  | { ready: { url: string } }
  | { failed: { message: string; code?: string; port?: number } }
  | { load: { cpuMs: number; loopActiveMs: Record<string, number>; timerTableRequests: Record<string, number> } };

const config = JSON.parse(process.env.FLEET_LOCAL_HOST ?? '{}') as FunctionHostConfig;
const send = (m: FunctionHostMessage) => process.send?.(m);
// Ctrl-C reaches every process of the terminal's group; the stack decides when this one stops.
process.on('SIGINT', () => undefined);

const hostJson = readHostJson(config.hostJsonPath);

// Table Storage requests made by each timer's runs, as the bench counts them apart from the work
// it measures. Node publishes every outgoing HTTP request on this channel in the caller's async
// context, so the request knows the timer run it belongs to.
const tablesHost = new URL(/TableEndpoint=([^;]+)/.exec(process.env[settings.stateStorage.name] ?? '')?.[1] ?? 'http://none').host;
const timerTableRequests: Record<string, number> = Object.fromEntries(timerNames.map((n) => [n, 0]));
subscribe('http.client.request.start', (message) => {
  const timer = runningTimer.getStore();
  if (timer === undefined) return;
  if ((message as { request: ClientRequest }).request.getHeader('host') === tablesHost) timerTableRequests[timer]++;
});
const load = newLoadBuffer();
const slot = (name: (typeof loopNames)[number]): ThreadLoad => ({ buffer: load, slot: loopNames.indexOf(name) });
const stopReporting = reportLoad(slot('functions (Service Bus, timers)'));
// A host that cannot start (its port taken) says why, so that the stack stops rather than start it again.
const http = await startHttpHostThread({
  routePrefix: hostJson.extensions.http.routePrefix,
  tls: config.tls,
  port: config.apiPort,
  load: slot('functions (HTTP)'),
}).catch((e: NodeJS.ErrnoException) => {
  send({ failed: { message: e.message, code: e.code, port: config.apiPort } });
  return process.exit(1);
});
process.env[settings.authAudience.name] = http.url;
// This thread runs the Service Bus-triggered functions and the timers; the lower priority gives the
// API's requests first claim on the cores (see docs/design.md).
await lowerThisThreadsPriority(config.workerNice);
const bus = createServiceBusClient({ connectionString: process.env[settings.serviceBusConnection.name]! });
const workers = startServiceBusHost({ definitions: functionDefinitions, client: bus, settings: hostJson.extensions.serviceBus, log: stderrLog });
const timers = startTimerHost({ definitions: functionDefinitions, log: stderrLog });

const reporter = setInterval(() => {
  const { user, system } = process.cpuUsage();
  const loops = readLoad(load);
  send({
    load: {
      cpuMs: (user + system) / 1000,
      loopActiveMs: { 'functions (Service Bus, timers)': loops['functions (Service Bus, timers)'], 'functions (HTTP)': loops['functions (HTTP)'] },
      timerTableRequests,
    },
  });
}, 100);
send({ ready: { url: http.url } });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(reporter);
  stopReporting();
  await timers.close();
  await workers.close();
  await bus.close();
  await closeRuntime();
  await http.close();
  process.exit(0);
}
process.on('message', (m: { stop?: true }) => m.stop && void stop());
// The stack is gone (killed): so is this instance.
process.on('disconnect', () => process.exit(1));
