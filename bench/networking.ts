// The multi-cluster load balancing part of `npm run bench` (issue 19), on a stack of its own with the
// real member agents (local/agents.ts) on simulated clusters with their data plane: N exporting
// members with P pods each behind a ServiceExport, M importing members with a MultiClusterService.
// Measured: the time from an endpoint change in one exporter (a pod ready, or gone, as its own
// EndpointSlice shows it) to every importer's derived Service EndpointSlices showing it (p50 / p99;
// aim p99 under 3 s); the hub's Table Storage requests per change (beyond the steady rate); and the
// hub's requests a heartbeat with networking on, beside what a heartbeat costs without it (~1).
import { ContainerServiceClient } from '@azure/arm-containerservice';
import { ContainerServiceFleetClient } from '@azure/arm-containerservicefleet';
import { ManagedIdentityCredential } from '@azure/identity';
import { CustomObjectsApi, DiscoveryV1Api, KubeConfig, KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { sliceExportName } from '../agent/sliceExports.js';
import { startBenchStack } from './stack.js';

export interface NetworkingBenchOptions {
  exporters: number;
  importers: number;
  pods: number;
  /** Endpoint changes measured (half pods added, half taken away). */
  changes: number;
  /** How long the steady rate is measured, nothing changing (s). */
  quietSeconds: number;
}

const sub = '00000000-0000-0000-0000-000000000001';
const rg = 'rg-bench-net';
const ns = 'bench-net';
const fmt = (n: number, d = 1) => n.toFixed(d);
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fast = { updateIntervalInMs: 200 };

async function until<T>(check: () => Promise<T | false | undefined>, within: number, what: string, every = 100): Promise<T> {
  const end = Date.now() + within;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`networking bench: no ${what} within ${within / 1000} s`);
    await sleep(every);
  }
}

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

const app = (pods: number) => [
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'kuard', namespace: ns },
    spec: {
      replicas: pods,
      selector: { matchLabels: { app: 'kuard' } },
      template: { metadata: { labels: { app: 'kuard' } }, spec: { containers: [{ name: 'kuard', image: 'kuard:1', ports: [{ containerPort: 8080 }] }] } },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'kuard', namespace: ns },
    spec: { selector: { app: 'kuard' }, ports: [{ port: 8080, targetPort: 8080 }] },
  },
  { apiVersion: 'networking.fleet.azure.com/v1alpha1', kind: 'ServiceExport', metadata: { name: 'kuard', namespace: ns } },
];
const mcs = {
  apiVersion: 'networking.fleet.azure.com/v1alpha1',
  kind: 'MultiClusterService',
  metadata: { name: 'kuard', namespace: ns },
  spec: { serviceImport: { name: 'kuard' } },
};

export async function benchNetworking(o: NetworkingBenchOptions): Promise<string> {
  const members = o.exporters + o.importers;
  const stack = await startBenchStack({ FLEET_MEMBER_LIMIT: String(members), FLEET_LOCAL_EVENT_GRID: '0' });
  try {
    const e = stack.clientEnv;
    process.env.IDENTITY_ENDPOINT = e.IDENTITY_ENDPOINT;
    process.env.IDENTITY_HEADER = e.IDENTITY_HEADER;
    const credential = new ManagedIdentityCredential();
    const aks = new ContainerServiceClient(credential, sub, { endpoint: e.ARM_ENDPOINT });
    const fleet = new ContainerServiceFleetClient(credential, sub, { endpoint: e.FLEET_API });
    const stats = async () => (await (await fetch(`${e.ARM_ENDPOINT}/_local/stats`)).json()) as { hubTableRequests: number };
    await fleet.fleets.create(rg, 'net', { location: 'eastus', properties: { hubProfile: { dnsPrefix: 'net' } } }, fast);
    const names = Array.from({ length: members }, (_, i) => (i < o.exporters ? `exp-${i}` : `imp-${i - o.exporters}`));
    const clusters = new Map<string, KubeConfig>();
    const t0 = performance.now();
    await pool(names, 10, async (name) => {
      await aks.managedClusters.beginCreateOrUpdateAndWait(
        rg,
        `aks-${name}`,
        { location: 'eastus', identity: { type: 'SystemAssigned' }, agentPoolProfiles: [{ name: 'pool1', count: 1, vmSize: 'Standard_D4s_v5' }] },
        fast,
      );
      await fleet.fleetMembers.create(
        rg,
        'net',
        name,
        { properties: { clusterResourceId: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.ContainerService/managedClusters/aks-${name}` } },
        fast,
      );
      const kc = new KubeConfig();
      kc.loadFromString(new TextDecoder().decode((await aks.managedClusters.listClusterAdminCredentials(rg, `aks-${name}`)).kubeconfigs![0].value!));
      clusters.set(name, kc);
    });
    const hub = new KubeConfig();
    hub.loadFromString(new TextDecoder().decode((await fleet.fleets.listCredentials(rg, 'net')).kubeconfigs![0].value!));
    const hubObjects = KubernetesObjectApi.makeApiClient(hub);
    await until(
      async () => {
        const list = (await hubObjects.list('cluster.kubernetes-fleet.io/v1', 'MemberCluster')).items as {
          status?: { conditions?: { type: string; status: string }[] };
        }[];
        return list.filter((m) => m.status?.conditions?.some((c) => c.type === 'Joined' && c.status === 'True')).length === members;
      },
      300_000,
      'every member joined',
      2000,
    );
    const joined = (performance.now() - t0) / 1000;

    const exporters = names.slice(0, o.exporters);
    const importers = names.slice(o.exporters);
    const create = async (name: string, objects: object[]) => {
      const api = KubernetesObjectApi.makeApiClient(clusters.get(name)!);
      for (const x of [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, ...objects]) await api.create(x);
    };
    const t1 = performance.now();
    await pool(exporters, 10, (n) => create(n, app(o.pods)));
    await pool(importers, 10, (n) => create(n, [mcs]));
    const slices = (name: string) => DiscoveryV1Api.prototype.listNamespacedEndpointSlice.bind(clusters.get(name)!.makeApiClient(DiscoveryV1Api));
    const importedAddresses = async (name: string) =>
      new Set(
        (await slices(name)({ namespace: 'fleet-system', labelSelector: `kubernetes.io/service-name=${ns}-kuard` })).items.flatMap((s) =>
          s.endpoints.flatMap((p) => p.addresses),
        ),
      );
    const exportedAddresses = async (name: string) =>
      new Set(
        (await slices(name)({ namespace: ns, labelSelector: 'kubernetes.io/service-name=kuard' })).items.flatMap((s) =>
          s.endpoints.filter((p) => p.conditions?.ready !== false).flatMap((p) => p.addresses),
        ),
      );
    const total = o.exporters * o.pods;
    await until(
      async () => (await Promise.all(importers.map(importedAddresses))).every((s) => s.size === total),
      600_000,
      `${total} endpoints in every importer`,
      2000,
    );
    const converged = (performance.now() - t1) / 1000;

    // The steady rate: heartbeats (and their networking passes) with nothing changing.
    const quietSeconds = o.quietSeconds;
    const q0 = (await stats()).hubTableRequests;
    await sleep(quietSeconds * 1000);
    const steadyRate = ((await stats()).hubTableRequests - q0) / quietSeconds;
    const heartbeatsPerSecond = members / 15;

    const latencies: number[] = [];
    const stages = { exporter: [] as number[], hub: [] as number[], importers: [] as number[] };
    const hubCustom = hub.makeApiClient(CustomObjectsApi);
    let changeRequests = 0;
    for (let k = 0; k < o.changes; k++) {
      // Each exporter in turn gets a pod more, then goes back.
      const name = exporters[Math.floor(k / 2) % exporters.length];
      const up = k % 2 === 0;
      const before = await exportedAddresses(name);
      const r0 = (await stats()).hubTableRequests;
      const c0 = performance.now();
      await KubernetesObjectApi.makeApiClient(clusters.get(name)!).patch(
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'kuard', namespace: ns }, spec: { replicas: o.pods + (up ? 1 : 0) } },
        undefined,
        undefined,
        undefined,
        undefined,
        PatchStrategy.MergePatch,
      );
      // The change as the exporter's own EndpointSlice shows it: the moment the endpoint is ready (or gone).
      const changed = await until(
        async () => {
          const now = await exportedAddresses(name);
          const diff = up ? [...now].filter((a) => !before.has(a)) : [...before].filter((a) => !now.has(a));
          return diff.length ? { address: diff[0], at: performance.now(), epoch: Date.now() } : undefined;
        },
        30_000,
        `the endpoint change in ${name}`,
        20,
      );
      await until(
        async () => (await Promise.all(importers.map(importedAddresses))).every((s) => s.has(changed.address) === up),
        60_000,
        'every importer to show the change',
        50,
      );
      latencies.push(performance.now() - changed.at);
      // Where the time went, from each write's resourceVersion (its writer's clock, microseconds:
      // the same machine's): the exporter's EndpointSliceExport, the last importer's
      // EndpointSliceImport, the last importer's derived slice.
      const slice = (await slices(name)({ namespace: ns, labelSelector: 'kubernetes.io/service-name=kuard' })).items[0]?.metadata?.name ?? '';
      const exported = sliceExportName(name, ns, slice);
      const rvAt = (o: unknown) => Number((o as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion ?? Number.NaN) / 1000;
      const hubObject = (namespace: string, plural: string) =>
        hubCustom.getNamespacedCustomObject({ group: 'networking.fleet.azure.com', version: 'v1alpha1', namespace, plural, name: exported }).then(rvAt);
      const eseAt = await hubObject(`fleet-member-${name}`, 'endpointsliceexports').catch(() => Number.NaN);
      const esiAt = Math.max(...(await Promise.all(importers.map((i) => hubObject(`fleet-member-${i}`, 'endpointsliceimports').catch(() => Number.NaN)))));
      const localAt = Math.max(
        ...(await Promise.all(
          importers.map((i) =>
            clusters
              .get(i)!
              .makeApiClient(DiscoveryV1Api)
              .readNamespacedEndpointSlice({ namespace: 'fleet-system', name: exported })
              .then(rvAt)
              .catch(() => Number.NaN),
          ),
        )),
      );
      stages.exporter.push(eseAt - changed.epoch);
      stages.hub.push(esiAt - eseAt);
      stages.importers.push(localAt - esiAt);
      const elapsed = (performance.now() - c0) / 1000;
      changeRequests += (await stats()).hubTableRequests - r0 - steadyRate * elapsed;
      await sleep(1000);
    }
    latencies.sort((a, b) => a - b);
    const median = (xs: number[]) => {
      const ok = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
      return ok.length ? fmt(pct(ok, 50), 0) : 'n/a';
    };
    return [
      `multi-cluster load balancing: ${o.exporters} exporting members × ${o.pods} pods, ${o.importers} importing members (real agents, heartbeat 15 s; joined in ${fmt(joined, 0)} s, every importer had all ${total} endpoints ${fmt(converged, 0)} s after the objects were written)`,
      `  endpoint → importers: p50 / p99 / max ${fmt(pct(latencies, 50), 0)} / ${fmt(pct(latencies, 99), 0)} / ${fmt(latencies.at(-1) ?? Number.NaN, 0)} ms over ${latencies.length} changes, a pod ready or gone in one exporter to every importer's derived Service slices (aim: p99 under 3,000 ms)`,
      `  where (p50):         ${median(stages.exporter)} ms to the exporter's EndpointSliceExport, ${median(stages.hub)} ms more to the last importer's EndpointSliceImport (the coalescing window, the queue, the pass), ${median(stages.importers)} ms more to the last importer's derived slice (its watch poll, its pass)`,
      `  hub storage:          ${fmt(changeRequests / Math.max(1, latencies.length), 1)} Table Storage requests on the hub's table a change, beyond the steady rate (the exporter's EndpointSliceExport, the sync's lists, one EndpointSliceImport per importer)`,
      `  steady:               ${fmt(steadyRate, 1)} requests a second on the hub's table with nothing changing: ${o.importers} of them the importers' watches of their EndpointSliceImports (a poll a second each), the rest ${fmt((steadyRate - o.importers) / heartbeatsPerSecond, 2)} a heartbeat (a heartbeat alone costs ~1; the rest is what exporters' passes list, and the timers)`,
    ].join('\n');
  } finally {
    await stack.stop();
  }
}
