// `service.sync`: brings one exported service on a fleet's hub to what its members say now — the
// hub half of fleet-networking (its internalserviceexport, serviceimport, internalserviceimport and
// endpointsliceexport controllers), serverless: queue-triggered by the agents' writes, coalesced per
// service, level-triggered (every pass reads the service's exports, imports and the members, and
// writes only what differs). For service `ns/name`:
// - the exports (InternalServiceExports naming it) of members that are joined and healthy are
//   resolved (shared/domain/networking/conflicts.ts: oldest wins, ports as a set), and each export's
//   Conflict condition says the verdict;
// - the ServiceImport `ns/name` has the winner's ports and the non-conflicting clusters (none left:
//   it goes);
// - every InternalServiceImport naming it (any number of importers: Azure Fleet allows one) gets the
//   ServiceImport's status, and in its member's namespace an EndpointSliceImport for each
//   EndpointSliceExport of the clusters behind the import; EndpointSliceImports of clusters no longer
//   behind it (unexported, in conflict, unhealthy, gone) are withdrawn.

import { type FleetRef, fleetRefOfId } from '../domain/armIds.js';
import type { FleetCommand } from '../domain/commands.js';
import { type ExportCandidate, type ExportedPort, resolveExports } from '../domain/networking/conflicts.js';
import { type Condition, findCondition, setCondition, timestamp } from '../hub/conditions.js';
import { type KubeObject, namespaceType } from '../hub/kinds.js';
import { hubNetworkingTypes } from '../hub/networking.js';
import { HubObjects, resourceKey } from '../hub/objects.js';
import { HubError } from '../hub/status.js';
import { HubGone, type HubRef } from '../hub/store.js';
import type { AppDeps } from './context.js';
import { memberClusterType, memberNamespace, memberOfNamespace } from './memberClusters.js';

const typeOf = (kind: string) => hubNetworkingTypes.find((t) => t.kind === kind)!;
export const serviceImportType = typeOf('ServiceImport');
export const internalServiceExportType = typeOf('InternalServiceExport');
export const internalServiceImportType = typeOf('InternalServiceImport');
export const endpointSliceExportType = typeOf('EndpointSliceExport');
export const endpointSliceImportType = typeOf('EndpointSliceImport');

const inUseBy = 'networking.fleet.azure.com/service-in-use-by';
const manager = { dryRun: false, fieldManager: 'fleet-hub-networking' };
/** Writes to a service within this window share one pass (as placements do, with a shorter window: an endpoint change is on the path a connection takes, 200–400 ms of its 3 s). */
const serviceSyncWindowMs = 200;

type Spec = Record<string, unknown>;
const specOf = (o: KubeObject) => (o.spec ?? {}) as Spec;
const refOf = (o: KubeObject, field: string) => (specOf(o)[field] ?? {}) as { clusterId?: string; namespacedName?: string; exportedSince?: string };

/** The service (`ns/name`) an agent's export or import is about. */
export function serviceOf(kind: string, o: KubeObject | undefined): string | undefined {
  if (!o?.spec) return undefined;
  const field =
    kind === 'InternalServiceExport'
      ? refOf(o, 'serviceReference').namespacedName
      : kind === 'InternalServiceImport'
        ? refOf(o, 'serviceImportReference').namespacedName
        : kind === 'EndpointSliceExport'
          ? (specOf(o).ownerServiceReference as { namespacedName?: string } | undefined)?.namespacedName
          : undefined;
  return typeof field === 'string' && /^[^/]+\/[^/]+$/.test(field) ? field : undefined;
}

/** Asks for a pass over each service, a window after the writes (the writes of one window share it). */
export async function requestServiceSync(deps: Pick<AppDeps, 'queue' | 'now'>, fleet: FleetRef, services: Iterable<string>) {
  const bucket = Math.floor(deps.now().getTime() / serviceSyncWindowMs);
  const notBefore = new Date((bucket + 2) * serviceSyncWindowMs);
  await Promise.all(
    [...new Set(services)].map((serviceName) =>
      deps.queue.send({ operationId: `service.${serviceName.replace('/', '.')}.${bucket}`, kind: 'service.sync', fleet, serviceName }, { notBefore }),
    ),
  );
}

/** A member's health or membership changed: every service it exports or imports is looked at again. */
export async function onMemberNetworkChange(deps: AppDeps, fleet: FleetRef, hub: HubRef, member: string): Promise<void> {
  const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, hub);
  const namespace = memberNamespace(member);
  const services = new Set<string>();
  for (const t of [internalServiceExportType, internalServiceImportType])
    for (const { object } of await objects.listAll(t, namespace)) {
      const s = serviceOf(t.kind, object);
      if (s) services.add(s);
    }
  // (Two partition queries a member whose health flips; an importer's EndpointSliceImports follow its InternalServiceImports.)
  if (services.size) await requestServiceSync(deps, fleet, services);
}

export async function syncService(deps: AppDeps, command: FleetCommand): Promise<void> {
  const service = command.serviceName;
  if (!service) return;
  const fleet = (await deps.store.readFleet(command.fleet)).fleet?.value;
  if (!fleet?.hub?.ready) return;
  const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, { name: fleet.hub.name, table: fleet.hub.table });
  try {
    await sync(objects, service, deps.now());
  } catch (e) {
    if (e instanceof HubGone) return;
    throw e;
  }
}

const conditionOf = (o: KubeObject | undefined, type: string) => findCondition((o?.status as { conditions?: Condition[] } | undefined)?.conditions, type);

/** A member whose endpoints may stand behind an import: joined, healthy, not leaving, its cluster there. */
function serving(mc: KubeObject | undefined): boolean {
  if (!mc || mc.metadata.deletionTimestamp) return false;
  return conditionOf(mc, 'Joined')?.status === 'True' && conditionOf(mc, 'Healthy')?.status === 'True' && conditionOf(mc, 'ClusterFound')?.status !== 'False';
}

const ignoreGone = (e: unknown) => {
  if (!(e instanceof HubError && (e.code === 404 || e.code === 409))) throw e;
};
/** A create that lost to another writer (or whose namespace went) is not made: the next pass sees what won. */
const unlessGone = (e: unknown): undefined => {
  ignoreGone(e);
  return undefined;
};
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

async function sync(objects: HubObjects, service: string, now: Date): Promise<void> {
  const [namespace, name] = service.split('/');
  const at = timestamp(now);
  const mine = (t: typeof internalServiceExportType) => async () =>
    (await objects.listAll(t)).map((s) => s.object).filter((o) => !o.metadata.deletionTimestamp && serviceOf(t.kind, o) === service);
  const [exports, imports, sliceExports, given] = await Promise.all([
    mine(internalServiceExportType)(),
    mine(internalServiceImportType)(),
    mine(endpointSliceExportType)(),
    objects
      .listAll(endpointSliceImportType)
      .then((all) =>
        all.map((s) => s.object).filter((o) => (specOf(o).ownerServiceReference as { namespacedName?: string } | undefined)?.namespacedName === service),
      ),
  ]);
  const memberOf = (o: KubeObject) => memberOfNamespace(o.metadata.namespace) ?? '';
  // The MemberClusters of the members this service involves, by name (a fleet may have 10,000
  // members and a service a handful; 13 names a query).
  const involved = [...new Set([...exports, ...imports].map(memberOf))].filter(Boolean);
  const members = new Map(
    (await objects.deps.store.getMany(objects.hub, resourceKey(memberClusterType), '', involved)).map((s) => [s.object.metadata.name!, s.object] as const),
  );

  // The exports of serving members, resolved; each export's Conflict says the verdict.
  const candidates: ExportCandidate[] = exports
    .filter((e) => serving(members.get(memberOf(e))) && refOf(e, 'serviceReference').clusterId === memberOf(e))
    .map((e) => ({
      member: memberOf(e),
      ports: (specOf(e).ports ?? []) as ExportedPort[],
      since: refOf(e, 'serviceReference').exportedSince ?? e.metadata.creationTimestamp ?? at,
    }));
  const resolution = resolveExports(service, candidates);
  for (const e of exports) {
    const verdict = resolution.verdicts.get(memberOf(e));
    if (!verdict) continue;
    const conditions = setCondition(
      (e.status as { conditions?: Condition[] } | undefined)?.conditions,
      {
        type: 'Conflict',
        status: verdict.conflict ? 'True' : 'False',
        reason: verdict.reason,
        message: verdict.message,
        observedGeneration: e.metadata.generation,
      },
      at,
    );
    if (same(conditions, (e.status as { conditions?: Condition[] } | undefined)?.conditions)) continue;
    await objects
      .update(
        internalServiceExportType,
        e.metadata.namespace,
        e.metadata.name!,
        { ...e, status: { ...(e.status ?? {}), conditions } },
        {
          ...manager,
          subresource: 'status',
        },
      )
      .catch(ignoreGone);
  }

  // The ServiceImport: the winner's ports and the clusters behind it, and who imports it.
  const importers = [...new Set(imports.map(memberOf))].sort();
  const status = resolution.winner
    ? { type: 'ClusterSetIP', ports: resolution.winner.ports, clusters: resolution.clusters.map((cluster) => ({ cluster })) }
    : undefined;
  const current = await objects.read(serviceImportType, namespace, name);
  if (!status) {
    if (current) await objects.delete(serviceImportType, namespace, name, { dryRun: false }).catch(ignoreGone);
  } else {
    const annotations: Record<string, string> = {
      ...(current?.object.metadata.annotations ?? {}),
      // As fleet-networking records it, for tools that read it; every importer, not one.
      [inUseBy]: JSON.stringify({ MemberClusters: Object.fromEntries(importers.map((m) => [memberNamespace(m), m])) }),
    };
    if (!importers.length) delete annotations[inUseBy];
    // The import lives in the service's namespace on the hub (where users keep what they place); without it, none yet.
    const exists = await objects.read(namespaceType, undefined, namespace);
    if (!current && exists) {
      const made = await objects
        .create(
          serviceImportType,
          namespace,
          { apiVersion: 'networking.fleet.azure.com/v1alpha1', kind: 'ServiceImport', metadata: { name, namespace, annotations } },
          manager,
        )
        .catch(unlessGone);
      if (made) await objects.update(serviceImportType, namespace, name, { ...made, status }, { ...manager, subresource: 'status' }).catch(ignoreGone);
    } else if (current) {
      if (!same(current.object.metadata.annotations, annotations))
        await objects
          .update(serviceImportType, namespace, name, { ...current.object, metadata: { ...current.object.metadata, annotations } }, manager)
          .catch(ignoreGone);
      if (!same(current.object.status, status))
        await objects.update(serviceImportType, namespace, name, { ...current.object, status }, { ...manager, subresource: 'status' }).catch(ignoreGone);
    }
  }

  // Each importer: the import's status, and the endpoints of the clusters behind it.
  const behind = new Set(resolution.clusters);
  const slices = sliceExports.filter((s) => behind.has(memberOf(s)) && refOf(s, 'endpointSliceReference').clusterId === memberOf(s));
  const importing = new Set(imports.map(memberOf));
  // The importers at once (each in its own namespace, so they never race): an endpoint change
  // waited on ten importers' writes one after another.
  await Promise.all(
    imports.map(async (isi) => {
      const importer = memberOf(isi);
      const wanted = status ?? {};
      if (!same(isi.status ?? {}, wanted))
        await objects
          .update(internalServiceImportType, isi.metadata.namespace, isi.metadata.name!, { ...isi, status: wanted }, { ...manager, subresource: 'status' })
          .catch(ignoreGone);
      await syncSliceImports(
        objects,
        importer,
        given.filter((o) => memberOf(o) === importer),
        status && serving(members.get(importer)) ? slices : [],
      );
    }),
  );
  // Members that no longer import it: what they were given goes.
  for (const o of given)
    if (!importing.has(memberOf(o))) await objects.delete(endpointSliceImportType, o.metadata.namespace, o.metadata.name!, { dryRun: false }).catch(ignoreGone);
}

/** An importer's EndpointSliceImports of a service (`have`): one per exported slice, named as it, the rest withdrawn. */
async function syncSliceImports(objects: HubObjects, importer: string, have: KubeObject[], slices: KubeObject[]) {
  const namespace = memberNamespace(importer);
  const byName = new Map(have.map((o) => [o.metadata.name!, o]));
  const wanted = new Set<string>();
  for (const s of slices) {
    const sliceName = s.metadata.name!;
    wanted.add(sliceName);
    const existing = byName.get(sliceName);
    if (existing && same(existing.spec, s.spec)) continue;
    const body: KubeObject = {
      apiVersion: 'networking.fleet.azure.com/v1alpha1',
      kind: 'EndpointSliceImport',
      metadata: { ...(existing?.metadata ?? {}), name: sliceName, namespace },
      spec: s.spec,
    };
    if (existing) await objects.update(endpointSliceImportType, namespace, sliceName, body, manager).catch(ignoreGone);
    else await objects.create(endpointSliceImportType, namespace, body, manager).catch(ignoreGone);
  }
  for (const o of have)
    if (!wanted.has(o.metadata.name!)) await objects.delete(endpointSliceImportType, namespace, o.metadata.name!, { dryRun: false }).catch(ignoreGone);
}

/** The safety net (the resync timer, with placements): every exported or imported service of every hub is asked to sync. */
export async function resyncServices(deps: AppDeps): Promise<{ services: number }> {
  let count = 0;
  for await (const { name, record } of deps.hubs.list()) {
    const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, { name, table: record.table });
    const services = new Set<string>();
    try {
      for (const t of [internalServiceExportType, internalServiceImportType])
        for (const { object } of await objects.listAll(t)) {
          const s = serviceOf(t.kind, object);
          if (s) services.add(s);
        }
      // An import whose last export is gone: its pass deletes it.
      for (const { object } of await objects.listAll(serviceImportType)) services.add(`${object.metadata.namespace}/${object.metadata.name}`);
    } catch (e) {
      if (e instanceof HubGone) continue; // the hub went away meanwhile
      throw e;
    }
    if (!services.size) continue;
    await requestServiceSync(deps, fleetRefOfId(record.fleetId), services);
    count += services.size;
  }
  return { services: count };
}
