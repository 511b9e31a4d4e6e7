// The embedded stack: Azurite (Table Storage), the local Service Bus and ARM/Entra emulators on
// threads of this process, and the function host serving every function in functions/ in a child
// process of its own — all on loopback.
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { queues, settings, timerFunctionNames } from '../shared/config.js';
import { superviseAgents } from './agents.js';
import { startArmEmulatorThread } from './arm/server.js';
import { loadSeed } from './arm/world.js';
import { startAzuriteTablesThread } from './azurite.js';
import type { LocalTls } from './certs.js';
import type { FunctionHostConfig, FunctionHostMessage } from './host/functionHost.js';
import { startServiceBusEmulatorThread } from './servicebus/server.js';
import { type LoopName, loopNames, newLoadBuffer, type ThreadLoad } from './threads.js';

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
  /** Where state is kept across restarts (Azurite's data, the simulated world, the signing key); none: in memory. */
  stateDir?: string;
  ports?: { api?: number; arm?: number; identity?: number; serviceBus?: number; tables?: number };
}

export interface LocalStack {
  /** What a client needs, as the KEY=value lines `npm start` prints. */
  clientEnv: Record<string, string>;
  /** The ports it listens on (those given, or those picked when 0 was). */
  ports: { api: number; arm: number; identity: number; serviceBus: number; tables: number };
  stop(): Promise<void>;
}

export const defaultSeedPath = () => join(findProjectRoot(), 'local', 'seed.json');

/** A free loopback port now (for a server another process will bind, again and again). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

const portOf = (url: string) => Number(new URL(url).port);

/**
 * The embedded stack. Azurite, the local Service Bus and the ARM/Entra emulation run here, each on
 * a thread of its own (off one another's event loops, as the real services are off the app's
 * machine); the function host runs in a child process that is started again whenever it dies, as
 * Azure recycles a host instance while storage and Service Bus stay up. Runs compiled only (the
 * thread and host scripts are the .js files next to this one).
 */
export async function startLocalStack(options: StackOptions): Promise<LocalStack> {
  const seed = loadSeed(options.seedPath ?? defaultSeedPath());
  const root = findProjectRoot();
  const ports = options.ports ?? {};
  const state = (name: string) => (options.stateDir ? join(options.stateDir, name) : undefined);
  const load = newLoadBuffer();
  const slot = (name: LoopName): ThreadLoad => ({ buffer: load, slot: loopNames.indexOf(name) });
  // The function host's CPU time (what it reported, plus that of the hosts before it), its pid, and
  // the Table Storage requests each timer function made (in timerFunctionNames' order).
  const host = new Float64Array(new SharedArrayBuffer(8 * (2 + Object.values(timerFunctionNames).length)));
  const tables = await startAzuriteTablesThread({ port: ports.tables, stateDir: state('tables'), load: slot('Azurite') });
  const serviceBus = await startServiceBusEmulatorThread({ queues: Object.values(queues), port: ports.serviceBus, load: slot('Service Bus') });
  const apiPort = ports.api || (await freePort());
  // ARM's events about clusters go to the Event Grid function, as a system topic's subscription
  // delivers them (FLEET_LOCAL_EVENT_GRID=0: no subscription, so no events).
  const eventGridWebhook =
    process.env.FLEET_LOCAL_EVENT_GRID === '0' ? undefined : `https://127.0.0.1:${apiPort}/runtime/webhooks/eventgrid?functionName=cluster-events`;
  const arm = await startArmEmulatorThread({
    eventGridWebhook,
    seed,
    tls: options.tls,
    port: ports.arm,
    identityPort: ports.identity,
    stateDir: state('arm'),
    tablesConnectionString: tables.connectionString,
    tableCounters: tables.counters,
    serviceBusCounters: serviceBus.counters,
    load: slot('ARM and Entra'),
    host: host.buffer as SharedArrayBuffer,
  });

  // The function app's settings, as App Service would set them.
  const appSettings: Record<string, string> = {
    [settings.stateStorage.name]: tables.connectionString,
    [settings.serviceBusConnection.name]: serviceBus.connectionString,
    [settings.armEndpoint.name]: arm.armEndpoint,
    [settings.authIssuer.name]: arm.homeIssuer,
    // Tokens for the API are requested for its own URL (the official client asks for `${endpoint}/.default`).
    [settings.authAudience.name]: `https://127.0.0.1:${apiPort}`,
    // Locally a poll every second, not ARM's usual 10 s; an explicit setting wins.
    [settings.retryAfterSeconds.name]: process.env[settings.retryAfterSeconds.name] ?? '1',
    // The sweeper heals what a crash left running: locally it looks every 10 s and re-sends a command
    // whose operation has run 20 s, so a restart is healed within a minute (in Azure: 5 min, 300 s).
    [settings.sweepSchedule.name]: process.env[settings.sweepSchedule.name] ?? '*/10 * * * * *',
    [settings.stuckOperationSeconds.name]: process.env[settings.stuckOperationSeconds.name] ?? '20',
    // Member health every 5 s locally (in Azure: every minute), so a stopped agent shows within a minute.
    [settings.memberHealthSchedule.name]: process.env[settings.memberHealthSchedule.name] ?? '*/5 * * * * *',
    // Every placement synced again each 30 s locally (in Azure: 5 minutes).
    [settings.placementResyncSchedule.name]: process.env[settings.placementResyncSchedule.name] ?? '*/30 * * * * *',
    [settings.hubIdentityCheckSeconds.name]: process.env[settings.hubIdentityCheckSeconds.name] ?? '60',
    IDENTITY_ENDPOINT: arm.identityEndpoint,
    IDENTITY_HEADER: arm.identityHeader,
    // Hub kubeconfigs name this stack's credential plugin (in Azure: kubelogin) and trust its CA.
    [settings.hubCredentialExec.name]: JSON.stringify({ command: process.execPath, args: [fileURLToPath(new URL('./kubeCredential.js', import.meta.url))] }),
    [settings.hubCertificateAuthority.name]: options.tls.caPath,
  };
  const hostConfig: FunctionHostConfig = {
    hostJsonPath: join(root, 'host.json'),
    tls: { certPem: options.tls.certPem, keyPem: options.tls.keyPem },
    apiPort,
    workerNice: Number(process.env.FLEET_LOCAL_WORKER_NICE ?? 10),
  };
  const functions = superviseFunctionHost({ env: { ...process.env, ...appSettings, FLEET_LOCAL_HOST: JSON.stringify(hostConfig) }, host, load });
  const apiUrl = await functions.ready;
  // One member agent per member whose cluster is simulated (FLEET_LOCAL_AGENTS=0: none).
  const agents =
    process.env.FLEET_LOCAL_AGENTS === '0'
      ? undefined
      : superviseAgents({
          tablesConnectionString: tables.connectionString,
          armEndpoint: arm.armEndpoint,
          apiUrl,
          audience: appSettings[settings.authAudience.name],
          caPem: options.tls.caPem,
          identityEndpoint: arm.identityEndpoint,
          identityHeader: arm.identityHeader,
        });

  return {
    clientEnv: {
      FLEET_API: apiUrl,
      ARM_ENDPOINT: arm.armEndpoint,
      // Member health every 5 s locally (in Azure: every minute), so a stopped agent shows within a minute.
      [settings.memberHealthSchedule.name]: process.env[settings.memberHealthSchedule.name] ?? '*/5 * * * * *',
      [settings.hubIdentityCheckSeconds.name]: process.env[settings.hubIdentityCheckSeconds.name] ?? '60',
      IDENTITY_ENDPOINT: arm.identityEndpoint,
      IDENTITY_HEADER: arm.identityHeader,
      NODE_EXTRA_CA_CERTS: options.tls.caPath,
      AZURE_SUBSCRIPTION_ID: seed.subscriptions[0].subscriptionId,
      AZURE_TENANT_ID: seed.identity.tenantId,
      SERVICEBUS_CONNECTION_STRING: serviceBus.connectionString,
      TABLES_CONNECTION_STRING: tables.connectionString,
    },
    ports: {
      api: apiPort,
      arm: portOf(arm.armEndpoint),
      identity: portOf(arm.identityEndpoint),
      serviceBus: Number(/:(\d+)/.exec(serviceBus.connectionString.split('Endpoint=')[1] ?? '')?.[1] ?? 0),
      tables: portOf(tables.endpoint),
    },
    async stop() {
      await agents?.close();
      await functions.stop();
      await arm.close();
      await serviceBus.close();
      await tables.close();
    },
  };
}

/** Runs the function host in a child process and starts it again when it dies, until stopped. */
function superviseFunctionHost(options: { env: NodeJS.ProcessEnv; host: Float64Array; load: SharedArrayBuffer }) {
  const script = fileURLToPath(new URL('./host/functionHost.js', import.meta.url));
  let child: ChildProcess | undefined;
  let stopping = false;
  let cpuBefore = 0; // of the hosts that died
  let cpuNow = 0;
  const timers = Object.values(timerFunctionNames);
  const timerRequestsBefore = timers.map(() => 0); // of the hosts that died
  let timerRequestsNow = timers.map(() => 0);
  let resolveReady: (url: string) => void;
  let rejectReady: (e: Error) => void;
  const ready = new Promise<string>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  let started = false;
  const start = () => {
    const c = fork(script, [], { env: options.env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child = c;
    cpuNow = 0;
    options.host[1] = c.pid ?? 0;
    c.on('message', (m: FunctionHostMessage) => {
      if ('ready' in m) {
        started = true;
        resolveReady(m.ready.url);
      } else if ('failed' in m) {
        // The first start failed: there is nothing to start again, the stack cannot run.
        if (!started) stopping = true;
        rejectReady(Object.assign(new Error(m.failed.message), { code: m.failed.code, port: m.failed.port }));
      } else {
        cpuNow = m.load.cpuMs;
        options.host[0] = cpuBefore + cpuNow;
        timerRequestsNow = timers.map((name) => m.load.timerTableRequests[name] ?? 0);
        for (let i = 0; i < timers.length; i++) options.host[2 + i] = timerRequestsBefore[i] + timerRequestsNow[i];
        // The host's loops, in the stack's shared buffer (what /_local/stats reports).
        const cells = new Float64Array(options.load);
        for (const [name, ms] of Object.entries(m.load.loopActiveMs)) cells[loopNames.indexOf(name as LoopName)] = loopsBefore[name] + ms;
        lastLoops = m.load.loopActiveMs;
      }
    });
    c.on('exit', (code, signal) => {
      cpuBefore += cpuNow;
      for (let i = 0; i < timers.length; i++) timerRequestsBefore[i] += timerRequestsNow[i];
      timerRequestsNow = timers.map(() => 0);
      for (const [name, ms] of Object.entries(lastLoops)) loopsBefore[name] += ms;
      lastLoops = {};
      if (stopping) return;
      console.error(`[warning] function host: exited (${signal ?? code}); starting it again`);
      setTimeout(start, 200).unref();
    });
  };
  const loopsBefore: Record<string, number> = { 'functions (Service Bus, timers)': 0, 'functions (HTTP)': 0 };
  let lastLoops: Record<string, number> = {};
  start();
  return {
    ready,
    async stop() {
      stopping = true;
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.send({ stop: true });
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
