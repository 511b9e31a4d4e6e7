// The member limit: 20 by default. A seed with 22 AKS clusters in the fleet's tenant.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { aks, fast, fleetClient, sub1 } from '../support/clients.js';
import { useStack } from '../support/stackProcess.js';

const stack = useStack(() => {
  const seed = JSON.parse(readFileSync('local/seed.json', 'utf8'));
  seed.managedClusters = Array.from({ length: 22 }, (_, i) => ({
    subscriptionId: sub1,
    resourceGroup: 'rg-many',
    name: `aks-${i + 1}`,
    location: i % 2 ? 'eastus' : 'westus2',
    identity: { type: 'SystemAssigned' },
  }));
  const path = join(mkdtempSync(join(tmpdir(), 'seed-')), 'seed.json');
  writeFileSync(path, JSON.stringify(seed));
  return { FLEET_LOCAL_SEED: path };
});

it('admits 20 members and refuses the 21st; a freed place can be taken again', async () => {
  const client = fleetClient(stack.env);
  await client.fleets.create('rg', 'big', { location: 'eastus' }, fast);
  const joins = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      client.fleetMembers.create('rg', 'big', `m-${i + 1}`, { properties: { clusterResourceId: aks(sub1, 'rg-many', `aks-${i + 1}`) } }, fast),
    ),
  );
  expect(joins.map((m) => m.properties?.provisioningState)).toEqual(Array(20).fill('Succeeded'));

  const refused = await client.fleetMembers
    .create('rg', 'big', 'm-21', { properties: { clusterResourceId: aks(sub1, 'rg-many', 'aks-21') } }, fast)
    .catch((e: Error) => e);
  expect(refused).toBeInstanceOf(Error);
  expect((refused as Error).message).toContain('MemberLimitReached');
  const m21 = await client.fleetMembers.get('rg', 'big', 'm-21');
  expect(m21.properties?.status?.lastOperationError?.message).toContain('at most 20');

  await client.fleetMembers.delete('rg', 'big', 'm-1', fast);
  const retried = await client.fleetMembers.create('rg', 'big', 'm-21', { properties: { clusterResourceId: aks(sub1, 'rg-many', 'aks-21') } }, fast);
  expect(retried.properties?.provisioningState).toBe('Succeeded');
});
