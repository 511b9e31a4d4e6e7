// The member-agent part of `npm run bench`: how many heartbeats one hub sustains from N agents at
// the default period. Each simulated agent does what agent/memberAgent.ts does every period, with
// its own cluster identity's token: PATCH its InternalMemberCluster's status (what the hub copies
// onto the MemberCluster when it changed; the answer carries the state the fleet asks for), and
// LIST its Works when that answer's works-version annotation moved (or worksResyncSeconds passed). Offered = N / period; sustained = heartbeats
// finished per second over the window (below offered when the hub cannot keep up: the agents'
// loops fall behind). The agents here are request loops, not the agent program: 10,000 of them
// with clusters to read would measure the simulated clusters, not the hub.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { decodeJwt } from 'jose';
import { worksResyncSeconds, worksVersionAnnotation } from '../shared/domain/agentProtocol.js';
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
  /** The function host's CPU alone (the hub's code, without the emulators). */
  functionsCpuMs: () => Promise<number>;
  /** Each of the stack's event loops: how long it was busy so far (which one is the bottleneck). */
  loopActiveMs?: () => Promise<Record<string, number>>;
  /** Azurite's raw upserts a second, measured at the start of this run. */
  rawRate: number;
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
  const imc = (i: number) => `${hub}/apis/cluster.kubernetes-fleet.io/v1/namespaces/fleet-member-m-${i}/internalmemberclusters/m-${i}`;
  const works = (i: number) => `${hub}/apis/placement.kubernetes-fleet.io/v1/namespaces/fleet-member-m-${i}/works`;
  // As the agent keeps them: a condition's lastTransitionTime is when it last changed.
  const since = timestamp(new Date());
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
            {
              type: 'Joined',
              status: joined,
              reason: joined === 'True' ? 'MemberJoined' : 'MemberLeft',
              message: 'joined',
              lastTransitionTime: joined === 'True' ? since : at,
            },
            { type: 'Healthy', status: 'True', reason: 'MemberHealthy', message: 'healthy', lastTransitionTime: since },
          ],
        },
      ],
    },
  });
  // Each agent's first report before the window: with it the member joins (its MemberCluster's
  // conditions appear and their Events are recorded, once); what the window measures is the
  // heartbeat that comes after, again and again.
  /** Per agent: the works-version it last listed under, and when (agent/memberAgent.ts). */
  const listed = Array.from({ length: n }, () => ({ version: undefined as string | undefined, at: Number.NEGATIVE_INFINITY }));
  let lists = 0;
  /** One heartbeat: the status PATCH, then the Works LIST when the answer says they changed. */
  let inFlight = 0;
  const report = async (i: number, auth: Record<string, string>, at: string) => {
    const w = performance.now();
    inFlight++;
    const patched = await o
      .call('PATCH', `${imc(i)}/status`, statusOf(at), { ...auth, 'content-type': 'application/merge-patch+json' })
      .finally(() => inFlight--);
    const wrote = performance.now() - w;
    if (patched.status !== 200) return { patched, wrote, listed: undefined };
    const object = JSON.parse(patched.text) as { metadata?: { annotations?: Record<string, string> }; spec?: { state?: string } };
    const announced = object.metadata?.annotations?.[worksVersionAnnotation];
    const l = listed[i];
    if (announced === l.version && performance.now() - l.at < worksResyncSeconds * 1000) return { patched, wrote, object, listed: undefined };
    const list = await o.call('GET', works(i), undefined, auth);
    lists++;
    if (list.status === 200) listed[i] = { version: announced, at: performance.now() };
    return { patched, wrote, object, listed: list };
  };
  const writes: number[] = [];
  /** When each measured write started (epoch ms), for the trace of slow ones (BENCH_HEARTBEAT_TRACE). */
  const writeStarts: number[] = [];
  /** After the window, the fleet is deleted and each agent acknowledges its Leave, as the real one does. */
  let leaving = false;
  let stopped = false;
  let left = 0;
  let done = 0;
  let failed = 0;
  let firstFailure = '';
  /** The measured window, once every agent reported once and two periods passed. */
  let startedAt = Number.POSITIVE_INFINITY;
  let endAt = Number.POSITIVE_INFINITY;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Each agent's first report (50 at a time: with it the member joins, its MemberCluster's
  // conditions appear and their Events are recorded, once), then, once every agent reported, a
  // heartbeat every period, the agents spread over the first one. (Heartbeating while others made
  // their first report, the 10,000 agents left the last of those no room: they never got in.)
  let reporting = 0;
  const slots: (() => void)[] = [];
  const firstReport = async (i: number) => {
    if (reporting >= 50) await new Promise<void>((r) => slots.push(r));
    reporting++;
    try {
      // Tried until it is in (an agent does not give up); what went wrong is counted and shown.
      for (;;) {
        try {
          tokens[i] = await o.tokenFor(o.clusters[i]);
          const { patched } = await report(i, { authorization: `Bearer ${tokens[i]}` }, timestamp(new Date()));
          if (patched.status === 200) break;
          firstFailure ||= `first report: ${patched.status} ${patched.text.slice(0, 200)}`;
        } catch (e) {
          firstFailure ||= `first report: ${(e as Error).message}`;
        }
        failedFirst++;
        await sleep(1000);
      }
    } finally {
      reporting--;
      slots.shift()?.();
    }
  };
  let reported = 0;
  let failedFirst = 0;
  let allReported: () => void = () => undefined;
  const everyoneReported = new Promise<void>((r) => (allReported = r));
  const loop = async (i: number) => {
    await firstReport(i);
    let auth = { authorization: `Bearer ${tokens[i]}` };
    if (++reported === n) allReported();
    if (reported % 1000 === 0)
      process.stderr.write(`  (heartbeat bench: ${reported} of ${n} agents reported once, ${fmt((performance.now() - joinStart) / 1000)} s)\n`);
    await everyoneReported;
    await sleep(Math.random() * o.periodSeconds * 1000);
    while (!stopped) {
      const beat = performance.now();
      try {
        // A token is renewed a minute before it expires, as the agent's credential does (the
        // local identity endpoint gives clusters 4-minute tokens; Entra's last 60-90 minutes).
        if ((decodeJwt(tokens[i]).exp ?? 0) * 1000 - Date.now() < 60_000) {
          tokens[i] = await o.tokenFor(o.clusters[i]);
          auth = { authorization: `Bearer ${tokens[i]}` };
        }
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
  // The rate counts the heartbeats that finished in the window; the write times, those begun in it
  // (all of them: the window waits for the last), so that a write still queued from the start-up
  // is not the steady state's, and a slow one at the window's end is not left out.
  let measuring = 0;
  const heartbeat = async (i: number, auth: Record<string, string>) => {
    const began = Date.now();
    const beganAt = performance.now();
    const measured = beganAt >= startedAt && beganAt <= endAt;
    if (measured) measuring++;
    const { patched, wrote, object, listed: list } = await report(i, auth, timestamp(new Date())).finally(() => measured && measuring--);
    if (patched.status === 200 && (!list || list.status === 200)) {
      const now = performance.now();
      if (now >= startedAt && now <= endAt) done++;
      if (measured) {
        writes.push(wrote);
        writeStarts.push(began);
      }
      return object?.spec?.state;
    }
    if (patched.status !== 404 || !leaving) {
      failed++;
      firstFailure ||= `${patched.status}/${list?.status}: ${(patched.status !== 200 ? patched.text : (list?.text ?? '')).slice(0, 200)}`;
    }
    return undefined;
  };
  // Every member joins; then each agent gets its token, reports once (50 at a time) and from there
  // heartbeats every period. (Agents started as their members join would make the joins compete
  // with heartbeats, and the fleet of 10,000 take many minutes to assemble.)
  const tokens: string[] = new Array(n);
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
  const loops = Array.from({ length: n }, (_, i) => loop(i));
  await everyoneReported;
  // Two periods before the window: an agent's first heartbeat after a wait that long rewrites its
  // MemberCluster (the health sweep may have marked it Unknown meanwhile). Then until the queue
  // that start built is gone (less than a second's heartbeats in flight; at most ten periods):
  // what is measured is the steady state, and how long settling took is printed.
  const settleStart = performance.now();
  await sleep(2 * o.periodSeconds * 1000);
  while (inFlight > n / o.periodSeconds && performance.now() - settleStart < 10 * o.periodSeconds * 1000) await sleep(1000);
  const settled = (performance.now() - settleStart) / 1000;
  const beforeRequests = await o.tableRequests();
  const beforeLists = lists;
  const beforeSweep = await o.healthSweepRequests();
  const beforeCpu = await o.cpuMs();
  const beforeFunctionsCpu = await o.functionsCpuMs();
  const beforeLoops = (await o.loopActiveMs?.()) ?? {};
  const beforeOwnCpu = process.cpuUsage();
  // The bench's own event loop: a write's time includes how late this process saw its answer, so
  // the delay is printed beside it (10,000 request loops in one process are not free either).
  const clientDelay = monitorEventLoopDelay({ resolution: 10 });
  clientDelay.enable();
  startedAt = performance.now();
  endAt = startedAt + o.windowSeconds * 1000;
  await sleep(o.windowSeconds * 1000 + 50);
  const seconds = (performance.now() - startedAt) / 1000;
  const requests = (await o.tableRequests()) - beforeRequests;
  const windowLists = lists - beforeLists;
  const sweepRequests = (await o.healthSweepRequests()) - beforeSweep;
  const cores = ((await o.cpuMs()) - beforeCpu) / 1000 / seconds;
  const functionsMs = (await o.functionsCpuMs()) - beforeFunctionsCpu;
  const loopsAfter = (await o.loopActiveMs?.()) ?? {};
  const ownCpu = process.cpuUsage(beforeOwnCpu);
  // The writes begun in the window that are still out (at most a minute more).
  for (let waited = 0; measuring > 0 && waited < 60_000; waited += 100) await sleep(100);
  clientDelay.disable();
  const trace = process.env.BENCH_HEARTBEAT_TRACE ? slowWrites(writes, writeStarts) : [];
  writes.sort((a, b) => a - b);
  const offered = n / o.periodSeconds;
  const sustained = done / o.windowSeconds;
  const measured = [
    `member agents: ${n} agents, a heartbeat every ${o.periodSeconds} s (±5 %) for ${o.windowSeconds} s (joined to a hub fleet in ${fmt(joinSeconds)} s${failedFirst ? `; ${failedFirst} first reports tried again` : ''}; measured ${fmt(settled, 0)} s after every agent reported once)`,
    `  heartbeats/s:    ${fmt(sustained)} sustained of ${fmt(offered)} offered (${fmt((100 * sustained) / offered, 0)} %)${failed ? `, ${failed} failed (first: ${firstFailure})` : ''}`,
    `  status write:    p50 / p99 ${fmt(pct(writes, 50))} / ${fmt(pct(writes, 99))} ms of the ${writes.length} begun in the window (this process's event loop delay p99 ${fmt(clientDelay.percentile(99) / 1e6)} ms, max ${fmt(clientDelay.max / 1e6)} ms)`,
    `  storage:         ${fmt(requests / Math.max(1, done), 2)} Table Storage requests a heartbeat (status PATCH; Works LIST in ${windowLists} of them; MemberCluster copies): ${fmt(requests / seconds, 0)} a second beside Azurite's raw ${fmt(o.rawRate, 0)} upserts a second`,
    `  health sweep:    ${sweepRequests} Table Storage requests in the ${o.windowSeconds} s (${fmt(sweepRequests / Math.max(1, done), 3)} a heartbeat; not in the line above)`,
    `  CPU:             ${fmt(functionsMs / Math.max(1, done), 2)} ms of the function host a heartbeat; ${fmt(cores, 2)} cores of the whole stack (Azurite and the emulators too), ${fmt((ownCpu.user + ownCpu.system) / 1e6 / seconds, 2)} of this process (the agents)`,
    `  event loops busy: ${Object.keys(loopsAfter)
      .map((k) => `${k} ${fmt((100 * (loopsAfter[k] - (beforeLoops[k] ?? 0))) / 1000 / seconds, 0)} %`)
      .join(', ')}`,
  ];
  // Printed before the fleet is deleted, so that a delete that goes wrong does not lose them.
  process.stderr.write(`${[...measured, ...trace].join('\n')}\n`);
  // Deleting the fleet asks every member's agent to leave; the agents acknowledge within a period.
  leaving = true;
  const deleteStart = performance.now();
  const del = await o.call('DELETE', `${fleetUrl}?api-version=2025-03-01`);
  await o.waitFor(del.headers['azure-asyncoperation'] as string);
  const deleteSeconds = (performance.now() - deleteStart) / 1000;
  stopped = true;
  await Promise.all(loops);
  return [...measured, `  fleet delete:    ${fmt(deleteSeconds)} s, ${left} of ${n} agents acknowledged their Leave`].join('\n');
}

/** Writes slower than 500 ms by the second they started in (UTC hh:mm:ss), with the slowest of each second. */
function slowWrites(writes: number[], starts: number[]): string[] {
  const bySecond = new Map<number, { count: number; slowest: number }>();
  writes.forEach((ms, i) => {
    if (ms < 500) return;
    const second = Math.floor(starts[i] / 1000);
    const s = bySecond.get(second) ?? { count: 0, slowest: 0 };
    s.count++;
    s.slowest = Math.max(s.slowest, ms);
    bySecond.set(second, s);
  });
  return [
    `  slow writes:     ${[...bySecond.values()].reduce((a, s) => a + s.count, 0)} over 500 ms, by the second they started in:`,
    ...[...bySecond.entries()]
      .sort(([a], [b]) => a - b)
      .map(([second, s]) => `    ${new Date(second * 1000).toISOString().slice(11, 19)}  ${s.count} (slowest ${fmt(s.slowest, 0)} ms)`),
  ];
}
