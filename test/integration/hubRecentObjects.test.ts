// A patch starts from what its host last wrote or read of the object (HubStore.recent), so that an
// agent's heartbeat is one storage request. Two hosts on one Azurite: a host whose memory is stale
// must never write over what the other wrote, and one whose memory is right must write once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AzuriteTables, startAzuriteTables } from '../../local/azurite.js';
import { createHubTableStore } from '../../shared/azure/hubTableStore.js';
import { builtInTypes, type KubeObject } from '../../shared/hub/kinds.js';
import { HubObjects, resourceKey } from '../../shared/hub/objects.js';

let azurite: AzuriteTables;
let a: HubObjects;
let b: HubObjects;
const configMaps = builtInTypes.find((t) => t.kind === 'ConfigMap')!;
const hub = { name: 'recent', table: 'hubrecent' };

beforeAll(async () => {
  azurite = await startAzuriteTables();
  const connection = { connectionString: azurite.connectionString };
  const now = () => new Date();
  a = new HubObjects({ store: createHubTableStore(connection), now }, hub);
  b = new HubObjects({ store: createHubTableStore(connection), now }, hub);
  await a.deps.store.createHub(hub);
  await a.bootstrap();
  await a.create(configMaps, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { a: '1' } }, { dryRun: false });
});
afterAll(() => azurite.close());

const patch = (host: HubObjects, data: Record<string, string>) =>
  host.patch(configMaps, 'default', 'cm', 'merge', { data }, { dryRun: false, fieldManager: 'test' }).then((r) => r.object as KubeObject & { data: object });

/** The storage requests `work` makes. */
async function counted<T>(work: () => Promise<T>): Promise<{ result: T; requests: number }> {
  const before = azurite.requestCount();
  const result = await work();
  return { result, requests: azurite.requestCount() - before };
}

it('a host that wrote the object last patches it with one conditional write', async () => {
  await patch(a, { b: '2' });
  const { result, requests } = await counted(() => patch(a, { c: '3' }));
  expect(result.data).toEqual({ a: '1', b: '2', c: '3' });
  expect(requests).toBe(1);
});

it('a host whose memory is stale patches what is stored, not what it remembers', async () => {
  await patch(b, { d: '4' }); // b reads and writes: a's memory is now stale
  const { result, requests } = await counted(() => patch(a, { e: '5' }));
  expect(result.data).toEqual({ a: '1', b: '2', c: '3', d: '4', e: '5' });
  expect(requests).toBe(3); // the refused write, the read, the write
  expect((await b.get(configMaps, 'default', 'cm')).data).toEqual(result.data);
});

it('a patch that changes nothing from a stale memory is checked against storage', async () => {
  const mine = await patch(a, { f: '6' });
  await patch(b, { f: '7' });
  // Against a's memory (f: 6) this changes nothing; against storage (f: 7) it does.
  const result = await patch(a, { f: '6' });
  expect(result.data).toMatchObject({ f: '6' });
  expect(result.metadata.resourceVersion).not.toBe(mine.metadata.resourceVersion);
  expect((await b.get(configMaps, 'default', 'cm')).data).toMatchObject({ f: '6' });
});

it('a patch that changes nothing of what is stored writes nothing', async () => {
  const stored = await b.get(configMaps, 'default', 'cm');
  const { result, requests } = await counted(() => patch(b, { f: '6' }));
  expect(result.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
  expect(requests).toBe(1); // b's memory is right, and "unchanged" is confirmed by a read
});

it('reads many objects of a kind by name in a query per 13, leaving out what is not there or deleted', async () => {
  const names = Array.from({ length: 30 }, (_, i) => `many-${i}`);
  for (const name of names)
    await a.create(configMaps, 'default', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { name } }, { dryRun: false });
  await a.delete(configMaps, 'default', 'many-3', { dryRun: false });
  const wanted = [...names, 'never-made', 'many-0'];
  const { result, requests } = await counted(() => a.deps.store.getMany(hub, resourceKey(configMaps), 'default', wanted));
  expect(result.map((s) => s.object.metadata.name).sort()).toEqual(names.filter((n) => n !== 'many-3').sort());
  expect(requests).toBe(3); // 31 distinct names: 13 + 13 + 5
});
