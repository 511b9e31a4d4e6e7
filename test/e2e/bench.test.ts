// The benchmark, small: it must keep running, and a join must keep costing what the README says.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

it('a join costs at most 6 Table Storage requests, 1 Service Bus message and 1 ARM read, in a fleet of any size; a heartbeat about 1', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['dist/bench/joins.js'], {
    env: {
      ...process.env,
      BENCH_MEMBERS: '60',
      BENCH_FLEETS: '3',
      BENCH_CONCURRENCY: '6',
      BENCH_POLL_MS: '100',
      BENCH_WARMUP: '20',
      BENCH_ONE_FLEET: '200',
      BENCH_HUB_OBJECTS: '100',
      BENCH_HUB_CONCURRENCY: '10',
      BENCH_AGENTS: '20',
      BENCH_NET_EXPORTERS: '2',
      BENCH_NET_IMPORTERS: '1',
      BENCH_NET_PODS: '2',
      BENCH_NET_CHANGES: '4',
      BENCH_NET_QUIET: '5',
      BENCH_HEARTBEAT_SECONDS: '2',
      BENCH_HEARTBEAT_WINDOW: '8',
      // The identity-change timings start stacks of their own at the default period; the e2e tests time them too.
      BENCH_IDENTITY: '0',
      BENCH_PLACEMENT_MEMBERS: '20',
      BENCH_PLACEMENT_APPLY_MEMBERS: '5',
      BENCH_SCHEDULER_MEMBERS: '500',
      FLEET_LOCAL_DIR: process.env.FLEET_TEST_DIR,
    },
    timeout: 260_000,
  });
  expect(stdout).toContain('members joined:                 60 over 3 fleets');
  expect(stdout).toContain('after 20 joins to warm up');
  expect(stdout).toMatch(/joins per second \(PUT→Succeeded\): \d+\.\d/);
  expect(stdout).toMatch(/PUT latency p50 \/ p99: +\d+\.\d ms \/ \d+\.\d ms/);
  // 6 for a join converged alone, fewer when the worker converges several of a fleet's at once (see
  // docs/benchmarks.md); a redelivered command (a session given back at its idle timeout) reads again.
  const perJoin = Number(/Table Storage requests per join: (\d+\.\d+)/.exec(stdout)![1]);
  expect(perJoin).toBeGreaterThanOrEqual(3.5);
  expect(perJoin).toBeLessThanOrEqual(6.3);
  expect(stdout).toMatch(/Service Bus messages per join: +1\.00 sent/);
  // The cluster; a subscription's tenant is read once (two subscriptions here) and remembered.
  const armPerJoin = Number(/ARM requests per join: +(\d+\.\d+)/.exec(stdout)![1]);
  expect(armPerJoin).toBeGreaterThanOrEqual(1);
  expect(armPerJoin).toBeLessThanOrEqual(1.04);
  expect(stdout).toMatch(/event loops busy: +functions \(Service Bus, timers\) \d+ %, functions \(HTTP\) \d+ %, Azurite \d+ %/);
  // One fleet from 0 to 200 members: the last twentieth costs no more than a join alone does, as
  // the first. (How many of 20 joins the worker takes as one batch depends on the machine's speed
  // that minute — CI saw 4.9 then 5.8 — so the two are held to a join's bounds, not to each other;
  // test/e2e/join-cost.test.ts compares fleets of 2 and 2,000 join by join.)
  expect(stdout).toContain('one fleet, 0 to 200 members: 20 joins at a time');
  const [first, last] = [...stdout.matchAll(/(\d+\.\d+) storage requests a join/g)].map((m) => Number(m[1]));
  for (const round of [first, last]) {
    expect(round).toBeGreaterThanOrEqual(3.5);
    expect(round).toBeLessThanOrEqual(6.3);
  }
  expect(stdout).toMatch(/fleet delete at 200: \d+\.\d+ s/);
  // The hub: a write is a point read and one conditional write (a new object also checks its
  // namespace), whatever the hub holds; a get is one point read.
  expect(stdout).toContain("hub (one fleet's Kubernetes API): 100 ConfigMaps over 10 namespaces, 10 concurrent clients");
  const hub = (name: string) =>
    Number(
      new RegExp(`${name.replace(/[()]/g, '\\$&')} +\\d+\\.\\d requests/s, p50 / p99 +\\d+\\.\\d / +\\d+\\.\\d ms, (\\d+\\.\\d+) storage requests each`).exec(
        stdout,
      )![1],
    );
  expect(hub('apply (server-side), changed')).toBeLessThanOrEqual(2.1);
  expect(hub('merge patch (a label)')).toBeLessThanOrEqual(2.1);
  expect(hub('get')).toBeLessThanOrEqual(1.05);
  expect(hub('apply (server-side), new')).toBeLessThanOrEqual(3.1);
  // Member agents: an unchanged heartbeat (the status write; no Works list, no MemberCluster copy)
  // costs what docs/design.md says, and a small hub keeps up with what is offered.
  expect(stdout).toContain('member agents: 20 agents, a heartbeat every 2 s');
  const [, sustained, offered] = /heartbeats\/s: +(\d+\.\d) sustained of (\d+\.\d) offered/.exec(stdout)!.map(Number);
  expect(sustained).toBeGreaterThanOrEqual(0.8 * offered);
  const perHeartbeat = Number(/storage: +(\d+\.\d+) Table Storage requests a heartbeat/.exec(stdout)![1]);
  // The InternalMemberCluster's write alone; the agent's identity is read from storage about once a
  // minute, and a write that finds the object changed since is done again from a read (docs/design.md).
  expect(perHeartbeat).toBeGreaterThanOrEqual(0.95);
  expect(perHeartbeat).toBeLessThanOrEqual(1.3);
  expect(stdout).toMatch(/Works LIST in 0 of them/);
  expect(stdout).not.toMatch(/failed \(first:/);
  // Placements: the scheduler's numbers, a placement applied on every member, and a change reaching every Work.
  expect(stdout).toMatch(/PickN 100, spread over 6 regions, affinity \+ property sorter: +median \d+\.\d ms/);
  expect(stdout).toMatch(/apply → Applied: +\d+\.\d s/);
  expect(stdout).toMatch(/one change → Works: 20 of 20 members' Works updated, p50 \/ p99 \/ max \d+ \/ \d+ \/ \d+ ms/);
  // Multi-cluster load balancing with the real agents: every change reached the importer.
  expect(stdout).toContain('multi-cluster load balancing: 2 exporting members × 2 pods, 1 importing members');
  expect(stdout).toMatch(/endpoint → importers: p50 \/ p99 \/ max \d+ \/ \d+ \/ \d+ ms over 4 changes/);
  expect(stdout).toMatch(/steady: +\d+\.\d requests a second on the hub's table with nothing changing: 1 of them/);
  const perMember = Number(/(\d+\.\d+) Table Storage requests a member for that rollout/.exec(stdout)![1]);
  expect(perMember).toBeGreaterThan(0);
}, 280_000);
