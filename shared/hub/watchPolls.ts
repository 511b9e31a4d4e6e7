// Watches of the same rows on one host share one storage poll. Table Storage has no change feed,
// so each watch asks for rows changed since what it has seen; a hundred `kubectl get -w` and
// reflectors on one partition would make a hundred queries a second. Instead each watch waits on
// its scope's next poll (a hub's table, one kind, one namespace or one name): the host makes one
// query a poll period for all of them, from the oldest version any of them still needs, and hands
// each the rows, which it filters by what it has sent (a superset is safe: a watch skips what it
// has seen). Cost grows with the scopes being watched, not with the watchers.
//
// A write made on the same host wakes the watches of its rows at once (wakingWatches): their poll
// runs now rather than at the end of its period. Writes on other hosts are seen at the next poll.
import type { HubRef, HubStore, ObjectKey, StoredObject } from './store.js';

interface Waiter {
  from: string;
  resolve: (rows: StoredObject[]) => void;
  reject: (e: unknown) => void;
}

interface Scope {
  waiters: Waiter[];
  timer?: NodeJS.Timeout;
  /** When the last poll started (ms): the next starts a period after it. */
  lastAt: number;
  fetch?: (from: string) => Promise<StoredObject[]>;
  /** A write came while a poll ran (it may have missed the write): the next poll is at once. */
  woken?: boolean;
}

/** How long a woken poll waits, gathering the writes of one burst into one poll. */
const wakeDelayMs = 20;

/** The key of a watch scope: a hub's table, one kind, one namespace ('' for all, or cluster-scoped), one name or none. */
export function watchScopeKey(table: string, resource: string, namespace: string, name: string | null): string {
  return JSON.stringify([table, resource, namespace, name]);
}

/** A write on this host: the watches that may see it poll now. */
export function wakeWatches(table: string, key: ObjectKey): void {
  for (const k of new Set([
    watchScopeKey(table, key.resource, key.namespace, null),
    watchScopeKey(table, key.resource, '', null),
    watchScopeKey(table, key.resource, key.namespace, key.name),
  ])) {
    const s = scopes.get(k);
    if (!s || s.waiters.length === 0 || !s.fetch) {
      if (s) s.woken = true;
      continue;
    }
    if (!s.timer) {
      s.woken = true;
      continue;
    }
    clearTimeout(s.timer);
    const fetch = s.fetch;
    s.timer = setTimeout(() => void run(k, fetch), wakeDelayMs);
  }
}

/** `store`, whose writes wake this host's watches of what they wrote. */
export function wakingWatches(store: HubStore): HubStore {
  return {
    ...store,
    async put(hub: HubRef, key: ObjectKey, object, options) {
      const rv = await store.put(hub, key, object, options);
      wakeWatches(hub.table, key);
      return rv;
    },
    async tombstone(hub: HubRef, key: ObjectKey, object, previous) {
      await store.tombstone(hub, key, object, previous);
      wakeWatches(hub.table, key);
    },
  };
}

const scopes = new Map<string, Scope>();

/** How many storage polls the host has made for watches (the bench and tests read it). */
export const watchPollCount = { value: 0 };

async function run(key: string, fetch: (from: string) => Promise<StoredObject[]>): Promise<void> {
  const scope = scopes.get(key);
  if (!scope) return;
  scope.timer = undefined;
  const waiters = scope.waiters.splice(0);
  if (waiters.length === 0) {
    scopes.delete(key);
    return;
  }
  scope.lastAt = Date.now();
  // resourceVersions are fixed-width digit strings: the oldest is the least.
  let from = waiters[0].from;
  for (const w of waiters) if (w.from < from) from = w.from;
  watchPollCount.value++;
  try {
    const rows = await fetch(from);
    for (const w of waiters) w.resolve(rows.filter((r) => r.rv > w.from));
  } catch (e) {
    for (const w of waiters) w.reject(e);
  }
  // A scope nobody waits on a while later is forgotten.
  setTimeout(() => {
    if (!scope.timer && scope.waiters.length === 0 && scopes.get(key) === scope) scopes.delete(key);
  }, 60_000).unref();
}

/**
 * The rows of `key`'s scope with a resourceVersion above `from`, from the scope's next poll (at
 * most `pollMs` after the one before it; at once if there was none lately). `fetch` reads the
 * scope from a version on; every caller of a key passes the same one. An abort resolves with none.
 */
export function nextChanges(
  key: string,
  from: string,
  fetch: (from: string) => Promise<StoredObject[]>,
  pollMs: number,
  signal?: AbortSignal,
): Promise<StoredObject[]> {
  let scope = scopes.get(key);
  if (!scope) {
    scope = { waiters: [], lastAt: 0 };
    scopes.set(key, scope);
  }
  const s = scope;
  return new Promise<StoredObject[]>((resolve, reject) => {
    if (signal?.aborted) return resolve([]);
    // The abort listener goes when the poll answers: a watch waits on a poll a second for half an
    // hour, and each left one behind on its request's signal (MaxListenersExceededWarning).
    const onAbort = () => {
      const i = s.waiters.indexOf(waiter);
      if (i >= 0) s.waiters.splice(i, 1);
      resolve([]);
    };
    const settle =
      <T>(f: (v: T) => void) =>
      (v: T) => {
        signal?.removeEventListener('abort', onAbort);
        f(v);
      };
    const waiter: Waiter = { from, resolve: settle(resolve), reject: settle(reject) };
    s.waiters.push(waiter);
    signal?.addEventListener('abort', onAbort, { once: true });
    s.fetch = fetch;
    if (!s.timer) {
      const delay = s.woken ? wakeDelayMs : Math.max(0, s.lastAt + pollMs - Date.now());
      s.woken = false;
      s.timer = setTimeout(() => void run(key, fetch), delay);
    }
  });
}
