// Durable state for the local Azurite, surviving a SIGKILL: Table Storage does not lose an
// acknowledged write, and neither may the local stack, or a restart would break the very
// consistency the crash tests check. Azurite's own persistence (lokijs saving the whole database
// every 5 s) loses the last seconds on a kill, so the local Azurite runs in memory and this module
// keeps it on disk:
//   - a journal: every change to a collection, appended with a synchronous write before Azurite
//     answers (the page cache outlives the process); an entity group transaction is written as one
//     append when it commits and not at all when it rolls back, so a kill never leaves half of one;
//   - a snapshot: the whole database, written to a temporary file and renamed over the last one,
//     after which the journal starts again empty. Taken at start, at a clean stop, and when the
//     journal has grown past a size.
// Replaying is idempotent (a row is put or removed by its keys), so a journal that overlaps its
// snapshot replays to the same state. No library keeps a lokijs database durably per change; this
// is the least that does.
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

type Doc = Record<string, unknown> & { $loki?: number; meta?: unknown };
export interface Collection {
  name: string;
  data: Doc[];
  insert(doc: Doc): Doc;
  remove(doc: Doc): void;
  on(event: string, listener: (d: Doc | Doc[]) => void): void;
  findOne(q: object): Doc | null;
}
interface Db {
  collections: Collection[];
  getCollection(name: string): Collection | null;
  addCollection(name: string, options?: object): Collection;
  removeCollection(name: string): void;
  serialize(): string;
  loadJSON(serialized: string): void;
}
interface Store {
  db: Db;
  beginBatchTransaction(batchId: string): Promise<void>;
  endBatchTransaction(account: string, table: string, batchId: string, context: unknown, succeeded: boolean): Promise<void>;
}

type Entry = { o: 'put'; c: string; d: Doc } | { o: 'del'; c: string; d: Doc } | { o: 'add'; c: string; opts: object } | { o: 'drop'; c: string };

/** How a collection's rows are told apart: entities by their keys, Azurite's own rows by theirs. */
function keyOf(doc: Doc): Record<string, unknown> {
  if ('PartitionKey' in doc) return { PartitionKey: doc.PartitionKey, RowKey: doc.RowKey };
  if ('table' in doc) return { account: doc.account, table: doc.table };
  if ('accountName' in doc) return { accountName: doc.accountName };
  throw new Error(`a row with no known keys: ${Object.keys(doc).join(', ')}`);
}

const clean = ({ $loki: _id, meta: _meta, ...rest }: Doc): Doc => rest;

export interface Journal {
  close(): void;
}

/** Loads `dir`'s snapshot and journal into the store's database, then journals every change. */
export function keepDurably(store: Store, dir: string, options: { compactBytes?: number; prepare?: (c: Collection) => void } = {}): Journal {
  mkdirSync(dir, { recursive: true });
  const snapshotPath = join(dir, 'tables.json');
  const journalPath = join(dir, 'tables.journal');
  const db = store.db;
  const compactBytes = options.compactBytes ?? 32 * 1024 * 1024;
  // Compacted once the journal outgrows the snapshot it would replace too: each compaction writes
  // the whole database, so a fixed threshold made a large database (10,000 members heartbeating)
  // rewrite itself every few seconds; this way writing snapshots costs at most what the journal did.
  let snapshotBytes = 0;

  if (existsSync(snapshotPath)) {
    const snapshot = readFileSync(snapshotPath, 'utf8');
    snapshotBytes = snapshot.length;
    db.loadJSON(snapshot);
  }
  // The caller's indexes (rows by key) before the replay looks rows up by key.
  for (const c of db.collections) options.prepare?.(c);
  let replaying = true;
  if (existsSync(journalPath)) {
    for (const line of readFileSync(journalPath, 'utf8').split('\n')) {
      if (!line) continue;
      let entry: Entry;
      try {
        entry = JSON.parse(line) as Entry;
      } catch {
        break; // the last append, cut short by the kill that ended the run: it was never acknowledged
      }
      apply(db, entry, options.prepare);
    }
  }
  replaying = false;

  let fd = openSync(journalPath, 'a');
  let size = fstatSync(fd).size;
  let pending: Entry[] | undefined; // inside an entity group transaction
  let discard = false; // while a failed transaction rolls back
  const record = (entry: Entry) => {
    if (replaying || discard) return;
    if (pending) pending.push(entry);
    else append([entry]);
  };
  const append = (entries: Entry[]) => {
    if (entries.length === 0) return;
    size += writeSync(fd, `${entries.map((e) => JSON.stringify(e)).join('\n')}\n`);
    if (!pending && size > Math.max(compactBytes, snapshotBytes)) compact();
  };
  const compact = () => {
    const tmp = `${snapshotPath}.tmp`;
    const snapshot = db.serialize();
    snapshotBytes = snapshot.length;
    writeFileSync(tmp, snapshot);
    renameSync(tmp, snapshotPath);
    ftruncateSync(fd, 0);
    closeSync(fd);
    fd = openSync(journalPath, 'a');
    size = 0;
  };

  const watched = new WeakSet<Collection>();
  const watch = (c: Collection) => {
    if (watched.has(c)) return;
    watched.add(c);
    const each = (d: Doc | Doc[], f: (doc: Doc) => void) => (Array.isArray(d) ? d.forEach(f) : f(d));
    c.on('insert', (d) => each(d, (doc) => record({ o: 'put', c: c.name, d: clean(doc) })));
    c.on('update', (d) => each(d, (doc) => record({ o: 'put', c: c.name, d: clean(doc) })));
    c.on('delete', (d) => each(d, (doc) => record({ o: 'del', c: c.name, d: keyOf(doc) })));
  };
  for (const c of db.collections) watch(c);
  const addCollection = db.addCollection.bind(db);
  db.addCollection = (name, opts = {}) => {
    const existed = db.getCollection(name);
    const c = addCollection(name, opts);
    if (!existed) {
      options.prepare?.(c);
      record({ o: 'add', c: name, opts });
    }
    watch(c);
    return c;
  };
  const removeCollection = db.removeCollection.bind(db);
  db.removeCollection = (name) => {
    removeCollection(name);
    record({ o: 'drop', c: name });
  };

  // Azurite runs a transaction's operations without I/O in between (its own comment says so), so
  // one buffer serves.
  const begin = store.beginBatchTransaction.bind(store);
  const end = store.endBatchTransaction.bind(store);
  store.beginBatchTransaction = async (batchId) => {
    await begin(batchId);
    pending = [];
  };
  store.endBatchTransaction = async (account, table, batchId, context, succeeded) => {
    const entries = pending ?? [];
    pending = undefined;
    discard = !succeeded;
    try {
      await end(account, table, batchId, context, succeeded);
    } finally {
      discard = false;
    }
    if (succeeded) append(entries);
  };

  compact();
  return {
    close() {
      compact();
      closeSync(fd);
    },
  };
}

function apply(db: Db, entry: Entry, prepare?: (c: Collection) => void): void {
  if (entry.o === 'add') {
    if (!db.getCollection(entry.c)) prepare?.(db.addCollection(entry.c, entry.opts));
    return;
  }
  if (entry.o === 'drop') {
    if (db.getCollection(entry.c)) db.removeCollection(entry.c);
    return;
  }
  const c = db.getCollection(entry.c);
  if (!c) return;
  const existing = c.findOne(keyOf(entry.d));
  if (existing) c.remove(existing);
  if (entry.o === 'put') c.insert({ ...entry.d });
}
