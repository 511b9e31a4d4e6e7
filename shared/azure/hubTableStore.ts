// A hub's Kubernetes objects in Table Storage, one table per hub (deleting a fleet's hub is one
// request, and no hub's load shares a partition with another's):
//   PartitionKey = "{group or core}:{plural}:{namespace}" ('' for cluster-scoped), RowKey = name.
//   Columns: t ('o' object, 'd' tombstone, 'p' continuation), rv (the resourceVersion: microseconds, 16 digits,
//   so that string order is number order), n (continuation rows), b0…b9: the object's JSON as
//   UTF-8 bytes, 60,000 a property (a property holds 64 KiB, an entity 1 MiB). An object past one
//   row (600,000 bytes) continues in rows "{name}!1", "{name}!2" of the same partition, written in
//   the same transaction ('!' sorts before every character a name may hold).
// Table "hubs": PartitionKey = the hub's name, RowKey '' — which fleet and table it is.
import { odata, RestError, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { tables } from '../config.js';
import type { KubeObject } from '../hub/kinds.js';
import {
  BadContinueToken,
  type HubDirectory,
  HubGone,
  type HubRef,
  type HubStore,
  HubWriteConflict,
  type ListPage,
  type ListScope,
  type ObjectKey,
  type StoredObject,
} from '../hub/store.js';
import { type TableConnection, tableClient } from './tableStore.js';

// Binary properties travel base64-encoded, and the entity limit is counted on what travels:
// 10 × 60,000 bytes (800,000 characters encoded) leave a row well inside 1 MiB.
const chunkBytes = 60_000;
const chunksPerRow = 10;
const rowBytes = chunkBytes * chunksPerRow;

const partitionOf = (resource: string, namespace: string) => `${resource}:${namespace}`;
const statusOf = (e: unknown) => (e instanceof RestError ? e.statusCode : undefined);
const codeOf = (e: unknown) => (e instanceof RestError ? String(e.code ?? '') : '');

/** Query bounds for a scope: one partition, or every partition of the resource. */
function scopeFilter(scope: ListScope): string {
  if (scope.namespace !== undefined) return odata`PartitionKey eq ${partitionOf(scope.resource, scope.namespace)}`;
  return odata`PartitionKey ge ${`${scope.resource}:`} and PartitionKey lt ${`${scope.resource};`}`;
}

function chunkColumns(bytes: Uint8Array): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (let i = 0; i * chunkBytes < bytes.length; i++) out[`b${i}`] = bytes.subarray(i * chunkBytes, (i + 1) * chunkBytes);
  return out;
}

function columnBytes(e: Record<string, unknown>): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < chunksPerRow && e[`b${i}`] !== undefined; i++) out.push(Buffer.from(e[`b${i}`] as Uint8Array));
  return out;
}

interface Head extends TableEntity {
  t: 'o' | 'd';
  rv: string;
  n: number;
}

/** The rows an object is written as (its JSON): the head, then continuations. */
function rowsOf(key: ObjectKey, object: KubeObject, json: string, t: 'o' | 'd'): TableEntity[] {
  const bytes = Buffer.from(json, 'utf8');
  const partitionKey = partitionOf(key.resource, key.namespace);
  const parts = Math.max(1, Math.ceil(bytes.length / rowBytes));
  const rows: TableEntity[] = [];
  for (let i = 0; i < parts; i++) {
    const slice = bytes.subarray(i * rowBytes, (i + 1) * rowBytes);
    rows.push(
      i === 0
        ? { partitionKey, rowKey: key.name, t, rv: object.metadata.resourceVersion ?? '', n: parts - 1, ...chunkColumns(slice) }
        : { partitionKey, rowKey: `${key.name}!${i}`, t: 'p', ...chunkColumns(slice) },
    );
  }
  return rows;
}

/**
 * What this process last read or wrote of each object (HubStore.recent): its JSON, parsed afresh
 * for each use so that no caller can change what another gets. Small objects only, for two
 * minutes (older guesses are mostly wrong on a busy fleet, and a wrong one costs a failed write).
 */
// At 10,000 members the hub's instance writes each member's InternalMemberCluster, MemberCluster
// and a few Events: ~40,000 objects (~72 MB). At 20,000 the heartbeating ones were pushed out
// (12,000 misses a minute at 10,000 agents, each an extra read); at 40,000, none.
const recentLimit = 40_000;
const recentMs = 120_000;
const recentBytes = 64 * 1024;
/** All of them together (an instance has 2 GB; a heartbeating InternalMemberCluster is ~3 KB). */
const recentTotalBytes = 160 * 1024 * 1024;
type Recent = { json: string; rv: string; etag: string; at: number };

function recentMemory() {
  const entries = new Map<string, Recent>();
  let total = 0;
  const id = (hub: HubRef, key: ObjectKey) => `${hub.table}\n${partitionOf(key.resource, key.namespace)}\n${key.name}`;
  const drop = (k: string) => {
    const e = entries.get(k);
    if (!e) return;
    total -= e.json.length;
    entries.delete(k);
  };
  return {
    remember(hub: HubRef, key: ObjectKey, json: string, rv: string, etag: string) {
      const k = id(hub, key);
      drop(k);
      if (json.length > recentBytes) return;
      // The oldest go first (a Map keeps the order things were put in).
      while (entries.size && (entries.size >= recentLimit || total + json.length > recentTotalBytes)) drop(entries.keys().next().value!);
      entries.set(k, { json, rv, etag, at: Date.now() });
      total += json.length;
    },
    forget(hub: HubRef, key: ObjectKey) {
      drop(id(hub, key));
    },
    get(hub: HubRef, key: ObjectKey): StoredObject | undefined {
      const e = entries.get(id(hub, key));
      if (!e || Date.now() - e.at > recentMs) return undefined;
      return { object: JSON.parse(e.json) as KubeObject, rv: e.rv, etag: e.etag, parts: 0 };
    },
  };
}

export function createHubDirectory(connection: TableConnection): HubDirectory {
  const client = tableClient(connection, tables.hubs);
  return {
    async get(name) {
      try {
        const e = await client.getEntity<{ fleetId: string; table: string }>(name, '');
        return { fleetId: e.fleetId, table: e.table };
      } catch (e) {
        if (statusOf(e) === 404) return undefined;
        throw e;
      }
    },
    async put(name, record) {
      await client.upsertEntity({ partitionKey: name, rowKey: '', ...record }, 'Replace');
    },
    async delete(name) {
      try {
        await client.deleteEntity(name, '');
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
    },
    async *list() {
      for await (const e of client.listEntities<{ fleetId: string; table: string }>({ queryOptions: { select: ['PartitionKey', 'fleetId', 'table'] } }))
        yield { name: e.partitionKey!, record: { fleetId: e.fleetId, table: e.table } };
    },
    async ensureTable() {
      await client.createTable();
    },
  };
}

export function createHubTableStore(connection: TableConnection): HubStore {
  const clients = new Map<string, TableClient>();
  const client = (hub: HubRef) => {
    let c = clients.get(hub.table);
    if (!c) {
      c = tableClient(connection, hub.table);
      clients.set(hub.table, c);
    }
    return c;
  };
  // A hub whose table is gone was deleted with its fleet.
  const gone = (e: unknown) => statusOf(e) === 404 && /TableNotFound/i.test(codeOf(e) || String((e as Error).message));
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (e) {
      if (gone(e)) throw new HubGone('the hub table does not exist');
      if (statusOf(e) === 412 || statusOf(e) === 409) throw new HubWriteConflict(String((e as Error).message));
      throw e;
    }
  };

  const recent = recentMemory();

  /** Reads an object whose head was found: its continuation rows, then the JSON. */
  async function assemble(hub: HubRef, head: Head & Record<string, unknown>, key?: ObjectKey): Promise<StoredObject> {
    const buffers = columnBytes(head);
    for (let i = 1; i <= (head.n ?? 0); i++) {
      const part = await client(hub).getEntity(head.partitionKey as string, `${head.rowKey}!${i}`);
      buffers.push(...columnBytes(part));
    }
    const json = Buffer.concat(buffers).toString('utf8');
    const object = JSON.parse(json) as KubeObject;
    if (key && head.t === 'o' && !head.n) recent.remember(hub, key, json, head.rv, head.etag as string);
    return { object, rv: head.rv, etag: head.etag as string, parts: head.n ?? 0, ...(head.t === 'd' ? { deleted: true } : {}) };
  }

  async function query(hub: HubRef, filter: string, limit?: number, continuationToken?: string) {
    const pages = client(hub)
      .listEntities<Head>({ queryOptions: { filter } })
      .byPage({ maxPageSize: limit ?? 1000, continuationToken });
    const items: StoredObject[] = [];
    let next: string | undefined;
    for await (const page of pages) {
      for (const e of page) items.push(await assemble(hub, e as Head & Record<string, unknown>));
      next = page.continuationToken;
      if (limit !== undefined || !next) break;
    }
    return { items, next };
  }

  /** Writes an object's rows over what `previous` was (none: creates), dropping continuations it no longer needs. */
  async function write(hub: HubRef, key: ObjectKey, object: KubeObject, t: 'o' | 'd', previous?: StoredObject): Promise<string> {
    const json = JSON.stringify(object);
    const rows = rowsOf(key, object, json, t);
    const c = client(hub);
    const stale = Math.max(0, (previous?.parts ?? 0) - (rows.length - 1));
    recent.forget(hub, key);
    if (rows.length === 1 && stale === 0) {
      const r = previous
        ? await c.updateEntity(rows[0], 'Replace', { etag: previous.etag }).catch((e) => {
            // The row went meanwhile (purged, or the guess of a recent() base was wrong): a lost race.
            if (statusOf(e) === 404 && !gone(e)) throw new HubWriteConflict('the object is no longer stored');
            throw e;
          })
        : await c.createEntity(rows[0]);
      if (t === 'o' && r.etag) recent.remember(hub, key, json, object.metadata.resourceVersion ?? '', r.etag);
      return r.etag ?? '';
    }
    const actions: TransactionAction[] = [
      previous ? ['update', rows[0], 'Replace', { etag: previous.etag }] : ['create', rows[0]],
      ...rows.slice(1).map((r): TransactionAction => ['upsert', r, 'Replace']),
    ];
    for (let i = rows.length; i < rows.length + stale; i++) actions.push(['delete', { partitionKey: rows[0].partitionKey, rowKey: `${key.name}!${i}` }]);
    await c.submitTransaction(actions);
    // A transaction's answer carries no etags: read the head's.
    return (await c.getEntity(rows[0].partitionKey, rows[0].rowKey, { queryOptions: { select: ['rv'] } })).etag;
  }

  return {
    async createHub(hub) {
      await client(hub).createTable();
    },
    async deleteHub(hub) {
      try {
        await client(hub).deleteTable();
      } catch (e) {
        if (statusOf(e) !== 404) throw e;
      }
    },
    get: (hub, key) =>
      guard(async () => {
        try {
          const head = await client(hub).getEntity<Head>(partitionOf(key.resource, key.namespace), key.name);
          return await assemble(hub, head as Head & Record<string, unknown>, key);
        } catch (e) {
          if (statusOf(e) === 404 && !gone(e)) return undefined;
          throw e;
        }
      }),
    getMany: (hub, resource, namespace, names) =>
      guard(async () => {
        // Table Storage takes at most 15 comparisons in a filter: the partition, the row type, and
        // 13 names a query (a service of 110 members read its MemberClusters in 9, not 110).
        const found: StoredObject[] = [];
        const unique = [...new Set(names)];
        for (let i = 0; i < unique.length; i += 13) {
          const rows = unique
            .slice(i, i + 13)
            .map((n) => odata`RowKey eq ${n}`)
            .join(' or ');
          found.push(...(await query(hub, `${odata`PartitionKey eq ${partitionOf(resource, namespace)}`} and t eq 'o' and (${rows})`)).items);
        }
        return found;
      }),
    list: (hub, scope, page) =>
      guard(async (): Promise<ListPage> => {
        let token: string | undefined;
        if (page.continueToken) {
          try {
            const parsed = JSON.parse(Buffer.from(page.continueToken, 'base64url').toString('utf8')) as { v?: number; t?: string };
            if (parsed.v !== 1 || typeof parsed.t !== 'string') throw new Error('not ours');
            token = parsed.t;
          } catch {
            throw new BadContinueToken('the continue token is not one this hub handed out');
          }
        }
        const { items, next } = await query(hub, `${scopeFilter(scope)} and t eq 'o'`, page.limit, token);
        return { items, ...(next ? { continueToken: Buffer.from(JSON.stringify({ v: 1, t: next })).toString('base64url') } : {}) };
      }),
    changes: (hub, scope, afterRv) => guard(async () => (await query(hub, `${scopeFilter(scope)} and t ne 'p' and ${odata`rv gt ${afterRv}`}`)).items),
    put: (hub, key, object, options) => guard(() => write(hub, key, object, 'o', options.previous)),
    tombstone: (hub, key, object, previous) =>
      guard(async () => {
        // A tombstone keeps what a watcher prints of the object; a very large one keeps its metadata only.
        const keep = JSON.stringify(object).length > rowBytes / 4 ? { apiVersion: object.apiVersion, kind: object.kind, metadata: object.metadata } : object;
        await write(hub, key, keep as KubeObject, 'd', previous);
      }),
    recent: (hub, key) => recent.get(hub, key),
    purge: (hub, scope, beforeRv, max) =>
      guard(async () => {
        const c = client(hub);
        let removed = 0;
        const old = c.listEntities<Head>({ queryOptions: { filter: `${scopeFilter(scope)} and t eq 'd' and ${odata`rv lt ${beforeRv}`}`, select: ['rv'] } });
        for await (const e of old) {
          if (removed >= max) break;
          try {
            await c.deleteEntity(e.partitionKey, e.rowKey, { etag: e.etag });
            removed++;
          } catch (err) {
            if (statusOf(err) !== 404 && statusOf(err) !== 412) throw err;
          }
        }
        return removed;
      }),
  };
}
