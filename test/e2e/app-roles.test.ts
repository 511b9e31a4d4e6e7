// Authorization by app roles: the local identity holds Fleet.Read and Fleet.Write (local/seed.json);
// this stack asks writers for Fleet.Admin.
import { expect, it } from 'vitest';
import { arm, fleetClient, fleetPath } from '../support/clients.js';
import { useStack } from '../support/stackProcess.js';

const stack = useStack({ FLEET_AUTH_READ_ROLES: 'Fleet.Read', FLEET_AUTH_WRITE_ROLES: 'Fleet.Admin' });

it('refuses a write without a write role with 403, and lets the reader read', async () => {
  const client = fleetClient(stack.env);
  await expect(client.fleets.create('rg', 'guarded', { location: 'eastus' })).rejects.toMatchObject({
    statusCode: 403,
    code: 'AuthorizationFailed',
    message: expect.stringContaining("'Fleet.Admin'"),
  });
  const del = await arm(stack.env, 'DELETE', fleetPath('rg', 'guarded'));
  expect(del.status).toBe(403);
  // Reading is allowed, and shows nothing was created.
  await expect(client.fleets.get('rg', 'guarded')).rejects.toMatchObject({ statusCode: 404 });
  const names: string[] = [];
  for await (const f of client.fleets.listBySubscription()) names.push(f.name!);
  expect(names).toEqual([]);
});
