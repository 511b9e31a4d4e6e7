// Azurite as the local stack runs it: a query that pins one partition starts from that partition's
// rows (see local/azurite.ts) and must answer exactly as a scan of the whole table would.
import { odata, TableClient } from '@azure/data-tables';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzuriteTables, pinnedPartition, startAzuriteTables } from '../../local/azurite.js';

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
});
