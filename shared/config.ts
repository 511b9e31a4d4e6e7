// Every name that crosses a process or deployment boundary is declared here once: queue and
// table names, queue settings, app-setting names and their defaults. host.json, infra/ and the
// local emulators are checked against this module by test/unit/config-consistency.test.ts.

export const apiVersion = '2025-03-01';
// Fleet and member shapes are the same across these (older ones lack `status`; 2025-04-01-preview adds
// member `labels`, which every version here returns when set). Newer previews add features we do not
// have yet, so they are refused rather than half-served.
export const supportedApiVersions: readonly string[] = ['2023-10-15', '2024-04-01', apiVersion, '2025-04-01-preview'];

/**
 * Request content is at most 1 MiB. A fleet or member body at every limit ARM documents (50 tags,
 * 100 labels, ids of bounded segments) is well under 100 KiB, and 1 MiB is also what one Table
 * Storage entity holds; anything larger is refused before it is parsed.
 */
export const maxRequestBytes = 1024 * 1024;

export interface QueueDefinition {
  name: string;
  requiresSession: boolean;
  lockDurationSeconds: number;
  maxDeliveryCount: number;
  duplicateDetectionWindowSeconds: number;
  defaultMessageTimeToLiveSeconds: number;
  deadLetteringOnMessageExpiration: boolean;
}

export const queues = {
  // Session id = fleet: Service Bus hands one session to one worker at a time, so one fleet's
  // commands apply in order without a lock of our own.
  fleetCommands: {
    name: 'fleet-commands',
    requiresSession: true,
    lockDurationSeconds: 60,
    maxDeliveryCount: 5,
    duplicateDetectionWindowSeconds: 600,
    defaultMessageTimeToLiveSeconds: 14 * 24 * 3600,
    deadLetteringOnMessageExpiration: true,
  },
} as const satisfies Record<string, QueueDefinition>;

// The timer functions, by name (the local stack counts each one's storage requests in this order).
export const timerFunctionNames = { sweeper: 'operations-sweeper', memberHealth: 'member-health', placementResync: 'placement-resync' } as const;

export const tables = {
  // One partition per fleet: the fleet row, its members and its operations.
  fleets: 'fleets',
  // One row per AKS cluster that belongs to a fleet: a cluster joins at most one fleet.
  clusterClaims: 'clusterclaims',
  // One row per fleet hub: its name (in the hub's URL) -> the fleet and the table of its objects
  // (one table per hub, named hub<24 hex>, made and dropped with the hub).
  hubs: 'hubs',
} as const;

/**
 * App settings (environment variables) the product reads, with their defaults. A connection
 * setting is a connection string locally, or in Azure `<name>__tableServiceUri` /
 * `<name>__fullyQualifiedNamespace` with the app's managed identity (see runtime.ts).
 */
export const settings = {
  // Our state has its own account: the Functions host's storage (AzureWebJobsStorage) needs blob
  // access, our code needs table access, and neither needs the other's.
  stateStorage: { name: 'StateStorage', default: undefined },
  serviceBusConnection: { name: 'ServiceBusConnection', default: undefined },
  armEndpoint: { name: 'ARM_ENDPOINT', default: 'https://management.azure.com' },
  // Comma-separated lists: Entra's v1.0 and v2.0 tokens differ in issuer, and in audience (the App ID
  // URI in v1.0, the client id in v2.0).
  authIssuer: { name: 'FLEET_AUTH_ISSUER', default: undefined },
  authAudience: { name: 'FLEET_AUTH_AUDIENCE', default: undefined },
  // App roles (comma-separated) a caller needs to read or to change fleets; empty = any caller the
  // issuer and audience admit. A writer may also read.
  authReadRoles: { name: 'FLEET_AUTH_READ_ROLES', default: '' },
  authWriteRoles: { name: 'FLEET_AUTH_WRITE_ROLES', default: '' },
  memberLimit: { name: 'FLEET_MEMBER_LIMIT', default: '20' },
  retryAfterSeconds: { name: 'FLEET_RETRY_AFTER_SECONDS', default: '10' },
  pageSize: { name: 'FLEET_PAGE_SIZE', default: '100' },
  // The operations sweeper: how often it runs (NCRONTAB; the trigger reads it as %FLEET_SWEEP_SCHEDULE%),
  // when a running operation counts as stuck (its command is sent again), how long finished ones are kept.
  sweepSchedule: { name: 'FLEET_SWEEP_SCHEDULE', default: '0 */5 * * * *' },
  stuckOperationSeconds: { name: 'FLEET_STUCK_OPERATION_SECONDS', default: '300' },
  operationRetentionDays: { name: 'FLEET_OPERATION_RETENTION_DAYS', default: '7' },
  // The exec credential plugin a hub's kubeconfig names, as JSON {"command","args"} (it gets
  // `--audience <API audience>` after its args); empty: kubelogin, as AKS kubeconfigs use it.
  hubCredentialExec: { name: 'FLEET_HUB_CREDENTIAL_EXEC', default: '' },
  // A PEM file of the CA that signs the API's TLS certificate, for the kubeconfig (locally; in Azure a public CA signs it).
  hubCertificateAuthority: { name: 'FLEET_HUB_CA_FILE', default: '' },
  // How often, at most, the hub asks ARM whether an unknown principal a member's agent authenticates
  // as is now the member cluster's identity (per member); 0: never (only Event Grid and member create heal).
  hubIdentityCheckSeconds: { name: 'FLEET_HUB_IDENTITY_CHECK_SECONDS', default: '60' },
  // A hub watch without timeoutSeconds lasts between this and twice this (kube-apiserver's
  // --min-request-timeout: 1800); host.json's functionTimeout is above twice the default.
  hubWatchSeconds: { name: 'FLEET_HUB_WATCH_SECONDS', default: '1800' },
  // An idle watch sends a newline this often: Azure's front end drops a response idle for 230 s.
  hubWatchKeepAliveSeconds: { name: 'FLEET_HUB_WATCH_KEEPALIVE_SECONDS', default: '60' },
  // The heartbeat period the fleet gives its members' agents (Azure Fleet: 15 s; KubeFleet's default 60 s).
  // What a member costs is mostly this: one status write per period (README, "What a member costs").
  heartbeatPeriodSeconds: { name: 'FLEET_HEARTBEAT_PERIOD_SECONDS', default: '15' },
  // A leaving member whose agent does not acknowledge the leave is removed after this long (KubeFleet's 15 minutes).
  forceDeleteSeconds: { name: 'FLEET_FORCE_DELETE_SECONDS', default: '900' },
  // The member-health sweep (NCRONTAB): a member whose agent missed 3 heartbeats becomes Healthy Unknown.
  memberHealthSchedule: { name: 'FLEET_MEMBER_HEALTH_SCHEDULE', default: '0 * * * * *' },
  // The placement resync (NCRONTAB): every placement and every exported service is synced again, the safety net under the change-driven syncs.
  placementResyncSchedule: { name: 'FLEET_PLACEMENT_RESYNC_SCHEDULE', default: '0 */5 * * * *' },
  // DefaultAzureCredential picks the app's user-assigned identity by this client id.
  managedIdentityClientId: { name: 'AZURE_CLIENT_ID', default: '' },
} as const;

/** Settings the Functions host itself reads (not our code); infra sets them too. */
export const hostSettings = {
  hostStorage: 'AzureWebJobsStorage',
  applicationInsights: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
  applicationInsightsAuthentication: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
} as const;

const isoDuration = (seconds: number) => (seconds % 86400 === 0 ? `P${seconds / 86400}D` : `PT${seconds}S`);

/**
 * What infra/ needs from this module, in ARM's words. infra/app-config.json holds exactly this
 * (the Bicep reads it with loadJsonContent); `npm run infra:config` rewrites it and a test fails when it is stale.
 */
export function infraConfig() {
  return {
    queues: Object.values(queues).map((q) => ({
      name: q.name,
      properties: {
        requiresSession: q.requiresSession,
        lockDuration: isoDuration(q.lockDurationSeconds),
        maxDeliveryCount: q.maxDeliveryCount,
        requiresDuplicateDetection: q.duplicateDetectionWindowSeconds > 0,
        duplicateDetectionHistoryTimeWindow: isoDuration(q.duplicateDetectionWindowSeconds),
        defaultMessageTimeToLive: isoDuration(q.defaultMessageTimeToLiveSeconds),
        deadLetteringOnMessageExpiration: q.deadLetteringOnMessageExpiration,
      },
    })),
    tables: Object.values(tables),
    settings: Object.fromEntries(Object.entries(settings).map(([key, s]) => [key, s.name])),
    hostSettings,
  };
}

export type SettingKey = keyof typeof settings;

/** The Service Bus trigger's settings, mirrored in host.json (checked by a test). */
export const serviceBusHostSettings = {
  maxConcurrentSessions: 64,
  // A batch is what waits in one fleet's session; the worker converges up to 49 member commands in
  // one transaction, so a batch of 98 is two.
  maxMessageBatchSize: 98,
  // A fleet whose commands never pause for sessionIdleTimeout keeps its session (and its lock) this
  // long; the default, 5 minutes, made a busy fleet lose its lock and a delivery.
  maxAutoLockRenewalDuration: '1.00:00:00',
  autoCompleteMessages: true,
  sessionIdleTimeout: '00:00:01',
} as const;

export function readSetting(env: NodeJS.ProcessEnv, key: SettingKey): string {
  const s = settings[key];
  const value = env[s.name] ?? s.default;
  if (value === undefined || value === '') throw new Error(`app setting ${s.name} is not set`);
  return value;
}

export function readIntSetting(env: NodeJS.ProcessEnv, key: SettingKey): number {
  const raw = readSetting(env, key);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`app setting ${settings[key].name} must be a whole number, got ${raw}`);
  return n;
}
