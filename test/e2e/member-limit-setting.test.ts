// FLEET_MEMBER_LIMIT sets the limit. Its own file: MSAL keeps one managed-identity source per
// process, so one test process talks to one stack's identity endpoint.
import { expect, it } from 'vitest';
import { aks, fast, fleetClient, sub1 } from '../support/clients.js';
import { useStack } from '../support/stackProcess.js';

const stack = useStack({ FLEET_MEMBER_LIMIT: '1' });

it('takes the member limit from the FLEET_MEMBER_LIMIT setting', async () => {
  const client = fleetClient(stack.env);
  await client.fleets.create('rg', 'tiny', { location: 'eastus' }, fast);
  await client.fleetMembers.create('rg', 'tiny', 'a', { properties: { clusterResourceId: aks(sub1, 'rg-eastus', 'aks-eastus-1') } }, fast);
  const second = await client.fleetMembers
    .create('rg', 'tiny', 'b', { properties: { clusterResourceId: aks(sub1, 'rg-eastus', 'aks-eastus-2') } }, fast)
    .catch((e: Error) => e);
  expect(second).toBeInstanceOf(Error);
  expect((second as Error).message).toContain('at most 1');
});
