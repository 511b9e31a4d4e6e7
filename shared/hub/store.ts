// The hub's storage port: Kubernetes objects of one hub, by resource, namespace and name. The
// adapter (shared/azure/hubTableStore.ts) keeps each hub in a table of its own.
import type { KubeObject } from './kinds.js';

/** Where a hub's objects live, and under which name it answers. */
export interface HubRef {
  /** The name in the hub's URL (`/hubs/<name>`). */
  name: string;
  /** The Table Storage table holding its objects. */
  table: string;
}

/** `core:configmaps`, `apps:deployments`, `example.com:widgets`. */
export type ResourceKey = string;

export interface ObjectKey {
  resource: ResourceKey;
  /** '' for cluster-scoped objects. */
  namespace: string;
  name: string;
}

export interface StoredObject {
  object: KubeObject;
  /** The object's resourceVersion (also in its metadata). */
  rv: string;
  /** The storage version, for a conditional write. */
  etag: string;
  /** Continuation rows it takes in storage. */
  parts?: number;
  /** A tombstone: the object was deleted at `rv` (kept for watches, then purged). */
  deleted?: boolean;
}

export interface ListScope {
  resource: ResourceKey;
  /** undefined: every namespace (and cluster-scoped kinds). */
  namespace?: string;
}

export interface ListPage {
  items: StoredObject[];
  continueToken?: string;
}

/** A write that lost a race (an etag no longer matches, or the row exists). */
export class HubWriteConflict extends Error {
  override name = 'HubWriteConflict';
}

/** The hub's table is gone (the fleet was deleted): its objects are too. */
export class HubGone extends Error {
  override name = 'HubGone';
}

export class BadContinueToken extends Error {
  override name = 'BadContinueToken';
}

export interface HubStore {
  createHub(hub: HubRef): Promise<void>;
  deleteHub(hub: HubRef): Promise<void>;
  /** An object or its tombstone. */
  get(hub: HubRef, key: ObjectKey): Promise<StoredObject | undefined>;
  /** The named objects of one kind and namespace that exist, in a few queries rather than a read each. */
  getMany(hub: HubRef, resource: ResourceKey, namespace: string, names: readonly string[]): Promise<StoredObject[]>;
  /** Live objects, a page at a time (limit: at most that many rows read). */
  list(hub: HubRef, scope: ListScope, page: { limit?: number; continueToken?: string }): Promise<ListPage>;
  /** Live objects and tombstones with a resourceVersion above `afterRv`. */
  changes(hub: HubRef, scope: ListScope, afterRv: string): Promise<StoredObject[]>;
  /** Writes an object over `previous` as it was read (a tombstone too; none: creates). Returns the new etag. */
  put(hub: HubRef, key: ObjectKey, object: KubeObject, options: { previous?: StoredObject }): Promise<string>;
  /** Replaces the object by a tombstone (for watchers), at the resourceVersion in its metadata. */
  tombstone(hub: HubRef, key: ObjectKey, object: KubeObject, previous: StoredObject): Promise<void>;
  /** Removes tombstones older than `beforeRv` (at most `max`). */
  purge(hub: HubRef, scope: ListScope, beforeRv: string, max: number): Promise<number>;
  /**
   * The object as this process last read or wrote it, if that was recent — possibly stale, so only
   * a base for a conditional write, which fails (HubWriteConflict) when someone wrote since and is
   * then done again from a real read. Saves a patch its read when this host wrote the object last
   * (an agent's heartbeat, every period).
   */
  recent?(hub: HubRef, key: ObjectKey): StoredObject | undefined;
}

export interface HubRecord {
  /** The fleet's ARM id, as it was created. */
  fleetId: string;
  table: string;
}

export interface HubDirectory {
  get(name: string): Promise<HubRecord | undefined>;
  put(name: string, record: HubRecord): Promise<void>;
  delete(name: string): Promise<void>;
  /** Every hub (for the member-health sweep): one query over a small table. */
  list(): AsyncIterable<{ name: string; record: HubRecord }>;
  ensureTable(): Promise<void>;
}
