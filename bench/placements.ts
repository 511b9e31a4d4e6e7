// The placement part of `npm run bench`, on the running stack:
//  - `kubectl apply` of a placement of 100 resources (a namespace and 99 configmaps) to Applied on
//    200 members whose simulated agents report every period (aim: under 30 s);
//  - one resource change to every Work of a PickAll placement over 1,000 members updated (maxUnavailable
//    100 %), each Work's write time taken from its resourceVersion (the hub's clock: microseconds),
//    and the Table Storage requests that pass cost per member (aim: p99 under 2 s).
// The agents are request loops with their own cluster identity's token, as in bench/heartbeats.ts:
// they PATCH their InternalMemberCluster status, LIST their Works and report a new Work generation
// Applied and Available at once (what placing it on a cluster costs is the agent's, not the hub's).
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { timestamp } from '../shared/hub/conditions.js';
import type { HeartbeatBenchOptions } from './heartbeats.js';

export interface PlacementBenchOptions extends Omit<HeartbeatBenchOptions, 'windowSeconds' | 'cpuMs' | 'functionsCpuMs' | 'healthSweepRequests'> {
  clientEnv: Record<string, string>;
  /** How many of `clusters` join the fan-out fleet (the first 200 join the apply fleet). */
  fanOut: number;
  applyMembers: number;
  /** Azurite's raw upserts a second on this machine: the floor under a pass that writes every Work. */
  rawRate: number;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const fmt = (n: number, d = 1) => n.toFixed(d);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const at = () => timestamp(new Date());
const rvMs = (rv: string) => Number(rv) / 1000;

interface Condition {
  type: string;
  status: string;
  observedGeneration?: number;
}
interface Crp {
  metadata: { generation: number };
  status?: { observedResourceIndex?: string; conditions?: Condition[] };
}

export async function benchPlacements(o: PlacementBenchOptions): Promise<string> {
  const lines: string[] = [];
  const apply = await hubFleet(o, 'place-apply', o.clusters.slice(0, o.applyMembers));

  // ---- kubectl apply of 100 resources → Applied on 200 members
  // The members have joined: each agent has reported once (Joined, Healthy) before the placement comes.
  await o.pool(apply.agents, 50, (a) => a.report().then(() => undefined));
  let stopped = false;
  const loops = apply.agents.map(async (a) => {
    await sleep(Math.random() * o.periodSeconds * 1000);
    while (!stopped) {
      const beat = performance.now();
      await a.report().catch(() => undefined);
      await a.ackWorks().catch(() => undefined);
      const next = o.periodSeconds * 1000 * (0.95 + 0.1 * Math.random()) - (performance.now() - beat);
      if (next > 0) await sleep(next);
    }
  });
  const objects: unknown[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bench-apply' } },
    ...Array.from({ length: 99 }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `cm-${i}`, namespace: 'bench-apply' },
      data: { index: String(i) },
    })),
    crp('bench-apply', 'bench-apply', '25%'),
  ];
  const file = join(mkdtempSync(join(tmpdir(), 'bench-place-')), 'placement.yaml');
  writeFileSync(file, objects.map((x) => stringify(x)).join('---\n'));
  const t0 = performance.now();
  await promisify(execFile)('kubectl', ['--kubeconfig', apply.kubeconfig, 'apply', '-f', file], {
    env: { ...process.env, ...o.clientEnv },
    maxBuffer: 1 << 24,
  });
  const applied = performance.now() - t0;
  await until(async () => {
    const p = await apply.get<Crp>('/apis/placement.kubernetes-fleet.io/v1/clusterresourceplacements/bench-apply');
    return conditionOf(p, 'Applied')?.status === 'True';
  }, 120_000);
  const toApplied = (performance.now() - t0) / 1000;
  stopped = true;
  await Promise.all(loops);
  lines.push(
    `placements: kubectl apply of a placement of 100 resources (PickAll) on ${o.applyMembers} members, agents every ${o.periodSeconds} s`,
    `  apply → Applied:  ${fmt(toApplied)} s (aim: under 30 s; kubectl apply itself ${fmt(applied / 1000, 2)} s; an agent sees a new Work within its period)`,
  );

  // ---- one resource change → all fan-out Works updated (joined now, so that every agent's one report is fresh)
  const fan = await hubFleet(o, 'place-fanout', o.clusters.slice(o.applyMembers, o.applyMembers + o.fanOut));
  await o.pool(fan.agents, 50, (a) => a.report().then(() => undefined));
  await fan.put('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fanout' } });
  await fan.put('/api/v1/namespaces/fanout/configmaps', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'settings', namespace: 'fanout' },
    data: { v: '0' },
  });
  await fan.put('/apis/placement.kubernetes-fleet.io/v1/clusterresourceplacements', crp('fanout', 'fanout', '100%'));
  const synced = async (index?: string) => {
    const p = await fan.get<Crp>('/apis/placement.kubernetes-fleet.io/v1/clusterresourceplacements/fanout');
    return conditionOf(p, 'WorkSynchronized')?.status === 'True' && (index === undefined || p.status?.observedResourceIndex === index) && p;
  };
  const first = await until(() => synced(), 180_000);
  const index = first.status!.observedResourceIndex!;
  const works = async () =>
    (
      await fan.get<{ items: { metadata: { resourceVersion: string; labels: Record<string, string> } }[] }>(
        '/apis/placement.kubernetes-fleet.io/v1/works?labelSelector=kubernetes-fleet.io%2Fparent-CRP%3Dfanout',
      )
    ).items;
  const placed = (await works()).length;
  const before = await o.tableRequests();
  const changedAt = Date.now();
  await fan.merge('/api/v1/namespaces/fanout/configmaps/settings', { data: { v: '1' } });
  let polls = 0;
  await until(async () => {
    polls++;
    return synced(String(Number(index) + 1));
  }, 120_000);
  const requests = (await o.tableRequests()) - before - polls - 2; // the polls (1 point read each) and the change itself
  const items = await works();
  const latencies = items
    .filter((w) => w.metadata.labels['kubernetes-fleet.io/parent-resource-snapshot-index'] === String(Number(index) + 1))
    .map((w) => rvMs(w.metadata.resourceVersion) - changedAt)
    .sort((a, b) => a - b);
  lines.push(
    `  one change → Works: ${latencies.length} of ${placed} members' Works updated, p50 / p99 / max ${fmt(pct(latencies, 50), 0)} / ${fmt(pct(latencies, 99), 0)} / ${fmt(latencies.at(-1) ?? Number.NaN, 0)} ms (aim: p99 under 2,000 ms; 400–800 ms of it is the coalescing window)`,
    `  storage:          ${fmt(requests / Math.max(1, latencies.length), 2)} Table Storage requests a member for that rollout (${requests} in all: the Work's write, plus the pass's lists and snapshot); at Azurite's raw ${fmt(o.rawRate, 0)} upserts/s those take ${fmt(requests / o.rawRate, 2)} s on this machine`,
  );
  return lines.join('\n');
}

const crp = (name: string, namespace: string, maxUnavailable: string) => ({
  apiVersion: 'placement.kubernetes-fleet.io/v1',
  kind: 'ClusterResourcePlacement',
  metadata: { name },
  spec: {
    resourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: namespace }],
    policy: { placementType: 'PickAll' },
    strategy: { rollingUpdate: { maxUnavailable } },
  },
});

const conditionOf = (p: Crp, type: string) =>
  p.status?.conditions?.find((c) => c.type === `ClusterResourcePlacement${type}` && c.observedGeneration === p.metadata.generation);

async function until<T>(check: () => Promise<T | false | undefined>, within: number): Promise<T> {
  const deadline = Date.now() + within;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`bench: timed out after ${within} ms`);
    await sleep(200);
  }
}

/** A hub fleet with these clusters joined, a kubeconfig for kubectl, and a simulated agent per member. */
async function hubFleet(o: PlacementBenchOptions, name: string, clusters: string[]) {
  const fleetUrl = `${o.api}/subscriptions/${o.subscriptionId}/resourceGroups/rg-bench/providers/Microsoft.ContainerService/fleets/${name}`;
  const created = await o.call('PUT', `${fleetUrl}?api-version=2025-03-01`, { location: 'eastus', properties: { hubProfile: { dnsPrefix: name } } });
  await o.waitFor(created.headers['azure-asyncoperation'] as string);
  const fleet = JSON.parse((await o.call('GET', `${fleetUrl}?api-version=2025-03-01`)).text) as { properties: { hubProfile: { fqdn: string } } };
  const hub = `https://${fleet.properties.hubProfile.fqdn}`;
  const creds = JSON.parse((await o.call('POST', `${fleetUrl}/listCredentials?api-version=2025-03-01`)).text) as { kubeconfigs: { value: string }[] };
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'bench-kube-')), 'config');
  writeFileSync(kubeconfig, Buffer.from(creds.kubeconfigs[0].value, 'base64'));
  await o.pool(
    clusters.map((c, i) => [c, i] as const),
    o.joinConcurrency,
    async ([clusterResourceId, i]) => {
      const res = await o.call('PUT', `${fleetUrl}/members/m-${i}?api-version=2025-03-01`, { properties: { clusterResourceId } });
      if (res.status !== 201) throw new Error(`join answered ${res.status}: ${res.text}`);
      await o.waitFor(res.headers['azure-asyncoperation'] as string);
    },
  );
  const json = async <T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}) => {
    const r = await o.call(method, `${hub}${path}`, body, extra);
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
    return JSON.parse(r.text) as T;
  };
  const agents = await Promise.all(
    clusters.map(async (c, i) => {
      const auth = { authorization: `Bearer ${await o.tokenFor(c)}` };
      const ns = `fleet-member-m-${i}`;
      const seen = new Map<string, number>();
      return {
        report: () =>
          json('PATCH', `/apis/cluster.kubernetes-fleet.io/v1/namespaces/${ns}/internalmemberclusters/m-${i}/status`, statusOf(at()), {
            ...auth,
            'content-type': 'application/merge-patch+json',
          }),
        ackWorks: async () => {
          const list = await json<{ items: { metadata: { name: string; generation: number } }[] }>(
            'GET',
            `/apis/placement.kubernetes-fleet.io/v1/namespaces/${ns}/works`,
            undefined,
            auth,
          );
          for (const w of list.items) {
            if (seen.get(w.metadata.name) === w.metadata.generation) continue;
            const g = w.metadata.generation;
            const cond = (type: string, reason: string) => ({ type, status: 'True', reason, message: reason, observedGeneration: g, lastTransitionTime: at() });
            await json(
              'PATCH',
              `/apis/placement.kubernetes-fleet.io/v1/namespaces/${ns}/works/${w.metadata.name}/status`,
              { status: { conditions: [cond('Applied', 'WorkApplied'), cond('Available', 'WorkAvailable')] } },
              {
                ...auth,
                'content-type': 'application/merge-patch+json',
              },
            );
            seen.set(w.metadata.name, g);
          }
        },
      };
    }),
  );
  return {
    kubeconfig,
    agents,
    get: <T>(path: string) => json<T>('GET', path),
    put: (path: string, body: unknown) => json('POST', path, body),
    merge: (path: string, body: unknown) => json('PATCH', path, body, { 'content-type': 'application/merge-patch+json' }),
  };
}

const statusOf = (now: string) => ({
  status: {
    properties: { 'kubernetes-fleet.io/node-count': { value: '3', observationTime: now } },
    agentStatus: [
      {
        type: 'MemberAgent',
        lastReceivedHeartbeat: now,
        conditions: [
          { type: 'Joined', status: 'True', reason: 'MemberJoined', message: 'joined', lastTransitionTime: now },
          { type: 'Healthy', status: 'True', reason: 'MemberHealthy', message: 'healthy', lastTransitionTime: now },
        ],
      },
    ],
  },
});
