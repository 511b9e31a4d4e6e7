import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzuriteTables, startAzuriteTables } from '../../local/azurite.js';
import { createClusterClaims, createTableStore } from '../../shared/azure/tableStore.js';
import type { FleetRecord, MemberRecord, OperationRecord } from '../../shared/domain/model.js';
import { ConcurrencyError } from '../../shared/ports.js';

let azurite: AzuriteTables;
let store: ReturnType<typeof createTableStore>;
const sub = '00000000-0000-0000-0000-000000000001';
const sys = { createdBy: 'u', createdByType: 'User' as const, createdAt: '', lastModifiedBy: 'u', lastModifiedByType: 'User' as const, lastModifiedAt: '' };
const fleet = (name: string, rg = 'rg'): FleetRecord => ({
  ref: { subscriptionId: sub, resourceGroup: rg, fleetName: name },
  location: 'eastus',
  tags: {},
  provisioningState: 'Creating',
  eTag: '"1"',
  systemData: sys,
});
const member = (f: FleetRecord, name: string): MemberRecord => ({
  ref: { ...f.ref, memberName: name },
  clusterResourceId: `/c/${name}`,
  provisioningState: 'Joining',
  eTag: '"1"',
  systemData: sys,
});
const op = (f: FleetRecord, id: string): OperationRecord => ({
  id,
  kind: 'fleet.createOrUpdate',
  fleet: f.ref,
  resourceId: 'x',
  location: 'eastus',
  status: 'InProgress',
  startTime: '',
});

beforeAll(async () => {
  azurite = await startAzuriteTables();
  store = createTableStore({ connectionString: azurite.connectionString });
  await store.ensureTables();
});
afterAll(async () => azurite?.close());

describe('the table store', () => {
  it('writes a fleet, its members and an operation atomically, and reads them back', async () => {
    const f = fleet('atomic');
    await store.commit(f.ref, [
      { op: 'create', row: { kind: 'fleet', value: f } },
      { op: 'create', row: { kind: 'operation', value: op(f, 'op1') } },
    ]);
    await store.commit(f.ref, [
      { op: 'create', row: { kind: 'member', value: member(f, 'a') } },
      { op: 'create', row: { kind: 'member', value: member(f, 'b') } },
    ]);
    // A create that collides fails the whole transaction: 'c' is not written either.
    await expect(
      store.commit(f.ref, [
        { op: 'create', row: { kind: 'member', value: member(f, 'c') } },
        { op: 'create', row: { kind: 'member', value: member(f, 'a') } },
      ]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    const part = await store.readFleet(f.ref, { memberNames: ['a', 'b', 'c'], operationId: 'op1' });
    expect(part.fleet?.value.ref.fleetName).toBe('atomic');
    expect(part.members.map((m) => m.value.ref.memberName).sort()).toEqual(['a', 'b']);
    expect(part.operation?.value.id).toBe('op1');
    const one = await store.readFleet(f.ref, { memberName: 'B' });
    expect(one.members.map((m) => m.value.ref.memberName)).toEqual(['b']);
    expect(one.operation).toBeUndefined();
  });

  it('refuses a write made from a stale read', async () => {
    const f = fleet('stale');
    await store.commit(f.ref, [{ op: 'create', row: { kind: 'fleet', value: f } }]);
    const read = (await store.readFleet(f.ref)).fleet!;
    await store.commit(f.ref, [{ op: 'replace', row: { kind: 'fleet', value: { ...f, tags: { a: '1' } } }, version: read.version }]);
    await expect(
      store.commit(f.ref, [{ op: 'replace', row: { kind: 'fleet', value: { ...f, tags: { b: '2' } } }, version: read.version }]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.readFleet(f.ref)).fleet?.value.tags).toEqual({ a: '1' });
  });

  it('lists fleets by resource group and subscription, page by page', async () => {
    for (const [name, rg] of [
      ['p1', 'rg-list'],
      ['p2', 'rg-list'],
      ['p3', 'rg-list'],
      ['q1', 'rg-list-2'],
      ['r1', 'rg-lis'],
    ] as const) {
      const f = fleet(name, rg);
      await store.commit(f.ref, [{ op: 'create', row: { kind: 'fleet', value: f } }]);
    }
    const names = async (scope: { subscriptionId: string; resourceGroup?: string }) => {
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const page = await store.listFleets(scope, { pageSize: 2, continuationToken: token });
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((i) => i.ref.fleetName));
        token = page.continuationToken;
      } while (token);
      return seen.sort();
    };
    expect(await names({ subscriptionId: sub, resourceGroup: 'RG-LIST' })).toEqual(['p1', 'p2', 'p3']);
    expect(await names({ subscriptionId: sub })).toEqual(expect.arrayContaining(['p1', 'p2', 'p3', 'q1', 'r1', 'atomic', 'stale']));
    expect(await names({ subscriptionId: '00000000-0000-0000-0000-000000000009' })).toEqual([]);
  });

  it('ends an operation without reading it, together with the row that names it, or not at all', async () => {
    const f = fleet('finish');
    const m = member(f, 'a');
    const o = { ...op(f, 'op-f'), kind: 'member.createOrUpdate' as const, memberName: 'a', startTime: '2026-11-24T10:00:00.000Z' };
    await store.commit(f.ref, [
      { op: 'create', row: { kind: 'fleet', value: f } },
      { op: 'create', row: { kind: 'member', value: m } },
      { op: 'create', row: { kind: 'operation', value: o } },
    ]);
    const read = await store.readFleet(f.ref, { memberName: 'a' });
    const error = { code: 'ClusterNotFound', message: 'gone', httpStatus: 404 };
    const end = (version: string) =>
      store.commit(f.ref, [
        { op: 'replace', row: { kind: 'member', value: { ...m, provisioningState: 'Failed' } }, version },
        { op: 'finish', operationId: 'op-f', status: 'Failed', endTime: '2026-11-24T10:00:01.000Z', error },
      ]);
    await end(read.members[0].version);
    // The member moved on since that read: neither row changes.
    await expect(end(read.members[0].version)).rejects.toBeInstanceOf(ConcurrencyError);
    const after = await store.readFleet(f.ref, { memberName: 'a', operationId: 'op-f' });
    expect(after.members[0].value.provisioningState).toBe('Failed');
    expect(after.operation?.value).toEqual({ ...o, status: 'Failed', endTime: '2026-11-24T10:00:01.000Z', error });
    // The sweeper's query sees the columns the finish wrote.
    const ended = await store.listOperations({ running: false, endedBefore: '2026-11-24T10:00:02.000Z' }, { pageSize: 100 });
    expect(ended.items.find((x) => x.id === 'op-f')).toMatchObject({ status: 'Failed', error });
    // An operation that is not there cannot be ended, and takes the other changes down with it.
    const stillRead = await store.readFleet(f.ref, { memberName: 'a' });
    await expect(
      store.commit(f.ref, [
        { op: 'replace', row: { kind: 'member', value: { ...m, provisioningState: 'Succeeded' } }, version: stillRead.members[0].version },
        { op: 'finish', operationId: 'op-missing', status: 'Succeeded', endTime: '2026-11-24T10:00:01.000Z' },
      ]),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.readFleet(f.ref, { memberName: 'a' })).members[0].value.provisioningState).toBe('Failed');
  });

  it('deletes rows and keeps operation rows', async () => {
    const f = fleet('gone');
    await store.commit(f.ref, [
      { op: 'create', row: { kind: 'fleet', value: f } },
      { op: 'create', row: { kind: 'member', value: member(f, 'a') } },
      { op: 'create', row: { kind: 'operation', value: op(f, 'op-d') } },
    ]);
    await store.commit(f.ref, [
      { op: 'delete', kind: 'member', name: 'a' },
      { op: 'delete', kind: 'fleet', name: 'gone' },
    ]);
    const part = await store.readFleet(f.ref, { memberNames: ['a'], operationId: 'op-d' });
    expect(part.fleet).toBeUndefined();
    expect(part.members).toEqual([]);
    expect(part.operation?.value.id).toBe('op-d');
  });
});

describe('cluster claims', () => {
  it('gives a cluster to one member at a time', async () => {
    const claims = createClusterClaims({ connectionString: azurite.connectionString });
    await claims.ensureTables();
    const a = { subscriptionId: sub, resourceGroup: 'rg', fleetName: 'fa', memberName: 'm' };
    const b = { ...a, fleetName: 'fb' };
    const id = '/subscriptions/S/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c';
    expect(await claims.claim(id, a)).toEqual({ claimed: true });
    expect(await claims.claim(id.toLowerCase(), a)).toEqual({ claimed: true });
    expect(await claims.claim(id, b)).toEqual({ claimed: false, owner: a });
    await claims.release(id, b);
    expect(await claims.claim(id, b)).toMatchObject({ claimed: false });
    await claims.release(id, a);
    expect(await claims.claim(id, b)).toEqual({ claimed: true });
  });
});
