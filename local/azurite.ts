// Azurite's Table service in this process. The package's main entry is the VS Code extension,
// so the server comes from its dist folder (it ships no types).
import { createRequire } from 'node:module';
import { keepDurably } from './azuriteJournal.js';
import { startOnThread, type ThreadLoad } from './threads.js';

const require = createRequire(import.meta.url);

export interface AzuriteTables {
  endpoint: string;
  connectionString: string;
  /** HTTP requests served so far (an entity group transaction is one). */
  requestCount(): number;
  close(): Promise<void>;
}

const account = 'devstoreaccount1';
const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/**
 * The partition a filter pins, when it does: `PartitionKey eq '…'` joined to the rest by `and` only.
 * Anything else (an `or` or `not` anywhere outside a string, no such comparison) gives undefined.
 */
export function pinnedPartition(filter: string | undefined): string | undefined {
  if (!filter) return undefined;
  const parts = filter.match(/'(?:[^']|'')*'|[^']+/g) ?? [];
  if (parts.some((p) => !p.startsWith("'") && /\b(or|not)\b/i.test(p))) return undefined;
  for (let i = 0; i + 1 < parts.length; i++) {
    if (!parts[i].startsWith("'") && /\bPartitionKey\s+eq\s*$/i.test(parts[i]) && parts[i + 1].startsWith("'"))
      return parts[i + 1].slice(1, -1).replaceAll("''", "'");
  }
  return undefined;
}

/** The RowKey bounds a filter sets with `and` only (`RowKey ge 'a' and RowKey lt 'b'`, `RowKey eq 'x'`), if any. */
export function rowKeyBounds(filter: string | undefined): { low?: string; high?: string } | undefined {
  if (!filter) return undefined;
  const parts = filter.match(/'(?:[^']|'')*'|[^']+/g) ?? [];
  if (parts.some((p) => !p.startsWith("'") && /\b(or|not)\b/i.test(p))) return undefined;
  const bounds: { low?: string; high?: string } = {};
  for (let i = 0; i + 1 < parts.length; i++) {
    const op = /\bRowKey\s+(eq|ge|gt|le|lt)\s*$/i.exec(parts[i]);
    if (!op || parts[i].startsWith("'") || !parts[i + 1].startsWith("'")) continue;
    const value = parts[i + 1].slice(1, -1).replaceAll("''", "'");
    const o = op[1].toLowerCase();
    if (o === 'eq' || o === 'ge' || o === 'gt') bounds.low = bounds.low === undefined || value > bounds.low ? value : bounds.low;
    if (o === 'eq' || o === 'le' || o === 'lt') bounds.high = bounds.high === undefined || value < bounds.high ? value : bounds.high;
  }
  return bounds.low === undefined && bounds.high === undefined ? undefined : bounds;
}

// Azurite keeps each table's entities in one lokijs collection with binary indices on PartitionKey
// and RowKey, and answers a point read or a write by filtering the rows its PartitionKey index
// finds, so their cost grew with the partition (at 6,000 members, Loki's comparisons were most of
// Azurite's time); Table Storage finds a row by its keys. Two shortcuts make the local Azurite
// scale the same way, with the same answers (test/integration/azurite.test.ts):
// - a lookup by both keys goes through a map of the collection's rows, kept by its insert and
//   delete events and checked against the collection on every hit;
// - a query whose filter pins a partition (`PartitionKey eq '…'`, joined by `and` only) starts from
//   that partition's rows or, when the filter also bounds RowKey and that range is the smaller,
//   from the rows in that range; the whole filter still runs on each of them.
// (queryTableEntities takes its collection synchronously, before its first await, so the
// substitute collection is seen by that call only.)
type Doc = { PartitionKey: string; RowKey: string; $loki?: number };
type Chain = { find(q: object): Chain };
type Collection = {
  data: Doc[];
  chain(): Chain;
  findOne(q: object): Doc | null;
  get(id: number): Doc | null;
  on(event: string, listener: (d: Doc | Doc[]) => void): void;
  calculateRange(op: string, prop: string, value: unknown): [number, number];
  ensureIndex(prop: string): void;
};
const keyOf = (pk: string, rk: string) => `${pk}\u0000${rk}`;
const byKeys = new WeakMap<Collection, Map<string, Doc>>();

function keyIndex(collection: Collection): Map<string, Doc> {
  const index = byKeys.get(collection);
  if (index) return index;
  const map = new Map<string, Doc>(collection.data.map((d) => [keyOf(d.PartitionKey, d.RowKey), d]));
  const each = (d: Doc | Doc[], f: (d: Doc) => void) => (Array.isArray(d) ? d.forEach(f) : f(d));
  const put = (d: Doc | Doc[]) => each(d, (doc) => map.set(keyOf(doc.PartitionKey, doc.RowKey), doc));
  collection.on('insert', put);
  // An update may put another object in the row's place.
  collection.on('update', put);
  collection.on('delete', (d) =>
    each(d, (doc) => {
      const key = keyOf(doc.PartitionKey, doc.RowKey);
      if (map.get(key) === doc) map.delete(key);
    }),
  );
  const findOne = collection.findOne.bind(collection);
  collection.findOne = (q: object) => {
    const keys = Object.keys(q);
    const { PartitionKey: pk, RowKey: rk } = q as Partial<Doc>;
    if (keys.length !== 2 || typeof pk !== 'string' || typeof rk !== 'string') return findOne(q);
    const doc = map.get(keyOf(pk, rk));
    // Served only while it is the collection's row by that id (a row that left or was replaced
    // without an event is not), and so still the answer the scan would give.
    return doc?.$loki !== undefined && collection.get(doc.$loki) === doc && doc.PartitionKey === pk && doc.RowKey === rk ? doc : null;
  };
  byKeys.set(collection, map);
  return map;
}

const rangeSize = ([start, end]: [number, number]) => Math.max(0, end - start + 1);

type LokiCollection = Collection & {
  get(id: number, returnPosition: true): [Doc, number] | null;
  remove(doc: Doc): void;
  insert(doc: Doc): Doc;
  emit(event: string, ...args: unknown[]): void;
  DynamicViews: unknown[];
  uniqueNames: string[];
  binaryIndices: Record<string, unknown>;
  dirty: boolean;
};

/**
 * Azurite replaces an entity by removing the row and inserting the new one, and lokijs pays for a
 * remove with passes over the whole collection (the data array and each binary index are spliced,
 * every index position after the row shifted down): at 10,000 members a hub's table has ~50,000
 * rows, and those passes were a fifth of Azurite's time while members heartbeat — the reason a
 * replace cost more as the table grew, which Table Storage's does not. The collection seen by one
 * replace is therefore one whose remove(old) followed by insert(new), for the same keys, puts the
 * new row in the old one's place: same id, same position, so the binary indices (on PartitionKey
 * and RowKey, which did not change) stay right as they are; lokijs's 'update' event tells the
 * journal and the key map. Anything else (no indices but those two, or views) goes lokijs's way.
 */
function replacingInPlace(all: LokiCollection): Collection {
  const plain =
    all.DynamicViews.length === 0 && all.uniqueNames.length === 0 && Object.keys(all.binaryIndices).every((k) => k === 'PartitionKey' || k === 'RowKey');
  if (!plain) return all;
  let removed: Doc | undefined;
  return new Proxy(all, {
    get(target, prop) {
      if (prop === 'remove')
        return (doc: Doc) => {
          // Held until the insert that follows; a remove not followed by one is made at the next call.
          if (removed) target.remove(removed);
          removed = doc;
        };
      if (prop === 'insert')
        return (doc: Doc) => {
          const old = removed;
          removed = undefined;
          const at = old?.$loki !== undefined ? target.get(old.$loki, true) : null;
          if (!old || !at || at[0] !== old || old.PartitionKey !== doc.PartitionKey || old.RowKey !== doc.RowKey || doc.$loki !== undefined) {
            if (old) target.remove(old);
            return target.insert(doc);
          }
          const meta = (old as { meta?: { revision?: number } }).meta ?? {};
          Object.assign(doc, { $loki: old.$loki, meta: { ...meta, revision: (meta.revision ?? 0) + 1, updated: Date.now() } });
          target.data[at[1]] = doc;
          target.dirty = true;
          target.emit('update', doc, old);
          return doc;
        };
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

let patched = false;
function scaleLikeTableStorage(): void {
  if (patched) return;
  patched = true;
  type Store = { getEntityCollection(...a: unknown[]): Collection; queryTableEntities(...a: unknown[]): Promise<unknown> };
  const proto = require('azurite/dist/src/table/persistence/LokiTableMetadataStore').default.prototype as Store;
  const getEntityCollection = proto.getEntityCollection;
  proto.getEntityCollection = function (this: Store, ...a: unknown[]) {
    const collection = getEntityCollection.apply(this, a);
    keyIndex(collection);
    return collection;
  };
  // A replace (Azurite's updateTableEntity: find, check the etag, remove, insert) sees the collection
  // that puts the new row in the old one's place.
  const update = (proto as unknown as { updateTableEntity(...a: unknown[]): Promise<unknown> }).updateTableEntity;
  (proto as unknown as { updateTableEntity(...a: unknown[]): Promise<unknown> }).updateTableEntity = function (this: Store, ...args: unknown[]) {
    const own = this.getEntityCollection;
    this.getEntityCollection = (...a: unknown[]) => replacingInPlace(own.apply(this, a) as LokiCollection);
    try {
      return update.apply(this, args);
    } finally {
      delete (this as Partial<Store>).getEntityCollection;
    }
  };
  const query = proto.queryTableEntities;
  proto.queryTableEntities = function (this: Store, ...args: unknown[]) {
    const filter = (args[3] as { filter?: string } | undefined)?.filter;
    const pk = pinnedPartition(filter);
    if (pk === undefined) return query.apply(this, args);
    const bounds = rowKeyBounds(filter);
    const own = this.getEntityCollection;
    this.getEntityCollection = (...a: unknown[]) => {
      const all = own.apply(this, a);
      const start = () => {
        if (!bounds) return all.chain().find({ PartitionKey: pk });
        all.ensureIndex('PartitionKey');
        all.ensureIndex('RowKey');
        const range =
          bounds.low !== undefined && bounds.high !== undefined
            ? { $between: [bounds.low, bounds.high] }
            : bounds.low !== undefined
              ? { $gte: bounds.low }
              : { $lte: bounds.high };
        const op = Object.keys(range)[0];
        const inPartition = rangeSize(all.calculateRange('$eq', 'PartitionKey', pk));
        const inRange = rangeSize(all.calculateRange(op, 'RowKey', Object.values(range)[0]));
        return inRange < inPartition ? all.chain().find({ RowKey: range }).find({ PartitionKey: pk }) : all.chain().find({ PartitionKey: pk });
      };
      return { chain: start } as unknown as Collection;
    };
    try {
      return query.apply(this, args);
    } finally {
      delete (this as Partial<Store>).getEntityCollection;
    }
  };
}

/**
 * Azurite's Table service in this process. With `stateDir` its data outlives the process, a SIGKILL
 * included (see azuriteJournal.ts); without, it is in memory only.
 */
export async function startAzuriteTables(
  options: {
    port?: number;
    stateDir?: string;
    onRequest?: (url: string) => void /** Journal size that starts a snapshot (tests). */;
    journalBytes?: number;
  } = {},
): Promise<AzuriteTables> {
  scaleLikeTableStorage();
  const TableServer = require('azurite/dist/src/table/TableServer').default;
  const TableConfiguration = require('azurite/dist/src/table/TableConfiguration').default;
  // Always lokijs in memory: the journal, not lokijs's periodic save, keeps the data.
  const inMemory = true;
  const config = new TableConfiguration(
    '127.0.0.1',
    options.port ?? 0,
    false, // keepAlive
    undefined,
    false, // debugLog
    false, // accessLog
    undefined,
    undefined,
    true, // loose
    true, // skipApiVersionCheck
    undefined,
    undefined,
    undefined,
    undefined,
    false, // disableProductStyleUrl
    inMemory,
  );
  const server = new TableServer(config);
  await server.start();
  const journal = options.stateDir
    ? keepDurably(server.metadataStore, options.stateDir, {
        prepare: (c) => keyIndex(c as unknown as Collection),
        compactBytes: options.journalBytes,
      })
    : undefined;
  let requests = 0;
  server.httpServer.on('request', (req: { url?: string }) => {
    requests++;
    options.onRequest?.(req.url ?? '');
  });
  const endpoint = `${server.getHttpServerAddress()}/${account}`;
  return {
    endpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};TableEndpoint=${endpoint};`,
    requestCount: () => requests,
    async close() {
      await server.close();
      journal?.close();
      await server.clean();
    },
  };
}

/** The same server on a worker thread (only from compiled code: the thread loads dist/local/azuriteThread.js). */
export async function startAzuriteTablesThread(
  options: { port?: number; stateDir?: string; load?: ThreadLoad } = {},
): Promise<AzuriteTables & { counters: SharedArrayBuffer }> {
  // [all requests, requests to a hub's table (the bench tells the hub's cost from the simulated clusters')]
  const counters = new SharedArrayBuffer(8);
  const thread = await startOnThread<{ endpoint: string; connectionString: string }>(new URL('./azuriteThread.js', import.meta.url), {
    port: options.port ?? 0,
    stateDir: options.stateDir,
    counter: counters,
    load: options.load,
  });
  const count = new Int32Array(counters);
  return { ...thread.ready, counters, requestCount: () => Atomics.load(count, 0), close: thread.close };
}
