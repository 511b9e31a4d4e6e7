// A join must cost the same whatever the size of its fleet: the worker reads the fleet, its counts
// and the joining member, never every member. Two fleets, one of 2 members and one of 2,000 (rows
// written straight into the stack's Table Storage, as 2,000 joins through the API would leave them),
// and one more join into each through the official client, its storage requests counted.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient } from '@azure/data-tables';
import { expect, it } from 'vitest';
import { fleetPartitionKey } from '../../shared/azure/tableStore.js';
import { aks, fast, fleetClient, sub1 } from '../support/clients.js';
import { useStack } from '../support/stackProcess.js';

const stack = useStack(() => {
  const seed = JSON.parse(readFileSync('local/seed.json', 'utf8'));
  seed.managedClusters = Array.from({ length: 8 }, (_, i) => ({
    subscriptionId: sub1,
    resourceGroup: 'rg-cost',
    name: `aks-${i}`,
    location: 'eastus',
    identity: { type: 'SystemAssigned' },
  }));
  const path = join(mkdtempSync(join(tmpdir(), 'seed-')), 'seed.json');
  writeFileSync(path, JSON.stringify(seed));
  // No member agents (their supervisor reads storage on its own clock), and no timers: their runs
  // read storage whenever the minute turns, and the host reports how many requests they made only
  // every 100 ms, so subtracting them left a join's count off by a sweep's now and then (CI saw 6
  // and 10 for the same join). The 30th of February never comes.
  const never = '0 0 0 30 2 *';
  return {
    FLEET_LOCAL_SEED: path,
    FLEET_MEMBER_LIMIT: '5000',
    FLEET_LOCAL_AGENTS: '0',
    FLEET_SWEEP_SCHEDULE: never,
    FLEET_MEMBER_HEALTH_SCHEDULE: never,
    FLEET_PLACEMENT_RESYNC_SCHEDULE: never,
  };
});

/** Table Storage requests so far (nothing but the joins and the client's reads makes any here). */
const tableRequests = async () => ((await (await fetch(`${stack.env.ARM_ENDPOINT}/_local/stats`)).json()) as { tableRequests: number }).tableRequests;

it('a join into a fleet of 2,000 members costs the storage requests of a join into a fleet of 2', async () => {
  // The official client polls a join's operation status until it ends, as often as the worker's
  // speed that moment asks; each poll is one point read, so the polls are counted (the operation's
  // own options see only the PUT) and left out. The final GET of the member is the same in both.
  let polls = 0;
  const client = fleetClient(stack.env, undefined, {
    additionalPolicies: [
      {
        position: 'perCall',
        policy: {
          name: 'countOperationPolls',
          sendRequest: (request, next) => {
            if (request.method === 'GET' && /\/operationStatuses\//i.test(new URL(request.url).pathname)) polls++;
            return next(request);
          },
        },
      },
    ],
  });
  await client.fleets.create('rg', 'small', { location: 'eastus' }, fast);
  const big = await client.fleets.create('rg', 'big', { location: 'eastus' }, fast);
  for (const i of [0, 1])
    await client.fleetMembers.create('rg', 'small', `m-${i}`, { properties: { clusterResourceId: aks(sub1, 'rg-cost', `aks-${i}`) } }, fast);

  // 2,000 joined members of 'big', as the worker records them, and its counts.
  const fleets = TableClient.fromConnectionString(stack.env.TABLES_CONNECTION_STRING, 'fleets', { allowInsecureConnection: true });
  const ref = { subscriptionId: sub1, resourceGroup: 'rg', fleetName: 'big' };
  const pk = fleetPartitionKey(ref);
  const at = new Date().toISOString();
  const system = { createdBy: 'test', createdByType: 'User', createdAt: at, lastModifiedBy: 'test', lastModifiedByType: 'User', lastModifiedAt: at };
  for (let chunk = 0; chunk < 20; chunk++) {
    await fleets.submitTransaction(
      Array.from({ length: 100 }, (_, j) => {
        const name = `seeded-${chunk * 100 + j}`;
        const member = {
          ref: { ...ref, memberName: name },
          clusterResourceId: aks(sub1, 'rg-elsewhere', name),
          labels: {},
          provisioningState: 'Succeeded',
          joined: { principalId: name, identityType: 'SystemAssigned', location: 'eastus', tenantId: 't', joinedAt: at, identityObservedAt: at },
          eTag: `"${name}"`,
          systemData: system,
        };
        return ['create', { partitionKey: pk, rowKey: `member:${name}`, kind: 'member', data: JSON.stringify(member) }] as const;
      }),
    );
  }
  const counts = await fleets.getEntity<{ data: string }>(pk, 'fleet:counts');
  await fleets.updateEntity({ partitionKey: pk, rowKey: 'fleet:counts', kind: 'counts', data: JSON.stringify({ joined: 2000 }) }, 'Replace', {
    etag: counts.etag,
  });
  expect(big.properties?.provisioningState).toBe('Succeeded');

  const cost = async (fleet: string, member: string, cluster: string) => {
    // Whatever the last join left running (a session let go at its idle timeout) is over first.
    await new Promise((r) => setTimeout(r, 1200));
    const [before, pollsBefore] = [await tableRequests(), polls];
    const joined = await client.fleetMembers.create('rg', fleet, member, { properties: { clusterResourceId: aks(sub1, 'rg-cost', cluster) } }, fast);
    expect(joined.properties?.provisioningState).toBe('Succeeded');
    return (await tableRequests()) - before - (polls - pollsBefore);
  };
  // Three joins into each; the least each cost (a command delivered again when its session is let go
  // at the idle timeout, or a status poll more, adds a request now and then).
  const small: number[] = [];
  const large: number[] = [];
  for (const i of [2, 3, 4]) small.push(await cost('small', `m-${i}`, `aks-${i}`));
  for (const i of [5, 6, 7]) large.push(await cost('big', `m-${i}`, `aks-${i}`));
  expect(Math.min(...small)).toBeGreaterThan(0);
  expect(Math.min(...large)).toBe(Math.min(...small));
  let listed = 0;
  for await (const _ of client.fleetMembers.listByFleet('rg', 'big')) listed++;
  expect(listed).toBe(2003);
});
