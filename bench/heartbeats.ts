// The member-agent part of `npm run bench`: how many heartbeats one hub sustains from N agents at
// the default period. Each simulated agent does what agent/memberAgent.ts does every period, with
// its own cluster identity's token: PATCH its InternalMemberCluster's status (what the hub copies
// onto the MemberCluster; the answer carries the state the fleet asks for), LIST its Works. Offered = N / period; sustained = heartbeats
// finished per second over the window (below offered when the hub cannot keep up: the agents'
// loops fall behind). The agents here are request loops, not the agent program: 10,000 of them
// with clusters to read would measure the simulated clusters, not the hub.
import { timestamp } from '../shared/hub/conditions.js';
import type { HubBenchOptions } from './hubLoad.js';

export interface HeartbeatBenchOptions {
  api: string;
  subscriptionId: string;
  /** Cluster resource ids free to join (no fleet holds them). */
  clusters: string[];
  periodSeconds: number;
  windowSeconds: number;
  call: HubBenchOptions['call'];
  waitFor: HubBenchOptions['waitFor'];
  pool: HubBenchOptions['pool'];
  tableRequests: () => Promise<number>;
  /** What the member-health sweep (a timer, left out of tableRequests) asked of storage so far. */
  healthSweepRequests: () => Promise<number>;
  cpuMs: () => Promise<number>;
  /** A token for the cluster's identity (the identity endpoint with mi_res_id). */
  tokenFor: (clusterId: string) => Promise<string>;
  joinConcurrency: number;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const fmt = (n: number, d = 1) => n.toFixed(d);

export async function benchHeartbeats(options: HeartbeatBenchOptions): Promise<string> {
  // A kept-alive connection the server closes as it idles (30 s) resets the request sent on it at
  // that moment: sent once more, as a client's retry policy would.
  const call: HeartbeatBenchOptions['call'] = (...args) =>
    options.call(...args).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') throw e;
      return options.call(...args);
    });
  const o = { ...options, call };
  const n = o.clusters.length;
  const fleetUrl = `${o.api}/subscriptions/${o.subscriptionId}/resourceGroups/rg-bench/providers/Microsoft.ContainerService/fleets/agents-${n}`;
  const created = await o.call('PUT', `${fleetUrl}?api-version=2025-03-01`, { location: 'eastus', properties: { hubProfile: { dnsPrefix: `agents${n}` } } });
  await o.waitFor(created.headers['azure-asyncoperation'] as string);
  const fleet = JSON.parse((await o.call('GET', `${fleetUrl}?api-version=2025-03-01`)).text) as { properties: { hubProfile: { fqdn: string } } };
  const hub = `https://${fleet.properties.hubProfile.fqdn}`;
  const joinStart = performance.now();
  let joined = 0;
  await o.pool(
    o.clusters.map((c, i) => [c, i] as const),
    o.joinConcurrency,
    async ([clusterResourceId, i]) => {
      const res = await o.call('PUT', `${fleetUrl}/members/m-${i}?api-version=2025-03-01`, { properties: { clusterResourceId } });
      if (res.status !== 201) throw new Error(`join answered ${res.status}: ${res.text}`);
      await o.waitFor(res.headers['azure-asyncoperation'] as string);
      if (++joined % 1000 === 0) process.stderr.write(`  (heartbeat bench: ${joined} of ${n} joined, ${fmt((performance.now() - joinStart) / 1000)} s)\n`);
    },
  );
  const joinSeconds = (performance.now() - joinStart) / 1000;
  const tokens: string[] = new Array(n);
  await o.pool(
    o.clusters.map((c, i) => [c, i] as const),
    50,
    async ([c, i]) => {
      tokens[i] = await o.tokenFor(c);
    },
  );

  const imc = (i: number) => `${hub}/apis/cluster.kubernetes-fleet.io/v1/namespaces/fleet-member-m-${i}/internalmemberclusters/m-${i}`;
  const works = (i: number) => `${hub}/apis/placement.kubernetes-fleet.io/v1/namespaces/fleet-member-m-${i}/works`;
  const statusOf = (at: string, joined = 'True') => ({
    status: {
      properties: {
        'kubernetes-fleet.io/node-count': { value: '3', observationTime: at },
        'resources.kubernetes-fleet.io/allocatable-cpu': { value: '11040m', observationTime: at },
        'resources.kubernetes-fleet.io/available-cpu': { value: '9000m', observationTime: at },
      },
      resourceUsage: { allocatable: { cpu: '11040m', memory: '39258684Ki' }, available: { cpu: '9000m', memory: '30000000Ki' }, observationTime: at },
      agentStatus: [
        {
          type: 'MemberAgent',
          lastReceivedHeartbeat: at,
          conditions: [
            { type: 'Joined', status: joined, reason: joined === 'True' ? 'MemberJoined' : 'MemberLeft', message: 'joined', lastTransitionTime: at },
            { type: 'Healthy', status: 'True', reason: 'MemberHealthy', message: 'healthy', lastTransitionTime: at },
          ],
        },
      ],
    },
  });
  // Each agent's first report before the window: with it the member joins (its MemberCluster's
  // conditions appear and their Events are recorded, once); what the window measures is the
  // heartbeat that comes after, again and again.
  await o.pool(
    Array.from({ length: n }, (_, i) => i),
    50,
    async (i) => {
      await o.call('PATCH', `${imc(i)}/status`, statusOf(timestamp(new Date())), {
        authorization: `Bearer ${tokens[i]}`,
        'content-type': 'application/merge-patch+json',
      });
    },
  );
  const writes: number[] = [];
  /** After the window, the fleet is deleted and each agent acknowledges its Leave, as the real one does. */
  let leaving = false;
  let stopped = false;
  let left = 0;
  let done = 0;
  let failed = 0;
  let firstFailure = '';
  const startedAt = performance.now();
  const endAt = startedAt + o.windowSeconds * 1000;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const beforeRequests = await o.tableRequests();
  const beforeSweep = await o.healthSweepRequests();
  const beforeCpu = await o.cpuMs();
  const loop = async (i: number) => {
    const auth = { authorization: `Bearer ${tokens[i]}` };
    await sleep(Math.random() * o.periodSeconds * 1000);
    while (!stopped) {
      const beat = performance.now();
      try {
        if ((await heartbeat(i, auth)) === 'Leave') {
          await o.call('PATCH', `${imc(i)}/status`, statusOf(timestamp(new Date()), 'False'), {
            ...auth,
            'content-type': 'application/merge-patch+json',
          });
          left++;
          return;
        }
      } catch (e) {
        failed++;
        firstFailure ||= (e as Error).message;
      }
      const next = o.periodSeconds * 1000 * (0.95 + 0.1 * Math.random()) - (performance.now() - beat);
      if (next > 0) await sleep(next);
    }
  };
  const heartbeat = async (i: number, auth: Record<string, string>) => {
    const at = timestamp(new Date());
    const w = performance.now();
    const patched = await o.call('PATCH', `${imc(i)}/status`, statusOf(at), { ...auth, 'content-type': 'application/merge-patch+json' });
    const wrote = performance.now() - w;
    const listed = await o.call('GET', works(i), undefined, auth);
    if (patched.status === 200 && listed.status === 200) {
      if (performance.now() <= endAt) {
        done++;
        writes.push(wrote);
      }
      return (JSON.parse(patched.text) as { spec?: { state?: string } }).spec?.state;
    }
    if (patched.status !== 404 || !leaving) {
      failed++;
      firstFailure ||= `${patched.status}/${listed.status}: ${(patched.status !== 200 ? patched.text : listed.text).slice(0, 200)}`;
    }
    return undefined;
  };
  const agents = Promise.all(Array.from({ length: n }, (_, i) => loop(i)));
  await sleep(o.windowSeconds * 1000 + 50);
  const seconds = (performance.now() - startedAt) / 1000;
  const requests = (await o.tableRequests()) - beforeRequests;
  const sweepRequests = (await o.healthSweepRequests()) - beforeSweep;
  const cores = ((await o.cpuMs()) - beforeCpu) / 1000 / seconds;
  writes.sort((a, b) => a - b);
  const offered = n / o.periodSeconds;
  const sustained = done / o.windowSeconds;
  const measured = [
    `member agents: ${n} agents, a heartbeat every ${o.periodSeconds} s (±5 %) for ${o.windowSeconds} s (joined to a hub fleet in ${fmt(joinSeconds)} s)`,
    `  heartbeats/s:    ${fmt(sustained)} sustained of ${fmt(offered)} offered (${fmt((100 * sustained) / offered, 0)} %)${failed ? `, ${failed} failed (first: ${firstFailure})` : ''}`,
    `  status write:    p50 / p99 ${fmt(pct(writes, 50))} / ${fmt(pct(writes, 99))} ms`,
    `  storage:         ${fmt(requests / Math.max(1, done), 2)} Table Storage requests a heartbeat (status PATCH + Works LIST, and the MemberCluster copy)`,
    `  health sweep:    ${sweepRequests} Table Storage requests in the ${o.windowSeconds} s (${fmt(sweepRequests / Math.max(1, done), 3)} a heartbeat; not in the line above)`,
    `  CPU:             ${fmt(cores, 2)} cores of the stack`,
  ];
  // Printed before the fleet is deleted, so that a delete that goes wrong does not lose them.
  process.stderr.write(`${measured.join('\n')}\n`);
  // Deleting the fleet asks every member's agent to leave; the agents acknowledge within a period.
  leaving = true;
  const deleteStart = performance.now();
  const del = await o.call('DELETE', `${fleetUrl}?api-version=2025-03-01`);
  await o.waitFor(del.headers['azure-asyncoperation'] as string);
  const deleteSeconds = (performance.now() - deleteStart) / 1000;
  stopped = true;
  await agents;
  return [...measured, `  fleet delete:    ${fmt(deleteSeconds)} s, ${left} of ${n} agents acknowledged their Leave`].join('\n');
}
