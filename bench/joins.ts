// `npm run bench`: member joins through the embedded stack, end to end.
// 1,000 members over 50 fleets, 100 concurrent clients; prints rates, latencies and the Table
// Storage requests and Service Bus messages each join costs, next to Azurite's raw upsert rate.
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { loadSeed } from '../local/arm/world.js';
import { ensureLocalTls } from '../local/certs.js';
import { defaultSeedPath } from '../local/stack.js';
import { runTrusting } from '../local/trust.js';
import { benchHeartbeats } from './heartbeats.js';
import { benchHub } from './hubLoad.js';
import { benchIdentityHealing } from './identityHealing.js';
import { benchNetworking } from './networking.js';
import { benchPlacements } from './placements.js';
import { benchScheduler } from './scheduler.js';
import { startBenchStack } from './stack.js';

const fleets = Number(process.env.BENCH_FLEETS ?? 50);
const members = Number(process.env.BENCH_MEMBERS ?? 1000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 100);
// Joins first made in fleets of their own and not measured: a running service has its code compiled
// and its connections and sessions open. After 200 joins V8's helper threads were still compiling
// through the measured run (a fifth of the stack's CPU); after 1,000 that work is nearly done (see
// the README's benchmark notes).
const warmup = Number(process.env.BENCH_WARMUP ?? 1000);
const warmFleets = Math.ceil(warmup / 20);
// Then one fleet taken from 0 to this many members through the API, and deleted (0 skips it).
const oneFleet = Number(process.env.BENCH_ONE_FLEET ?? 10000);
const thousand = Math.min(1000, Math.max(1, Math.floor(oneFleet / 10)));
// How often a client asks whether its join finished: the local Retry-After (1 s), which the official client honours.
const pollMs = Number(process.env.BENCH_POLL_MS ?? 1000);
const subs = ['00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002'];
// The hub: this many objects applied, read, patched and listed by 50 concurrent clients (0 skips it).
const hubObjects = Number(process.env.BENCH_HUB_OBJECTS ?? 2000);
const hubConcurrency = Number(process.env.BENCH_HUB_CONCURRENCY ?? 50);
// Member agents heartbeating to one hub, at these counts (0 or empty skips it), at the default period.
const agentCounts = (process.env.BENCH_AGENTS ?? '1000,10000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0);
const heartbeatSeconds = Number(process.env.BENCH_HEARTBEAT_SECONDS ?? 15);
const heartbeatWindow = Number(process.env.BENCH_HEARTBEAT_WINDOW ?? 60);
// The time from a cluster's identity change to its agent being accepted again, on each automatic path (0 skips it).
const identityHealing = process.env.BENCH_IDENTITY !== '0';
// Multi-cluster load balancing with the real agents (0 exporters skips it).
const networkingExporters = Number(process.env.BENCH_NET_EXPORTERS ?? 100);
const networkingImporters = Number(process.env.BENCH_NET_IMPORTERS ?? 10);
// Placements: apply → Applied on BENCH_PLACEMENT_APPLY_MEMBERS, one change → every Work of BENCH_PLACEMENT_MEMBERS (0 skips both).
const placementMembers = Number(process.env.BENCH_PLACEMENT_MEMBERS ?? 1000);
const placementApplyMembers = Number(process.env.BENCH_PLACEMENT_APPLY_MEMBERS ?? 200);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const fmt = (n: number, d = 1) => n.toFixed(d);

/** `width` clients working through `items`; with `rampMs`, client k starts at k/width of it (no synchronized herd). */
async function pool<T>(items: T[], width: number, work: (item: T) => Promise<void>, rampMs = 0) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async (_, k) => {
      if (rampMs) await new Promise((r) => setTimeout(r, (k * rampMs) / width));
      while (next < items.length) await work(items[next++]);
    }),
  );
}

const tls = ensureLocalTls(join(resolve(process.env.FLEET_LOCAL_DIR ?? '.fleet-local'), 'tls'));

await runTrusting(tls, async () => {
  console.log(benchScheduler());
  const seed = loadSeed(defaultSeedPath());
  const placementBase = members + warmup + Math.max(oneFleet, ...agentCounts, 0);
  seed.managedClusters = Array.from({ length: placementBase + (placementMembers ? placementMembers + placementApplyMembers : 0) }, (_, i) => ({
    subscriptionId: subs[i % 2],
    resourceGroup: `rg-bench-${i % 2}`,
    name: `aks-${i}`,
    location: i % 2 ? 'westeurope' : 'eastus',
    kubernetesVersion: '1.32.4',
    identity: { type: 'SystemAssigned' as const, principalId: undefined },
    access: 'granted' as const,
  }));
  const seedPath = join(mkdtempSync(join(tmpdir(), 'bench-')), 'seed.json');
  writeFileSync(seedPath, JSON.stringify(seed));
  // The stack runs as `npm start` does, in its own process; this one is only the clients.
  // BENCH_PROFILE=dir writes a V8 CPU profile of each of the stack's threads there (open in Chrome DevTools).
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${resolve(process.env.BENCH_PROFILE)}`] : [];
  const started = await startBenchStack(
    {
      FLEET_LOCAL_SEED: seedPath,
      FLEET_MEMBER_LIMIT: String(Math.max(20, oneFleet, placementMembers, ...agentCounts)),
      // The member agents are simulated by this process (bench/heartbeats.ts), not run by the stack.
      FLEET_LOCAL_AGENTS: '0',
      // The member-health sweep as deployed (once a minute; the stack's 5 s is for trying it out):
      // it lists every MemberCluster of every hub on each run.
      FLEET_MEMBER_HEALTH_SCHEDULE: '0 * * * * *',
    },
    profile,
  );
  const { clientEnv } = started;
  const stack = {
    clientEnv,
    /**
     * The stack's counters. tableRequests leaves out what the timer functions asked of storage (the
     * sweeper, the health sweep, the placement resync run on their own schedules, whatever is being
     * measured), so that a timer that happens to run during a measured window cannot move it.
     */
    stats: async () => {
      const raw = (await (await fetch(`${clientEnv.ARM_ENDPOINT}/_local/stats`)).json()) as {
        armRequests: number;
        tableRequests: number;
        timerTableRequests: Record<string, number>;
        serviceBus: { received: number; delivered: number };
        loopActiveMs: Record<string, number>;
        cpuMs: number;
        functionsCpuMs: number;
      };
      const byTimers = Object.values(raw.timerTableRequests).reduce((a, b) => a + b, 0);
      return { ...raw, tableRequests: raw.tableRequests - byTimers };
    },
  };
  const api = stack.clientEnv.FLEET_API;
  const tokenRes = await fetch(`${stack.clientEnv.IDENTITY_ENDPOINT}?resource=${encodeURIComponent(api)}&api-version=2019-08-01`, {
    headers: { 'X-IDENTITY-HEADER': stack.clientEnv.IDENTITY_HEADER },
  });
  const token = ((await tokenRes.json()) as { access_token: string }).access_token;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  // The clients share the machine's two cores with the stack, so they use node:https on kept-alive
  // connections, which costs them about half the CPU of fetch (real clients would not be here at all).
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(concurrency + 10, 512) });
  /** One request; resolves once the whole response is in. */
  const call = (method: string, url: string, body?: unknown, extra: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        url,
        { method, agent, headers: payload === undefined ? { ...headers, ...extra } : { ...headers, ...extra, 'content-length': Buffer.byteLength(payload) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  // Azurite's raw upsert rate at the same concurrency, from this process (as our functions reach it).
  const raw = TableClient.fromConnectionString(stack.clientEnv.TABLES_CONNECTION_STRING, 'benchraw', { allowInsecureConnection: true });
  await raw.createTable();
  const upserts = Array.from({ length: 2000 }, (_, i) => i);
  let t = performance.now();
  await pool(
    upserts,
    concurrency,
    async (i) => void (await raw.upsertEntity({ partitionKey: `p${i % 50}`, rowKey: `r${i}`, data: 'x'.repeat(400) }, 'Replace')),
  );
  const rawRate = upserts.length / ((performance.now() - t) / 1000);

  const fleetUrl = (f: number | string) => `${api}/subscriptions/${subs[0]}/resourceGroups/rg-bench/providers/Microsoft.ContainerService/fleets/fleet-${f}`;
  /** Polls an operation to its end; returns the polls made and how long it ran by the server's clock. */
  const waitFor = async (operationUrl: string) => {
    let polls = 0;
    for (;;) {
      polls++;
      const s = JSON.parse((await call('GET', operationUrl)).text) as { status: string; startTime: string; endTime?: string; error?: { message: string } };
      if (s.status === 'Succeeded') return { polls, ranMs: Date.parse(s.endTime!) - Date.parse(s.startTime), endTime: s.endTime! };
      if (s.status !== 'InProgress') throw new Error(`operation ${s.status}: ${s.error?.message}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  };
  const allFleets = [...Array.from({ length: fleets }, (_, f) => String(f)), ...Array.from({ length: warmFleets }, (_, f) => `warm-${f}`)];
  await pool(allFleets, 10, async (f) => {
    const res = await call('PUT', `${fleetUrl(f)}?api-version=2025-03-01`, { location: 'eastus' });
    await waitFor(res.headers['azure-asyncoperation'] as string);
  });

  // Each client opens its connection first (a TLS handshake per client), as a long-lived client would have.
  await pool(
    Array.from({ length: concurrency }, (_, i) => i),
    concurrency,
    async (i) => void (await call('GET', `${fleetUrl(i % fleets)}?api-version=2025-03-01`)),
  );
  let putMs: number[] = [];
  let joinMs: number[] = [];
  let seenMs: number[] = [];
  let polls = 0;
  /** Joins clusters [from, from + count) to `fleetOf(i)`; client k starts at k/width of a poll interval, as independent clients would. */
  const joinAll = (from: number, count: number, fleetOf: (i: number) => string, record: boolean) =>
    pool(
      Array.from({ length: count }, (_, i) => from + i),
      concurrency,
      async (i) => {
        const start = performance.now();
        const clusterResourceId = `/subscriptions/${subs[i % 2]}/resourceGroups/rg-bench-${i % 2}/providers/Microsoft.ContainerService/managedClusters/aks-${i}`;
        const res = await call('PUT', `${fleetUrl(fleetOf(i))}/members/m-${i}?api-version=2025-03-01`, { properties: { clusterResourceId } });
        const took = performance.now() - start;
        if (res.status !== 201) throw new Error(`PUT answered ${res.status}: ${res.text}`);
        const { polls: n, ranMs } = await waitFor(res.headers['azure-asyncoperation'] as string);
        if (!record) return;
        putMs.push(took);
        polls += n;
        joinMs.push(ranMs);
        seenMs.push(performance.now() - start);
      },
      pollMs,
    );
  await joinAll(members, warmup, (i) => `warm-${(i - members) % warmFleets}`, false);

  const before = await stack.stats();
  const clientCpu = process.cpuUsage();
  t = performance.now();
  await joinAll(0, members, (i) => String(i % fleets), true);
  const seconds = (performance.now() - t) / 1000;
  const { user, system } = process.cpuUsage(clientCpu);
  // The threads publish their loop time every 100 ms: wait for a reading that covers the run.
  await new Promise((r) => setTimeout(r, 150));
  const after = await stack.stats();
  const tableRequests = after.tableRequests - before.tableRequests;
  putMs.sort((a, b) => a - b);
  joinMs.sort((a, b) => a - b);
  seenMs.sort((a, b) => a - b);
  const perJoin = (tableRequests - polls) / members;

  const lines = [
    `members joined:                 ${members} over ${fleets} fleets, ${concurrency} concurrent clients (started over ${pollMs} ms), polling every ${pollMs} ms, after ${warmup} joins to warm up`,
    `joins per second (PUT→Succeeded): ${fmt(members / seconds)}`,
    `PUT latency p50 / p99:           ${fmt(pct(putMs, 50))} ms / ${fmt(pct(putMs, 99))} ms`,
    `join latency p50 / p99:          ${fmt(pct(joinMs, 50))} ms / ${fmt(pct(joinMs, 99))} ms (operation start to end, server clock)`,
    `client saw Succeeded, p50 / p99: ${fmt(pct(seenMs, 50))} ms / ${fmt(pct(seenMs, 99))} ms (bound by the ${pollMs} ms poll interval)`,
    `Table Storage requests per join: ${fmt(perJoin, 2)} (accept: 1 point read + 1 transaction; worker: fleet and counts (1 range of 2 rows) + member + claim + 1 transaction, shared by the joins of a batch; status polls excluded: ${polls}, 1 point read each)`,
    `Service Bus messages per join:   ${fmt((after.serviceBus.received - before.serviceBus.received) / members, 2)} sent, ${fmt((after.serviceBus.delivered - before.serviceBus.delivered) / members, 2)} delivered`,
    `ARM requests per join:           ${fmt((after.armRequests - before.armRequests) / members, 2)} (the cluster; a subscription's tenant is remembered for 5 minutes)`,
    `Azurite raw upserts per second:  ${fmt(rawRate)} (${concurrency} concurrent; one join costs ${fmt(perJoin, 1)} requests, so the storage-bound ceiling is ~${fmt(rawRate / perJoin)} joins/s)`,
    `CPU used, in cores of ${availableParallelism()}:         stack ${fmt((after.cpuMs - before.cpuMs) / 1000 / seconds, 2)}, the ${concurrency} clients ${fmt((user + system) / 1e6 / seconds, 2)}`,
    `event loops busy:                 ${Object.keys(after.loopActiveMs)
      .map((k) => `${k} ${fmt((100 * (after.loopActiveMs[k] - before.loopActiveMs[k])) / 1000 / seconds, 0)} %`)
      .join(', ')}`,
  ];
  console.log(lines.join('\n'));

  if (hubObjects > 0) {
    const hubLines = await benchHub({
      api,
      subscriptionId: subs[0],
      objects: hubObjects,
      concurrency: hubConcurrency,
      call,
      waitFor,
      tableRequests: async () => (await stack.stats()).tableRequests,
      pool: (items, width, work) => pool(items, width, work),
      rawRate,
    });
    console.log(hubLines.join('\n'));
  }

  if (oneFleet > 0) {
    // One fleet from 0 to `oneFleet` members, a thousand at a time (each thousand a closed loop of
    // the same clients), so the first and the last thousand can be compared.
    const res = await call('PUT', `${fleetUrl('one')}?api-version=2025-03-01`, { location: 'eastus' });
    await waitFor(res.headers['azure-asyncoperation'] as string);
    const base = members + warmup;
    const rounds: { rate: number; put: number[]; join: number[]; perJoin: number }[] = [];
    const started = performance.now();
    for (let from = 0; from < oneFleet; from += thousand) {
      const count = Math.min(thousand, oneFleet - from);
      [putMs, joinMs, seenMs, polls] = [[], [], [], 0];
      const b = await stack.stats();
      const t0 = performance.now();
      await joinAll(base + from, count, () => 'one', true);
      const secs = (performance.now() - t0) / 1000;
      const a = await stack.stats();
      rounds.push({
        rate: count / secs,
        put: putMs.sort((x, y) => x - y),
        join: joinMs.sort((x, y) => x - y),
        perJoin: (a.tableRequests - b.tableRequests - polls) / count,
      });
    }
    const built = (performance.now() - started) / 1000;
    const del = await call('DELETE', `${fleetUrl('one')}?api-version=2025-03-01`);
    if (del.status !== 202) throw new Error(`DELETE answered ${del.status}: ${del.text}`);
    const deleted = await waitFor(del.headers['azure-asyncoperation'] as string);
    const [first, last] = [rounds[0], rounds.at(-1)!];
    const row = (name: string, r: (typeof rounds)[number]) =>
      `${name} ${fmt(r.rate)} joins/s, join p50 / p99 ${fmt(pct(r.join, 50), 0)} / ${fmt(pct(r.join, 99), 0)} ms, PUT p50 / p99 ${fmt(pct(r.put, 50))} / ${fmt(pct(r.put, 99))} ms, ${fmt(r.perJoin, 2)} storage requests a join`;
    console.log(
      [
        `one fleet, 0 to ${oneFleet} members: ${thousand} joins at a time, ${concurrency} concurrent clients`,
        row(`  first ${thousand}:`.padEnd(20), first),
        row(`  last ${thousand}:`.padEnd(20), last),
        `  last / first:     ${fmt(last.rate / first.rate, 2)} of the rate (aim: at least 0.80), ${fmt(last.perJoin / first.perJoin, 2)} of the storage requests (aim: 1.00)`,
        `  built in:         ${fmt(built)} s (aim: under 300 s)`,
        `  fleet delete at ${oneFleet}: ${fmt(deleted.ranMs / 1000, 2)} s (operation start to end, server clock)`,
      ].join('\n'),
    );
  }

  const base = members + warmup;
  const clusterId = (i: number) =>
    `/subscriptions/${subs[i % 2]}/resourceGroups/rg-bench-${i % 2}/providers/Microsoft.ContainerService/managedClusters/aks-${i}`;
  /** A token for a cluster's identity, as its agent gets one (the identity endpoint with mi_res_id). */
  const clusterToken = async (c: string) => {
    const r = await fetch(`${clientEnv.IDENTITY_ENDPOINT}?resource=${encodeURIComponent(api)}&api-version=2019-08-01&mi_res_id=${encodeURIComponent(c)}`, {
      headers: { 'X-IDENTITY-HEADER': clientEnv.IDENTITY_HEADER },
    });
    return ((await r.json()) as { access_token: string }).access_token;
  };
  for (const n of agentCounts) {
    console.log(
      await benchHeartbeats({
        api,
        subscriptionId: subs[0],
        clusters: Array.from({ length: n }, (_, k) => clusterId(base + k)),
        periodSeconds: heartbeatSeconds,
        windowSeconds: heartbeatWindow,
        call,
        waitFor,
        pool: (items, width, work) => pool(items, width, work),
        tableRequests: async () => (await stack.stats()).tableRequests,
        healthSweepRequests: async () => (await stack.stats()).timerTableRequests['member-health'] ?? 0,
        cpuMs: async () => (await stack.stats()).cpuMs,
        functionsCpuMs: async () => (await stack.stats()).functionsCpuMs,
        loopActiveMs: async () => (await stack.stats()).loopActiveMs,
        rawRate,
        tokenFor: clusterToken,
        joinConcurrency: concurrency,
      }),
    );
  }

  if (placementMembers)
    console.log(
      await benchPlacements({
        api,
        subscriptionId: subs[0],
        clusters: Array.from({ length: placementApplyMembers + placementMembers }, (_, k) => clusterId(placementBase + k)),
        applyMembers: placementApplyMembers,
        fanOut: placementMembers,
        rawRate,
        periodSeconds: heartbeatSeconds,
        call,
        waitFor,
        pool: (items, width, work) => pool(items, width, work),
        tableRequests: async () => (await stack.stats()).tableRequests,
        tokenFor: clusterToken,
        joinConcurrency: concurrency,
        clientEnv,
      }),
    );

  await started.stop();
  if (identityHealing) console.log(await benchIdentityHealing());
  if (networkingExporters)
    console.log(
      await benchNetworking({
        exporters: networkingExporters,
        importers: networkingImporters,
        pods: Number(process.env.BENCH_NET_PODS ?? 10),
        changes: Number(process.env.BENCH_NET_CHANGES ?? 20),
        quietSeconds: Number(process.env.BENCH_NET_QUIET ?? 30),
      }),
    );
  process.exit(0);
});
