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
  // No member agents (their supervisor reads storage on its own clock).
  return { FLEET_LOCAL_SEED: path, FLEET_MEMBER_LIMIT: '5000', FLEET_LOCAL_AGENTS: '0' };
});

/** Table Storage requests so far, less the timers' (the sweeper and health sweep run on their own schedules, whatever joins). */
const tableRequests = async () => {
  const s = (await (await fetch(`${stack.env.ARM_ENDPOINT}/_local/stats`)).json()) as { tableRequests: number; timerTableRequests: Record<string, number> };
  return s.tableRequests - Object.values(s.timerTableRequests).reduce((a, b) => a + b, 0);
};

it('a join into a fleet of 2,000 members costs the storage requests of a join into a fleet of 2', async () => {
  const client = fleetClient(stack.env);
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

  // The official client polls the operation; each poll is one point read, counted apart.
  const cost = async (fleet: string, member: string, cluster: string) => {
    // Whatever the last join left running (a session let go at its idle timeout) is over first.
    await new Promise((r) => setTimeout(r, 1200));
    let polls = 0;
    const before = await tableRequests();
    const joined = await client.fleetMembers.create(
      'rg',
      fleet,
      member,
      { properties: { clusterResourceId: aks(sub1, 'rg-cost', cluster) } },
      {
        updateIntervalInMs: 50,
        onResponse: (r) => {
          if (r.request.method === 'GET') polls++;
        },
      },
    );
    expect(joined.properties?.provisioningState).toBe('Succeeded');
    return (await tableRequests()) - before - polls;
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
