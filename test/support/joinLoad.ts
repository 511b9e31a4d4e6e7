// Many joins as clients make them, through the API, with what a client does when the service goes
// away under it (retry the PUT, keep polling), and the checks a user would make of the result.
import { TableClient } from '@azure/data-tables';
import { expect } from 'vitest';
import { aks, fleetPath, sub1, tokenFor } from './clients.js';
import { until } from './until.js';

export interface Join {
  fleet: string;
  member: string;
  cluster: string;
}

const api = '2025-03-01';
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The joins of `fleets` fleets of `perFleet` members each, over clusters aks-0… of rg-load. */
export const joinsOf = (fleets: number, perFleet: number): Join[] =>
  Array.from({ length: fleets * perFleet }, (_, i) => ({ fleet: `load-${i % fleets}`, member: `m-${i}`, cluster: `aks-${i}` }));

/** A seed's managed clusters for `count` joins. */
export const loadClusters = (count: number) =>
  Array.from({ length: count }, (_, i) => ({
    subscriptionId: sub1,
    resourceGroup: 'rg-load',
    name: `aks-${i}`,
    location: 'eastus',
    identity: { type: 'SystemAssigned' },
  }));

export interface Client {
  env: () => Record<string, string>;
  token: string;
}

async function call(client: Client, method: string, path: string, body?: unknown) {
  const url = path.startsWith('https:') ? path : `${client.env().FLEET_API}${path}${path.includes('?') ? '&' : '?'}api-version=${api}`;
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${client.token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** Like a client with a retry policy: a request that found no service, or a 5xx, is sent again. */
async function callUntilAnswered(client: Client, method: string, path: string, body?: unknown, within = 120_000) {
  const deadline = Date.now() + within;
  for (;;) {
    try {
      const res = await call(client, method, path, body);
      if (res.status < 500) return res;
    } catch {
      /* connection refused or reset: the service is away */
    }
    if (Date.now() > deadline) throw new Error(`${method} ${path}: no answer in ${within} ms`);
    await pause(200);
  }
}

export async function createFleets(client: Client, names: string[]) {
  for (const name of names) {
    const res = await callUntilAnswered(client, 'PUT', fleetPath('rg-load', name), { location: 'eastus' });
    expect(res.status).toBe(201);
    await waitForOperation(client, res.headers.get('azure-asyncoperation')!);
  }
}

/** Polls an operation until it ends; its final status, as seen twice (an ended operation stays ended). */
export async function waitForOperation(client: Client, url: string, within = 120_000) {
  const final = await until(
    async () => {
      const res = await callUntilAnswered(client, 'GET', url);
      return res.status === 200 && res.body.status !== 'InProgress' ? res.body : undefined;
    },
    { within, every: 250, what: `operation ${url}` },
  );
  const again = (await callUntilAnswered(client, 'GET', url)).body;
  expect(again).toEqual(final);
  return final as { status: string; startTime: string; endTime: string; error?: { code: string; message: string } };
}

/** How far a load has got: PUTs answered with an operation, and operations ended Succeeded. */
export interface Progress {
  joined: number;
  accepted?: number;
}

/**
 * Every join, `concurrency` at a time: PUT (again, while there is no answer), then its operation
 * polled to the end. Returns the operation each member's last accepted PUT started.
 */
export async function joinAll(client: Client, joins: Join[], concurrency: number, progress: Progress = { joined: 0 }, operationWithinMs = 120_000) {
  const accepted = new Map<string, string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < joins.length) {
        const j = joins[next++];
        const path = `${fleetPath('rg-load', j.fleet)}/members/${j.member}`;
        const res = await callUntilAnswered(client, 'PUT', path, { properties: { clusterResourceId: aks(sub1, 'rg-load', j.cluster) } });
        expect([200, 201], JSON.stringify(res.body)).toContain(res.status);
        const url = res.headers.get('azure-asyncoperation')!;
        accepted.set(j.member, url);
        progress.accepted = (progress.accepted ?? 0) + 1;
        const op = await waitForOperation(client, url, operationWithinMs);
        expect(op.status, `${j.member}: ${op.error?.message}`).toBe('Succeeded');
        progress.joined++;
      }
    }),
  );
  return accepted;
}

/** What a user would check after it all: each member joined once, counted once, its cluster claimed once. */
export async function expectConsistent(client: Client, joins: Join[], accepted: Map<string, string>) {
  const env = client.env();
  const members = new Map<string, { provisioningState: string; status: { lastOperationId: string }; clusterResourceId: string }>();
  for (const fleet of new Set(joins.map((j) => j.fleet))) {
    let url: string | undefined = `${fleetPath('rg-load', fleet)}/members`;
    while (url) {
      const page: { status: number; body: { value: { name: string; properties: never }[]; nextLink?: string } } = await callUntilAnswered(client, 'GET', url);
      for (const m of page.body.value) members.set(m.name, m.properties);
      url = page.body.nextLink;
    }
  }
  expect(members.size).toBe(joins.length);
  for (const j of joins) {
    const m = members.get(j.member)!;
    expect(m.provisioningState, j.member).toBe('Succeeded');
    // The member names the operation its last accepted PUT started.
    expect(accepted.get(j.member)).toContain(`/operationStatuses/${m.status.lastOperationId}?`);
  }
  // The counts the member limit reads agree with the members, fleet by fleet.
  const fleets = TableClient.fromConnectionString(env.TABLES_CONNECTION_STRING, 'fleets', { allowInsecureConnection: true });
  for (const fleet of new Set(joins.map((j) => j.fleet))) {
    const counts = await fleets.getEntity<{ data: string }>(`${sub1}:rg-load:${fleet}`, 'fleet:counts');
    expect(JSON.parse(counts.data).joined, fleet).toBe(joins.filter((j) => j.fleet === fleet).length);
  }
  // Each cluster is claimed once, by its member; none is claimed without one.
  const claims = TableClient.fromConnectionString(env.TABLES_CONNECTION_STRING, 'clusterclaims', { allowInsecureConnection: true });
  const owners = new Map<string, string>();
  for await (const c of claims.listEntities<{ memberName: string }>({ queryOptions: { filter: `PartitionKey eq '${sub1}'` } })) {
    if (c.rowKey!.startsWith('resourcegroups:rg-load:')) owners.set(c.rowKey!.split(':').at(-1)!, c.memberName);
  }
  expect(owners.size).toBe(joins.length);
  for (const j of joins) expect(owners.get(j.cluster)).toBe(j.member);
}

export async function clientOf(env: () => Record<string, string>): Promise<Client> {
  return { env, token: await tokenFor(env(), env().FLEET_API) };
}
