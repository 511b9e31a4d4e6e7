// Azurite's Table service in this process. The package's main entry is the VS Code extension,
// so the server comes from its dist folder (it ships no types).
import { createRequire } from 'node:module';
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

// Azurite answers a query by testing every row of the table (lokijs `where` over the whole
// collection), so one fleet's query slows down as the other fleets grow; Table Storage serves it
// from the partition. When the filter pins one partition, the query starts from that partition's
// rows, found through the index Azurite keeps on PartitionKey; the filter still runs on each of
// them, so the answer is the same. (queryTableEntities takes its collection synchronously, before
// its first await, so the substitute collection is seen by that call only.)
let partitionScoped = false;
function scopeQueriesToPartition(): void {
  if (partitionScoped) return;
  partitionScoped = true;
  type Chain = { find(q: object): Chain };
  type Store = { getEntityCollection(...a: unknown[]): { chain(): Chain }; queryTableEntities(...a: unknown[]): Promise<unknown> };
  const proto = require('azurite/dist/src/table/persistence/LokiTableMetadataStore').default.prototype as Store;
  const query = proto.queryTableEntities;
  proto.queryTableEntities = function (this: Store, ...args: unknown[]) {
    const pk = pinnedPartition((args[3] as { filter?: string } | undefined)?.filter);
    if (pk === undefined) return query.apply(this, args);
    const collection = this.getEntityCollection;
    this.getEntityCollection = (...a: unknown[]) => {
      const all = collection.apply(this, a);
      return { chain: () => all.chain().find({ PartitionKey: pk }) };
    };
    try {
      return query.apply(this, args);
    } finally {
      delete (this as Partial<Store>).getEntityCollection;
    }
  };
}

export async function startAzuriteTables(options: { port?: number; location?: string; onRequest?: () => void } = {}): Promise<AzuriteTables> {
  scopeQueriesToPartition();
  const TableServer = require('azurite/dist/src/table/TableServer').default;
  const TableConfiguration = require('azurite/dist/src/table/TableConfiguration').default;
  const inMemory = !options.location;
  const config = new TableConfiguration(
    '127.0.0.1',
    options.port ?? 0,
    false, // keepAlive
    options.location ? `${options.location}/__azurite_db_table__.json` : undefined,
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
  let requests = 0;
  server.httpServer.on('request', () => {
    requests++;
    options.onRequest?.();
  });
  const endpoint = `${server.getHttpServerAddress()}/${account}`;
  return {
    endpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};TableEndpoint=${endpoint};`,
    requestCount: () => requests,
    async close() {
      await server.close();
      await server.clean();
    },
  };
}

/** The same server on a worker thread (only from compiled code: the thread loads dist/local/azuriteThread.js). */
export async function startAzuriteTablesThread(options: { port?: number; load?: ThreadLoad } = {}): Promise<AzuriteTables & { counters: SharedArrayBuffer }> {
  const counters = new SharedArrayBuffer(4);
  const thread = await startOnThread<{ endpoint: string; connectionString: string }>(new URL('./azuriteThread.js', import.meta.url), {
    port: options.port ?? 0,
    counter: counters,
    load: options.load,
  });
  const count = new Int32Array(counters);
  return { ...thread.ready, counters, requestCount: () => Atomics.load(count, 0), close: thread.close };
}
