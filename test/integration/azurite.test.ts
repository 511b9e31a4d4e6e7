// Azurite as the local stack runs it: a query that pins one partition starts from that partition's
// rows (see local/azurite.ts) and must answer exactly as a scan of the whole table would.
import { odata, TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzuriteTables, pinnedPartition, rowKeyBounds, startAzuriteTables } from '../../local/azurite.js';

describe('which partition a filter pins', () => {
  it('finds PartitionKey eq joined by and, and nothing else', () => {
    expect(pinnedPartition("PartitionKey eq 'a:b' and RowKey ge 'fleet' and RowKey lt 'member;'")).toBe('a:b');
    expect(pinnedPartition("(RowKey ge 'x') and (PartitionKey eq 'it''s')")).toBe("it's");
    expect(pinnedPartition("PartitionKey eq 'a' or PartitionKey eq 'b'")).toBeUndefined();
    expect(pinnedPartition("not (PartitionKey eq 'a')")).toBeUndefined();
    expect(pinnedPartition("PartitionKey ge 'a' and PartitionKey lt 'b'")).toBeUndefined();
    // Words inside strings are data, not operators.
    expect(pinnedPartition("PartitionKey eq 'x' and note eq 'this or that'")).toBe('x');
    expect(pinnedPartition("note eq 'PartitionKey eq ' and RowKey eq 'r'")).toBeUndefined();
    expect(pinnedPartition(undefined)).toBeUndefined();
  });
});

describe('which RowKey range a filter bounds', () => {
  it('reads ge/gt/le/lt/eq joined by and', () => {
    expect(rowKeyBounds("PartitionKey eq 'p' and RowKey ge 'fleet' and RowKey lt 'fleet;'")).toEqual({ low: 'fleet', high: 'fleet;' });
    expect(rowKeyBounds("PartitionKey eq 'p' and RowKey eq 'x'")).toEqual({ low: 'x', high: 'x' });
    expect(rowKeyBounds("PartitionKey eq 'p' and RowKey gt 'it''s'")).toEqual({ low: "it's" });
    expect(rowKeyBounds("PartitionKey eq 'p'")).toBeUndefined();
    expect(rowKeyBounds("RowKey ge 'a' or RowKey lt 'b'")).toBeUndefined();
  });
});

describe('queries against the local Azurite', () => {
  let azurite: AzuriteTables;
  let table: TableClient;
  beforeAll(async () => {
    azurite = await startAzuriteTables();
    table = TableClient.fromConnectionString(azurite.connectionString, 'scoped', { allowInsecureConnection: true });
    await table.createTable();
    for (const pk of ['p1', 'p2', "p'3"]) {
      for (const rk of ['a', 'b', 'c']) await table.createEntity({ partitionKey: pk, rowKey: rk, note: `${pk}/${rk}` });
    }
  });
  afterAll(async () => azurite?.close());

  const query = async (filter: string) => {
    const rows: string[] = [];
    for await (const e of table.listEntities<{ note: string }>({ queryOptions: { filter } })) rows.push(e.note);
    return rows;
  };

  it('answers a pinned query from that partition only, in key order', async () => {
    expect(await query(odata`PartitionKey eq ${'p2'} and RowKey ge ${'b'}`)).toEqual(['p2/b', 'p2/c']);
    expect(await query(odata`PartitionKey eq ${"p'3"}`)).toEqual(["p'3/a", "p'3/b", "p'3/c"]);
    expect(await query(odata`PartitionKey eq ${'p9'}`)).toEqual([]);
  });

  it('answers other queries across partitions as before', async () => {
    expect(await query(odata`PartitionKey eq ${'p1'} or PartitionKey eq ${'p2'} and RowKey eq ${'a'}`)).toEqual(['p1/a', 'p1/b', 'p1/c', 'p2/a']);
    expect(await query(odata`RowKey eq ${'c'}`)).toEqual(["p'3/c", 'p1/c', 'p2/c']);
    expect(await query(odata`PartitionKey ge ${'p1'} and PartitionKey lt ${'p3'} and RowKey eq ${'b'}`)).toEqual(['p1/b', 'p2/b']);
  });

  it('pages a pinned query', async () => {
    const pages = table.listEntities<{ note: string }>({ queryOptions: { filter: odata`PartitionKey eq ${'p1'}` } }).byPage({ maxPageSize: 2 });
    const seen: string[][] = [];
    for await (const page of pages) seen.push(page.map((e) => e.note));
    expect(seen).toEqual([['p1/a', 'p1/b'], ['p1/c']]);
  });

  it('finds a row by its keys after it is replaced, merged, deleted and created again', async () => {
    const t = TableClient.fromConnectionString(azurite.connectionString, 'keyed', { allowInsecureConnection: true });
    await t.createTable();
    await t.createEntity({ partitionKey: 'p', rowKey: 'r', v: 1 });
    await t.updateEntity({ partitionKey: 'p', rowKey: 'r', v: 2 }, 'Replace');
    expect((await t.getEntity<{ v: number }>('p', 'r')).v).toBe(2);
    await t.updateEntity({ partitionKey: 'p', rowKey: 'r', w: 3 }, 'Merge');
    expect(await t.getEntity<{ v: number; w: number }>('p', 'r')).toMatchObject({ v: 2, w: 3 });
    await t.submitTransaction([
      ['delete', { partitionKey: 'p', rowKey: 'r' }],
      ['create', { partitionKey: 'p', rowKey: 's', v: 4 }],
    ]);
    await expect(t.getEntity('p', 'r')).rejects.toMatchObject({ statusCode: 404 });
    await expect(t.createEntity({ partitionKey: 'p', rowKey: 's', v: 5 })).rejects.toMatchObject({ statusCode: 409 });
    await t.createEntity({ partitionKey: 'p', rowKey: 'r', v: 6 });
    expect((await t.getEntity<{ v: number }>('p', 'r')).v).toBe(6);
    // A transaction that fails is rolled back: the row it would have created is not found.
    await expect(
      t.submitTransaction([
        ['create', { partitionKey: 'p', rowKey: 't', v: 7 }],
        ['create', { partitionKey: 'p', rowKey: 's', v: 8 }],
      ]),
    ).rejects.toBeTruthy();
    await expect(t.getEntity('p', 't')).rejects.toMatchObject({ statusCode: 404 });
    expect((await t.getEntity<{ v: number }>('p', 's')).v).toBe(4);
  });

  it('replaces a row in its place: queries, etags and a failed transaction answer as before', async () => {
    const t = TableClient.fromConnectionString(azurite.connectionString, 'replaced', { allowInsecureConnection: true });
    await t.createTable();
    for (const pk of ['a', 'b']) for (const rk of ['1', '2', '3']) await t.createEntity({ partitionKey: pk, rowKey: rk, v: 0 });
    const first = (await t.getEntity('a', '2')).etag;
    let etag = first;
    for (let v = 1; v <= 5; v++) etag = (await t.updateEntity({ partitionKey: 'a', rowKey: '2', v }, 'Replace', { etag })).etag!;
    await t.upsertEntity({ partitionKey: 'b', rowKey: '1', v: 9 }, 'Replace');
    // A replace on a stale etag is refused, and changes nothing.
    await expect(t.updateEntity({ partitionKey: 'a', rowKey: '2', v: 99 }, 'Replace', { etag: first })).rejects.toMatchObject({ statusCode: 412 });
    const all = async (filter?: string) => {
      const rows: string[] = [];
      for await (const e of t.listEntities<{ v: number }>(filter ? { queryOptions: { filter } } : {})) rows.push(`${e.partitionKey}/${e.rowKey}=${e.v}`);
      return rows;
    };
    expect(await all()).toEqual(['a/1=0', 'a/2=5', 'a/3=0', 'b/1=9', 'b/2=0', 'b/3=0']);
    expect(await all(odata`PartitionKey eq ${'a'} and RowKey ge ${'2'} and RowKey lt ${'3'}`)).toEqual(['a/2=5']);
    expect(await all(odata`RowKey eq ${'1'}`)).toEqual(['a/1=0', 'b/1=9']);
    expect(await all(odata`v eq 5`)).toEqual(['a/2=5']);
    // A transaction that replaces a row and then fails leaves the row as it was.
    await expect(
      t.submitTransaction([
        ['update', { partitionKey: 'a', rowKey: '2', v: 6 }, 'Replace'],
        ['create', { partitionKey: 'a', rowKey: '1', v: 7 }],
      ]),
    ).rejects.toBeTruthy();
    expect((await t.getEntity<{ v: number }>('a', '2')).v).toBe(5);
    expect(await all(odata`PartitionKey eq ${'a'}`)).toEqual(['a/1=0', 'a/2=5', 'a/3=0']);
    // Deleting a replaced row and creating it again works as for any row.
    await t.deleteEntity('a', '2');
    await t.createEntity({ partitionKey: 'a', rowKey: '2', v: 8 });
    expect(await all(odata`PartitionKey eq ${'a'} and RowKey eq ${'2'}`)).toEqual(['a/2=8']);
  });

  it('answers a pinned query with a RowKey range from the smaller of the two', async () => {
    expect(await query(odata`PartitionKey eq ${'p1'} and RowKey ge ${'b'} and RowKey lt ${'c'}`)).toEqual(['p1/b']);
    expect(await query(odata`PartitionKey eq ${'p2'} and RowKey eq ${'c'}`)).toEqual(['p2/c']);
    expect(await query(odata`PartitionKey eq ${'p2'} and RowKey le ${'b'}`)).toEqual(['p2/a', 'p2/b']);
    expect(await query(odata`PartitionKey eq ${'p2'} and RowKey gt ${'z'}`)).toEqual([]);
  });
});
