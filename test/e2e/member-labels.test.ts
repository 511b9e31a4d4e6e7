// Member labels (api-version 2025-04-01-preview), which placements will select clusters by, and the
// other api-versions the API serves.
import { beforeAll, expect, it } from 'vitest';
import { arm, eastus1, fast, fleetClient, fleetPath, tokenFor } from '../support/clients.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

const stack = useStack();
beforeAll(async () => {
  await fleetClient(stack.env).fleets.create('rg', 'labelled', { location: 'eastus' }, fast);
});

const preview = '2025-04-01-preview';
const path = `${fleetPath('rg', 'labelled')}/members/east`;

async function finished(res: { headers: Headers }) {
  const op = res.headers.get('azure-asyncoperation')!;
  expect(op).toContain(`api-version=${preview}`);
  const token = await tokenFor(stack.env, stack.env.FLEET_API);
  return until(
    async () => {
      const s = (await (await fetch(op, { headers: { authorization: `Bearer ${token}` } })).json()) as { status: string };
      return s.status !== 'InProgress' && s.status;
    },
    { within: 10_000, what: 'the operation' },
  );
}

it('stores labels on create, replaces them on update, and refuses malformed ones', async () => {
  const created = await arm(stack.env, 'PUT', path, {
    apiVersion: preview,
    body: { properties: { clusterResourceId: eastus1, labels: { env: 'prod', 'topology.kubernetes.io/region': 'eastus' } } },
  });
  expect(created.status).toBe(201);
  expect(await finished(created)).toBe('Succeeded');
  const got = await arm(stack.env, 'GET', path, { apiVersion: preview });
  expect(got.body.properties).toMatchObject({ provisioningState: 'Succeeded', labels: { env: 'prod', 'topology.kubernetes.io/region': 'eastus' } });

  const bad = await arm(stack.env, 'PATCH', path, { apiVersion: preview, body: { properties: { labels: { 'bad key!': 'x' } } } });
  expect(bad).toMatchObject({ status: 400, body: { error: { code: 'InvalidRequestContent', message: expect.stringContaining('label keys') } } });
  const badValue = await arm(stack.env, 'PATCH', path, { apiVersion: preview, body: { properties: { labels: { env: '-x-' } } } });
  expect(badValue.status).toBe(400);
  expect((await arm(stack.env, 'GET', path, { apiVersion: preview })).body.properties.labels).toEqual({
    env: 'prod',
    'topology.kubernetes.io/region': 'eastus',
  });

  const patched = await arm(stack.env, 'PATCH', path, { apiVersion: preview, body: { properties: { labels: { env: 'staging' } } } });
  expect(patched.status).toBe(202);
  expect(await finished(patched)).toBe('Succeeded');
  expect((await arm(stack.env, 'GET', path, { apiVersion: preview })).body.properties.labels).toEqual({ env: 'staging' });

  // A group-only PATCH keeps the labels.
  const grouped = await arm(stack.env, 'PATCH', path, { apiVersion: preview, body: { properties: { group: 'canary' } } });
  await finished(grouped);
  expect((await arm(stack.env, 'GET', path, { apiVersion: preview })).body.properties).toMatchObject({ group: 'canary', labels: { env: 'staging' } });
});

it('serves the GA api-versions and refuses newer previews it does not implement', async () => {
  for (const version of ['2023-10-15', '2024-04-01', '2025-03-01'])
    expect((await arm(stack.env, 'GET', fleetPath('rg', 'labelled'), { apiVersion: version })).status).toBe(200);
  const newer = await arm(stack.env, 'GET', fleetPath('rg', 'labelled'), { apiVersion: '2026-03-02-preview' });
  expect(newer).toMatchObject({ status: 400, body: { error: { code: 'InvalidApiVersionParameter', message: expect.stringContaining('2025-04-01-preview') } } });
});
