// What the agent's fleet-networking controllers share: the shape of the metadata they read, the
// 404 handling of objects that may be gone, and the member's own networking objects on the hub.
import { ApiException, type CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { timestamp } from '../shared/hub/conditions.js';
import { networkingGroup } from '../shared/hub/networking.js';

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** What the last pass of each controller found; unset until the first pass (which always asks the hub). */
export interface NetworkingMemory {
  exported?: boolean;
  imported?: boolean;
  /** Each imported service (ns/name) and its derived Service, as the last import pass found them. */
  derived?: Map<string, string>;
}

/** What the controllers run with: the member, its cluster, the hub (the agent's token). */
export interface NetworkingContext {
  memberName: string;
  /** The member's own cluster. */
  cluster: KubeConfig;
  /** The hub's custom objects (the agent's token). */
  hub: CustomObjectsApi;
  now: () => Date;
  log: (line: string) => void;
  /** What the last pass found (networkingLoop.ts): a member that exports or imports nothing asks the hub nothing. */
  memory?: NetworkingMemory;
}

/** The metadata fields the controllers read (custom objects come as plain JSON). */
export interface Meta {
  name: string;
  namespace: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  finalizers?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export const isMissing = (e: unknown) => e instanceof ApiException && e.code === 404;
export const ignoreMissing = (e: unknown) => {
  if (!isMissing(e)) throw e;
};
/** The value, or undefined when the object (or its kind) is not there. */
export const orNone = <T>(p: Promise<T>) =>
  p.catch((e) => {
    ignoreMissing(e);
    return undefined;
  });

/** A failed call in a line: the Status message when the API server sent one. */
export const whyFailed = (e: unknown) => {
  if (!(e instanceof ApiException)) return (e as Error).message;
  try {
    return `${e.code} ${(JSON.parse(String(e.body)) as { message?: string }).message ?? ''}`;
  } catch {
    return `${e.code}: ${String(e.body).slice(0, 300)}`;
  }
};

/** The member's objects of one hub networking kind, in its fleet-member namespace. */
export function memberHubObjects<T extends { metadata: { name: string } }>(hub: CustomObjectsApi, member: string, plural: string) {
  const at = { group: networkingGroup, version: 'v1alpha1', namespace: `fleet-member-${member}`, plural };
  return {
    at,
    async list(): Promise<T[]> {
      return ((await hub.listNamespacedCustomObject(at)) as { items: T[] }).items;
    },
    async delete(name: string): Promise<void> {
      await hub.deleteNamespacedCustomObject({ ...at, name }).catch(ignoreMissing);
    },
    /** Deletes every one whose name `keep` does not hold; returns how many went. */
    async deleteAllBut(items: T[], keep: ReadonlySet<string>): Promise<number> {
      let gone = 0;
      for (const i of items)
        if (!keep.has(i.metadata.name)) {
          await this.delete(i.metadata.name);
          gone++;
        }
      return gone;
    },
  };
}

/** A time the client may have parsed into a Date, as the API's RFC 3339 string. */
export const iso = (t: string | Date | undefined): string | undefined => (t instanceof Date ? timestamp(t) : t);

/**
 * fleet-networking's ExportedObjectReference: the member's object an export or import stands for,
 * naming the member as its cluster (the hub refuses one naming another: memberAgents.ts).
 */
export function exportedReference(
  member: string,
  apiVersion: string,
  kind: string,
  o: { metadata?: { namespace?: string; name?: string; resourceVersion?: string; generation?: number; uid?: string; creationTimestamp?: string | Date } },
  since: string | Date | undefined,
) {
  const namespace = o.metadata?.namespace ?? '';
  const name = o.metadata?.name ?? '';
  return {
    clusterId: member,
    apiVersion,
    kind,
    namespace,
    name,
    resourceVersion: o.metadata?.resourceVersion ?? '',
    generation: o.metadata?.generation ?? 0,
    uid: o.metadata?.uid ?? '',
    namespacedName: `${namespace}/${name}`,
    exportedSince: iso(since) ?? timestamp(new Date()),
  };
}
