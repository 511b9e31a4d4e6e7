// Every input ARM accepts is stored; every other input is refused with a 4xx ARM error, never a 500,
// and leaves nothing behind. Through the local host's HTTP entry point, as a client sends it.
import { request } from 'node:https';
import { beforeAll, describe, expect, it } from 'vitest';
import { arm, eastus1, eastus2, fast, fleetClient, fleetPath, tokenFor } from '../support/clients.js';
import { useStack } from '../support/stackProcess.js';

const stack = useStack({ FLEET_PAGE_SIZE: '2' });
let client: ReturnType<typeof fleetClient>;
beforeAll(async () => {
  client = fleetClient(stack.env);
  await client.fleets.create('rg-in', 'ready', { location: 'eastus' }, fast);
});

const gone = async (path: string) => expect((await arm(stack.env, 'GET', path)).status).toBe(404);
const memberPath = (fleet: string, member: string) => `${fleetPath('rg-in', fleet)}/members/${member}`;

/** A request exactly as given: method, raw target, headers (Host included), body. */
function raw(method: string, target: string, headers: Record<string, string>, body?: string) {
  const url = new URL(stack.env.FLEET_API);
  return new Promise<{ status: number; body: { error?: { code: string; message: string } } }>((resolve, reject) => {
    // The certificate is still checked against the local CA; its name is checked against the URL's
    // host, not against the Host header this sends.
    const checkServerIdentity = () => undefined;
    const req = request({ host: url.hostname, port: url.port, method, path: target, headers, checkServerIdentity }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : {} }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('inputs at ARM limits are stored', () => {
  it('keeps 50 tags of 512-character names and 256-character values', async () => {
    const tags = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${String(i).padStart(2, '0')}${'k'.repeat(510)}`, 'v'.repeat(256)]));
    const created = await client.fleets.create('rg-in', 'tagged', { location: 'eastus', tags }, fast);
    expect(created.properties?.provisioningState).toBe('Succeeded');
    expect((await client.fleets.get('rg-in', 'tagged')).tags).toEqual(tags);
    const fiftyOne = { ...tags, extra: 'x' };
    const refused = await arm(stack.env, 'PATCH', fleetPath('rg-in', 'tagged'), { body: { tags: fiftyOne } });
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'InvalidRequestContent', message: expect.stringContaining('at most 50 tags') } } });
    expect((await client.fleets.get('rg-in', 'tagged')).tags).toEqual(tags);
  });

  it('serves a fleet in a resource group with a Unicode name', async () => {
    const created = await client.fleets.create('équipe-café', 'unicode', { location: 'eastus' }, fast);
    expect(created.id).toBe(fleetPath('équipe-café', 'unicode'));
    await client.fleetMembers.create('équipe-café', 'unicode', 'm', { properties: { clusterResourceId: eastus2 } }, fast);
    const names: string[] = [];
    for await (const f of client.fleets.listByResourceGroup('équipe-café')) names.push(f.name!);
    expect(names).toEqual(['unicode']);
    await client.fleets.delete('équipe-café', 'unicode', fast);
  });

  it('keeps 100 labels with long keys and values (2025-04-01-preview)', async () => {
    const prefix = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}`;
    const labels = Object.fromEntries(
      Array.from({ length: 100 }, (_, i) => [`${prefix}/${String(i).padStart(3, '0')}${'n'.repeat(60)}`, `${'v'.repeat(60)}${i}`.slice(0, 63)]),
    );
    const put = await arm(stack.env, 'PUT', memberPath('ready', 'labelled'), {
      body: { properties: { clusterResourceId: eastus1, labels } },
      apiVersion: '2025-04-01-preview',
    });
    expect(put.status).toBe(201);
    const got = await arm(stack.env, 'GET', memberPath('ready', 'labelled'), { apiVersion: '2025-04-01-preview' });
    expect(got.body.properties.labels).toEqual(labels);
  });
});

describe('bad input is refused and stores nothing', () => {
  it('refuses a cluster id that is too long or names no cluster', async () => {
    const long = `${eastus1.slice(0, eastus1.lastIndexOf('/') + 1)}${'x'.repeat(70_000)}`;
    for (const clusterResourceId of [long, eastus1.replace('aks-eastus-1', '..'), eastus1.replace('aks-eastus-1', '.'), `${eastus1}/extra`]) {
      const res = await arm(stack.env, 'PUT', memberPath('ready', 'bad-id'), { body: { properties: { clusterResourceId } } });
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'InvalidMemberClusterResourceId', target: 'properties.clusterResourceId' } } });
      expect(res.body.error.message.length).toBeLessThan(1000);
    }
    await gone(memberPath('ready', 'bad-id'));
  });

  it('answers a $skipToken it did not hand out with 400 on every list', async () => {
    const lists = [
      '/subscriptions/00000000-0000-0000-0000-000000000001/providers/Microsoft.ContainerService/fleets',
      fleetPath('rg-in', '').slice(0, -1),
      `${fleetPath('rg-in', 'ready')}/members`,
    ];
    for (const list of lists) {
      for (const token of ['garbage!', 'eyJub3QiOiJhIHRva2VuIn0=', Buffer.from('{"nextPartitionKey":').toString('base64')]) {
        const res = await arm(stack.env, 'GET', `${list}?$skipToken=${encodeURIComponent(token)}`);
        expect(res, `${list} with ${token}`).toMatchObject({ status: 400, body: { error: { code: 'InvalidSkipToken', target: '$skipToken' } } });
      }
    }
    // The nextLink a page hands out still works.
    await client.fleets.create('rg-in', 'second', { location: 'eastus' }, fast);
    const names: string[] = [];
    for await (const f of client.fleets.listByResourceGroup('rg-in')) names.push(f.name!);
    expect(names.length).toBeGreaterThanOrEqual(3);
  });

  it('refuses a body over 1 MiB with 413', async () => {
    const path = fleetPath('rg-in', 'huge');
    const res = await arm(stack.env, 'PUT', path, { rawBody: JSON.stringify({ location: 'eastus', tags: { a: 'x'.repeat(1_100_000) } }) });
    expect(res).toMatchObject({ status: 413, body: { error: { code: 'RequestEntityTooLarge' } } });
    await gone(path);
  });

  it('answers a 5 MB body with 413, every time (the client reads the answer, not EPIPE)', async () => {
    const path = `${fleetPath('rg-in', 'huger')}?api-version=2025-03-01`;
    const token = await tokenFor(stack.env, stack.env.FLEET_API);
    const body = JSON.stringify({ location: 'eastus', tags: { a: 'x'.repeat(5_000_000) } });
    const headers = { host: new URL(stack.env.FLEET_API).host, authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    for (let i = 0; i < 5; i++) {
      expect(await raw('PUT', path, headers, body)).toMatchObject({ status: 413, body: { error: { code: 'RequestEntityTooLarge' } } });
    }
    await gone(fleetPath('rg-in', 'huger'));
  });

  it('refuses a write that is not application/json with 415', async () => {
    const path = fleetPath('rg-in', 'typed');
    for (const [type, body] of [
      ['text/plain', '{"location":"eastus"}'],
      ['application/x-www-form-urlencoded', 'location=eastus'],
      ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="location"\r\n\r\neastus\r\n--x--'],
    ]) {
      const res = await arm(stack.env, 'PUT', path, { rawBody: body, headers: { 'content-type': type } });
      expect(res, type).toMatchObject({ status: 415, body: { error: { code: 'UnsupportedMediaType' } } });
    }
    await gone(path);
    expect((await arm(stack.env, 'PUT', path, { body: { location: 'eastus' }, headers: { 'content-type': 'application/json; charset=utf-8' } })).status).toBe(
      201,
    );
  });

  it('refuses a repeated api-version', async () => {
    const path = fleetPath('rg-in', 'twice');
    const res = await arm(stack.env, 'PUT', `${path}?api-version=2025-03-01&api-version=garbage`, { body: { location: 'eastus' }, apiVersion: null });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'InvalidApiVersionParameter', message: expect.stringContaining('2 times') } } });
    await gone(path);
  });

  it('refuses malformed paths and Host headers in the host, before any function runs', async () => {
    const token = await tokenFor(stack.env, stack.env.FLEET_API);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', host: new URL(stack.env.FLEET_API).host };
    const q = '?api-version=2025-03-01';
    const base = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-in/providers/Microsoft.ContainerService/fleets';
    const body = JSON.stringify({ properties: { clusterResourceId: eastus2 } });
    for (const target of [
      `${base}/%${q}`,
      `${base}/ready%zz${q}`,
      `${base}/ready/members/..${q}`,
      `${base}/ready/members/%2e%2e${q}`,
      `${base}/ready/members/.${q}`,
    ]) {
      const res = await raw('PUT', target, headers, body);
      expect(res, target).toMatchObject({ status: 400, body: { error: { code: 'BadRequest' } } });
    }
    // '..' would otherwise have folded the member path into the fleet's.
    expect((await client.fleets.get('rg-in', 'ready')).properties?.provisioningState).toBe('Succeeded');
    const members: string[] = [];
    for await (const m of client.fleetMembers.listByFleet('rg-in', 'ready')) members.push(m.properties!.clusterResourceId!);
    expect(members).not.toContain(eastus2);
    const badHost = await raw('GET', `${base}/ready${q}`, { ...headers, host: 'bad host[:x' });
    expect(badHost).toMatchObject({ status: 400, body: { error: { code: 'BadRequest' } } });
  });
});

describe('what the REST spec has that was missing', () => {
  it('lists the provider operations (operations.list)', async () => {
    const names: string[] = [];
    for await (const op of client.operations.list()) names.push(op.name!);
    expect(names).toEqual(
      expect.arrayContaining([
        'Microsoft.ContainerService/fleets/read',
        'Microsoft.ContainerService/fleets/write',
        'Microsoft.ContainerService/fleets/members/write',
        'Microsoft.ContainerService/fleets/listCredentials/action',
        'Microsoft.ContainerService/operations/read',
      ]),
    );
  });

  it("stores and returns a fleet's managed identity as ARM does", async () => {
    const uai = '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/fleet-id';
    const both = await client.fleets.create(
      'rg-in',
      'identity',
      { location: 'eastus', identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [uai]: {} } } },
      fast,
    );
    expect(both.identity?.type).toBe('SystemAssigned, UserAssigned');
    expect(both.identity?.principalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(both.identity?.tenantId).toBe(stack.env.AZURE_TENANT_ID);
    expect(Object.keys(both.identity?.userAssignedIdentities ?? {})).toEqual([uai]);
    const principal = both.identity!.principalId;
    // Tags change; the system-assigned principal stays.
    const patched = await client.fleets.updateAsync('rg-in', 'identity', { tags: { a: '1' } }, fast);
    expect(patched.identity?.principalId).toBe(principal);
    const none = await client.fleets.updateAsync('rg-in', 'identity', { identity: { type: 'None' } }, fast);
    expect(none.identity).toEqual({ type: 'None' });

    const path = fleetPath('rg-in', 'identity-bad');
    const cases: [unknown, string][] = [
      [{ type: 'UserAssigned' }, 'InvalidIdentity'],
      [{ type: 'SystemAssigned', userAssignedIdentities: { [uai]: {} } }, 'InvalidIdentity'],
      [{ type: 'Magic' }, 'InvalidIdentityType'],
      [{ type: 'UserAssigned', userAssignedIdentities: { [eastus1]: {} } }, 'InvalidUserAssignedIdentity'],
      [{ type: 'UserAssigned', userAssignedIdentities: { 'not-an-id': {} } }, 'InvalidUserAssignedIdentity'],
    ];
    for (const [identity, code] of cases) {
      const res = await arm(stack.env, 'PUT', path, { body: { location: 'eastus', identity } });
      expect(res, JSON.stringify(identity)).toMatchObject({ status: 400, body: { error: { code } } });
    }
    await gone(path);
  });
});
