// The embedded stack: Azurite (Table Storage), the local Service Bus and ARM/Entra emulators, and
// the function host serving every function in functions/ — all in this process, on loopback.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { functionDefinitions } from '../functions/index.js';
import { createServiceBusClient } from '../shared/azure/serviceBusQueue.js';
import { queues, settings } from '../shared/config.js';
import { closeRuntime } from '../shared/runtime.js';
import { type ArmEndpoints, startArmEmulator, startArmEmulatorThread } from './arm/server.js';
import { loadSeed } from './arm/world.js';
import { type AzuriteTables, startAzuriteTables, startAzuriteTablesThread } from './azurite.js';
import type { LocalTls } from './certs.js';
import { readHostJson } from './host/hostJson.js';
import { type HttpHost, startHttpHost, startHttpHostThread, stderrLog } from './host/httpHost.js';
import { startServiceBusHost } from './host/serviceBusHost.js';
import { startTimerHost } from './host/timerHost.js';
import { type ServiceBusEmulator, startServiceBusEmulator, startServiceBusEmulatorThread } from './servicebus/server.js';
import { type LoopName, loopNames, lowerThisThreadsPriority, newLoadBuffer, reportLoad, type ThreadLoad } from './threads.js';

/** The folder holding package.json and host.json, whether this runs from source or from dist/. */
function findProjectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'host.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find host.json above local/');
    dir = parent;
  }
  return dir;
}

export interface StackOptions {
  tls: LocalTls;
  seedPath?: string;
  ports?: { api?: number; arm?: number; identity?: number; serviceBus?: number; tables?: number };
}

export interface LocalStack {
  /** What a client needs, as the KEY=value lines `npm start` prints. */
  clientEnv: Record<string, string>;
  stop(): Promise<void>;
}

export const defaultSeedPath = () => join(findProjectRoot(), 'local', 'seed.json');

export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  const log = stderrLog;
  const seed = loadSeed(options.seedPath ?? defaultSeedPath());
  const hostJson = readHostJson(join(findProjectRoot(), 'host.json'));
  const ports = options.ports ?? {};

  // Compiled (npm start, the e2e tests, the benchmark): Azurite, Service Bus and ARM each on a thread
  // of its own, off the function host's event loop, as the real services are off the app's machine;
  // the HTTP functions too, apart from the queue worker, as Flex Consumption scales them apart.
  // From sources under vitest there are no compiled thread scripts, so they share this event loop.
  const compiled = import.meta.url.endsWith('.js');
  const load = newLoadBuffer();
  const slot = (name: LoopName): ThreadLoad => ({ buffer: load, slot: loopNames.indexOf(name) });
  const stopReporting = compiled ? reportLoad(slot('functions (Service Bus, timers)')) : () => {};
  let tables: AzuriteTables;
  let serviceBus: Omit<ServiceBusEmulator, 'peek'>;
  let arm: ArmEndpoints;
  if (compiled) {
    const t = await startAzuriteTablesThread({ port: ports.tables, load: slot('Azurite') });
    const sb = await startServiceBusEmulatorThread({ queues: Object.values(queues), port: ports.serviceBus, load: slot('Service Bus') });
    arm = await startArmEmulatorThread({
      seed,
      tls: options.tls,
      port: ports.arm,
      identityPort: ports.identity,
      tableCounters: t.counters,
      serviceBusCounters: sb.counters,
      load: slot('ARM and Entra'),
    });
    [tables, serviceBus] = [t, sb];
  } else {
    const t = await startAzuriteTables({ port: ports.tables });
    const sb = await startServiceBusEmulator({ queues: Object.values(queues), port: ports.serviceBus });
    arm = await startArmEmulator({
      seed,
      tls: options.tls,
      port: ports.arm,
      identityPort: ports.identity,
      stats: () => ({ tableRequests: t.requestCount(), serviceBus: sb.stats() }),
    });
    [tables, serviceBus] = [t, sb];
  }

  // The function app's settings, as App Service would set them.
  Object.assign(process.env, {
    [settings.stateStorage.name]: tables.connectionString,
    [settings.serviceBusConnection.name]: serviceBus.connectionString,
    [settings.armEndpoint.name]: arm.armEndpoint,
    [settings.authIssuer.name]: arm.homeIssuer,
    // Locally a poll every second, not ARM's usual 10 s; an explicit setting wins.
    [settings.retryAfterSeconds.name]: process.env[settings.retryAfterSeconds.name] ?? '1',
    // The Functions host reads a %SETTING% schedule from app settings; infra sets it in Azure.
    [settings.sweepSchedule.name]: process.env[settings.sweepSchedule.name] ?? settings.sweepSchedule.default,
    IDENTITY_ENDPOINT: arm.identityEndpoint,
    IDENTITY_HEADER: arm.identityHeader,
  });

  const routePrefix = hostJson.extensions.http.routePrefix;
  const http: HttpHost = compiled
    ? await startHttpHostThread({ routePrefix, tls: options.tls, port: ports.api, load: slot('functions (HTTP)') })
    : await startHttpHost({ definitions: functionDefinitions, routePrefix, tls: options.tls, port: ports.api, log });
  // Tokens for the API are requested for its own URL (the official client asks for `${endpoint}/.default`).
  process.env[settings.authAudience.name] = http.url;

  // This thread runs the Service Bus-triggered functions and the timers. In Azure they run on
  // instances apart from the HTTP functions (Flex Consumption scales each Service Bus function on its
  // own), so converging a join never takes CPU from a PUT. Here every thread shares the machine's
  // cores; a lower priority for this one gives the API's requests first claim on them, and the
  // worker the rest (see the README's design notes).
  if (compiled) await lowerThisThreadsPriority(Number(process.env.FLEET_LOCAL_WORKER_NICE ?? 10));
  const bus = createServiceBusClient({ connectionString: serviceBus.connectionString });
  const workers = startServiceBusHost({ definitions: functionDefinitions, client: bus, settings: hostJson.extensions.serviceBus, log });
  const timers = startTimerHost({ definitions: functionDefinitions, log });

  return {
    clientEnv: {
      FLEET_API: http.url,
      ARM_ENDPOINT: arm.armEndpoint,
      IDENTITY_ENDPOINT: arm.identityEndpoint,
      IDENTITY_HEADER: arm.identityHeader,
      NODE_EXTRA_CA_CERTS: options.tls.caPath,
      AZURE_SUBSCRIPTION_ID: seed.subscriptions[0].subscriptionId,
      AZURE_TENANT_ID: seed.identity.tenantId,
      SERVICEBUS_CONNECTION_STRING: serviceBus.connectionString,
      TABLES_CONNECTION_STRING: tables.connectionString,
    },
    async stop() {
      stopReporting();
      await timers.close();
      await workers.close();
      await bus.close();
      await closeRuntime();
      await http.close();
      await arm.close();
      await serviceBus.close();
      await tables.close();
    },
  };
}
