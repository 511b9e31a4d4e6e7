// The composition root: builds the adapters from app settings once per process (a Functions
// worker, or the local host) and hands the domain its ports.
import { readFileSync } from 'node:fs';
import { DefaultAzureCredential } from '@azure/identity';
import type { AppDeps } from './app/context.js';
import { createArmDirectory } from './azure/armDirectory.js';
import { createTokenValidator, type TokenValidator } from './azure/entraTokens.js';
import { createHubDirectory, createHubTableStore } from './azure/hubTableStore.js';
import { createCommandQueue, createServiceBusClient, type ServiceBusConnection } from './azure/serviceBusQueue.js';
import { createClusterClaims, createTableStore, type TableConnection } from './azure/tableStore.js';
import { queues, readIntSetting, readSetting, settings } from './config.js';
import type { AccessPolicy } from './domain/access.js';
import type { CredentialExec } from './domain/kubeconfig.js';
import { defaultWatch, type WatchSettings } from './hub/api.js';
import type { HubDirectory, HubStore } from './hub/store.js';
import { wakingWatches } from './hub/watchPolls.js';

export interface Runtime {
  app: AppDeps;
  tokens: TokenValidator;
  access: AccessPolicy;
  hubs: { directory: HubDirectory; store: HubStore; watch: WatchSettings };
  retryAfterSeconds: number;
  maxDeliveryCount: number;
  sweep: { stuckAfterSeconds: number; retentionDays: number };
  close(): Promise<void>;
}

let current: Promise<Runtime> | undefined;

const list = (value: string) =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function runtime(env: NodeJS.ProcessEnv = process.env): Promise<Runtime> {
  current ??= buildRuntime(env).catch((e) => {
    current = undefined;
    throw e;
  });
  return current;
}

export async function closeRuntime(): Promise<void> {
  const r = current;
  current = undefined;
  if (r) await (await r).close();
}

function tableConnection(env: NodeJS.ProcessEnv, credential: DefaultAzureCredential): TableConnection {
  const name = settings.stateStorage.name;
  if (env[name]) return { connectionString: env[name]! };
  // ARM reports the endpoint with a trailing slash (primaryEndpoints.table); the client appends the table name.
  const endpoint = env[`${name}__tableServiceUri`]?.replace(/\/+$/, '');
  if (!endpoint) throw new Error(`app setting ${name} (or ${name}__tableServiceUri) is not set`);
  return { endpoint, credential };
}

function serviceBusConnection(env: NodeJS.ProcessEnv, credential: DefaultAzureCredential): ServiceBusConnection {
  const name = settings.serviceBusConnection.name;
  if (env[name]) return { connectionString: env[name]! };
  const fullyQualifiedNamespace = env[`${name}__fullyQualifiedNamespace`];
  if (!fullyQualifiedNamespace) throw new Error(`app setting ${name} (or ${name}__fullyQualifiedNamespace) is not set`);
  return { fullyQualifiedNamespace, credential };
}

async function buildRuntime(env: NodeJS.ProcessEnv): Promise<Runtime> {
  const credential = new DefaultAzureCredential();
  const tables = tableConnection(env, credential);
  const store = createTableStore(tables);
  const claims = createClusterClaims(tables);
  const hubDirectory = createHubDirectory(tables);
  // Writes wake this host's watches of what they wrote (watchPolls.ts).
  const hubStore = wakingWatches(createHubTableStore(tables));
  // In Azure, infra/ creates the tables and the app's role (Table Data Contributor) is for rows;
  // against a connection string (Azurite, a developer's account) the app creates them itself.
  if ('connectionString' in tables) await Promise.all([store.ensureTables(), claims.ensureTables(), hubDirectory.ensureTable()]);
  const bus = createServiceBusClient(serviceBusConnection(env, credential));
  const queue = createCommandQueue(bus);
  return {
    app: {
      store,
      claims,
      queue,
      directory: createArmDirectory(credential, readSetting(env, 'armEndpoint')),
      hubs: hubDirectory,
      hubStore,
      hubCredential: {
        exec: env[settings.hubCredentialExec.name] ? (JSON.parse(env[settings.hubCredentialExec.name]!) as CredentialExec) : undefined,
        certificateAuthorityPem: env[settings.hubCertificateAuthority.name] ? readFileSync(env[settings.hubCertificateAuthority.name]!, 'utf8') : undefined,
        audience: list(readSetting(env, 'authAudience'))[0],
      },
      memberLimit: readIntSetting(env, 'memberLimit'),
      pageSize: readIntSetting(env, 'pageSize'),
      identityCheckSeconds: readIntSetting(env, 'hubIdentityCheckSeconds'),
      forceDeleteSeconds: readIntSetting(env, 'forceDeleteSeconds'),
      heartbeatPeriodSeconds: readIntSetting(env, 'heartbeatPeriodSeconds'),
      now: () => new Date(),
    },
    hubs: {
      directory: hubDirectory,
      store: hubStore,
      watch: {
        ...defaultWatch,
        minSeconds: readIntSetting(env, 'hubWatchSeconds'),
        keepAliveMs: readIntSetting(env, 'hubWatchKeepAliveSeconds') * 1000,
      },
    },
    access: { readRoles: list(env[settings.authReadRoles.name] ?? ''), writeRoles: list(env[settings.authWriteRoles.name] ?? '') },
    tokens: createTokenValidator({ issuers: list(readSetting(env, 'authIssuer')), audiences: list(readSetting(env, 'authAudience')) }),
    retryAfterSeconds: readIntSetting(env, 'retryAfterSeconds'),
    maxDeliveryCount: queues.fleetCommands.maxDeliveryCount,
    sweep: { stuckAfterSeconds: readIntSetting(env, 'stuckOperationSeconds'), retentionDays: readIntSetting(env, 'operationRetentionDays') },
    async close() {
      await queue.close();
      await bus.close();
    },
  };
}
