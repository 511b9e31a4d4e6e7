// Durable state for the local Azurite, surviving a SIGKILL: Table Storage does not lose an
// acknowledged write, and neither may the local stack, or a restart would break the very
// consistency the crash tests check. Azurite's own persistence (lokijs saving the whole database
// every 5 s) loses the last seconds on a kill, so the local Azurite runs in memory and this module
// keeps it on disk:
//   - a journal: every change to a collection, appended with a synchronous write before Azurite
//     answers (the page cache outlives the process); an entity group transaction is written as one
//     append when it commits and not at all when it rolls back, so a kill never leaves half of one;
//   - a snapshot: every collection's rows, taken at one instant (the rows the collections hold
//     then), after which a new journal starts; the old one is kept until the snapshot is on disk.
//     Taken at start and at a clean stop, and in the background when the journal outgrows the
//     last snapshot: the rows are written a slice at a time between requests, so that a snapshot of
//     a large database (200 MB at 10,000 members) does not stop Azurite for seconds, as writing it
//     in one go (lokijs's serialize) did, each time making every request wait.
// Replaying is idempotent (a row is put or removed by its keys), so a journal that overlaps its
// snapshot replays to the same state: the snapshot, the journal before it while it is still there,
// then the journal since it. (Azurite replaces a row by a new object and never changes one in
// place, so the rows held at the instant are that instant's.) No library keeps a lokijs database durably per change; this
// is the least that does.
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
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
  collections: (Collection & { binaryIndices?: Record<string, unknown>; uniqueNames?: string[] })[];
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
  // tables.json is the snapshot as lokijs serialized it, before snapshots were written in slices: read if it is the only one.
  const legacyPath = join(dir, 'tables.json');
  const snapshotPath = join(dir, 'tables.snapshot');
  const journalPath = join(dir, 'tables.journal');
  const olderPath = join(dir, 'tables.journal.1');
  const db = store.db;
  const compactBytes = options.compactBytes ?? 32 * 1024 * 1024;
  // Compacted once the journal outgrows the snapshot it would replace too: each compaction writes
  // the whole database, so a fixed threshold made a large database (10,000 members heartbeating)
  // rewrite itself every few seconds; this way writing snapshots costs at most what the journal did.
  let snapshotBytes = 0;

  if (existsSync(snapshotPath)) snapshotBytes = loadSnapshot(db, readFileSync(snapshotPath, 'utf8'));
  else if (existsSync(legacyPath)) {
    const snapshot = readFileSync(legacyPath, 'utf8');
    snapshotBytes = snapshot.length;
    db.loadJSON(snapshot);
  }
  // The caller's indexes (rows by key) before the replay looks rows up by key.
  for (const c of db.collections) options.prepare?.(c);
  let replaying = true;
  for (const path of [olderPath, journalPath]) {
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line) continue;
      let entry: Entry;
      try {
        entry = JSON.parse(line) as Entry;
      } catch {
        continue; // an append cut short by a kill (the last of its file): it was never acknowledged
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
    if (!pending && !snapshot && size > Math.max(compactBytes, snapshotBytes)) snapshot = startSnapshot();
  };

  /** A snapshot being written: the rows of the instant it began, and how far it got. */
  let snapshot: { write(slices: number): boolean } | undefined;
  // Called between requests only (never inside a transaction, whose changes are not yet final).
  const startSnapshot = () => {
    // The instant: which rows each collection holds (their references, not copies), and a new journal.
    const held = db.collections.map((c) => ({ c: c.name, opts: optionsOf(c), rows: c.data.slice() }));
    closeSync(fd);
    // The journal before a snapshot that did not finish (a kill) stays, with this one after it.
    if (existsSync(olderPath)) {
      appendFileSync(olderPath, `\n${readFileSync(journalPath, 'utf8')}`);
      rmSync(journalPath);
    } else renameSync(journalPath, olderPath);
    fd = openSync(journalPath, 'a');
    size = 0;
    const tmp = `${snapshotPath}.tmp`;
    const out = openSync(tmp, 'w');
    let bytes = writeSync(out, `${JSON.stringify({ v: 1 })}\n`);
    let collection = 0;
    let row = 0;
    let headed = false;
    const write = (slices: number) => {
      for (let n = 0; n < slices && collection < held.length; n++) {
        const h = held[collection];
        if (!headed) {
          bytes += writeSync(out, `${JSON.stringify({ c: h.c, opts: h.opts })}\n`);
          headed = true;
        }
        const rows = h.rows.slice(row, row + sliceRows).map(clean);
        if (rows.length) bytes += writeSync(out, `${JSON.stringify({ c: h.c, rows })}\n`);
        row += sliceRows;
        if (row >= h.rows.length) {
          collection++;
          row = 0;
          headed = false;
        }
      }
      if (collection < held.length) return false;
      closeSync(out);
      renameSync(tmp, snapshotPath);
      rmSync(olderPath, { force: true });
      rmSync(legacyPath, { force: true });
      snapshotBytes = bytes;
      snapshot = undefined;
      return true;
    };
    // In the background: a slice, then whatever requests came in meanwhile, then the next.
    const next = () => {
      if (snapshot?.write === write && !write(1)) setImmediate(next);
    };
    setImmediate(next);
    return { write };
  };
  /** A whole snapshot now (at start and at a clean stop): one in the background is finished first. */
  const snapshotNow = () => {
    snapshot?.write(Number.POSITIVE_INFINITY);
    startSnapshot().write(Number.POSITIVE_INFINITY);
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

  snapshotNow();
  return {
    close() {
      snapshotNow();
      closeSync(fd);
    },
  };
}

/** Rows a snapshot slice holds: small enough that writing one is a millisecond or so. */
const sliceRows = 200;

/** What a collection is created with again from a snapshot: its indexes. */
function optionsOf(c: Db['collections'][number]): object {
  const indices = Object.keys(c.binaryIndices ?? {});
  const unique = c.uniqueNames ?? [];
  return { ...(indices.length ? { indices } : {}), ...(unique.length ? { unique } : {}) };
}

/** Loads a snapshot (a header line, then per collection its options and its rows in slices); returns its size. */
function loadSnapshot(db: Db, text: string): number {
  const rows = new Map<string, Doc[]>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const entry = JSON.parse(line) as { v?: number; c?: string; opts?: object; rows?: Doc[] };
    if (entry.v !== undefined || !entry.c) continue;
    if (entry.opts) {
      // Replaces the empty one Azurite made as it started.
      if (db.getCollection(entry.c)) db.removeCollection(entry.c);
      db.addCollection(entry.c, entry.opts);
      rows.set(entry.c, []);
    } else rows.get(entry.c)?.push(...(entry.rows ?? []));
  }
  // All of a collection's rows at once: lokijs then sorts its indexes once, not at every row.
  for (const [name, docs] of rows) if (docs.length) (db.getCollection(name) as Collection & { insert(d: Doc[], bulk: boolean): unknown }).insert(docs, true);
  return text.length;
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
