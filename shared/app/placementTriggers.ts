// What asks a placement to be synced again, and how those asks coalesce. A change enqueues only the
// placements it can affect: a placement's own edit; a selected resource's write; an override bound to
// it; a member that becomes eligible (PickAll, a PickN still short, a PickFixed naming it), changes
// its labels, taints or — for placements that select by them — properties; a member that leaves (the
// placements holding it). Each ask is a `placement.sync` message whose id names the placement and a
// 400 ms window and that is delivered a window after it ends: Service Bus drops the window's other
// asks as duplicates, so resources changed together make one snapshot, not one each.
import { createHash } from 'node:crypto';
import { type FleetRef, fleetRefOfId } from '../domain/armIds.js';
import { matchesSelector } from '../domain/placement/selectors.js';
import { parsePlacementSpec } from '../domain/placement/spec.js';
import type { Condition } from '../hub/conditions.js';
import { builtInTypes, type KubeObject } from '../hub/kinds.js';
import { HubObjects } from '../hub/objects.js';
import type { HubRef } from '../hub/store.js';
import type { AppDeps } from './context.js';
import { onMemberNetworkChange } from './serviceImports.js';

export const placementSyncWindowMs = 400;
const placementGroup = 'placement.kubernetes-fleet.io';
const crpType = builtInTypes.find((t) => t.kind === 'ClusterResourcePlacement')!;
const namespaceType = builtInTypes.find((t) => t.kind === 'Namespace')!;

const messageIdOf = (name: string, bucket: number) => {
  const id = `placement.${name}.${bucket}`;
  return id.length <= 128 ? id : `placement.${createHash('sha256').update(name).digest('hex')}.${bucket}`;
};

/** Asks for the placements to be synced at the end of the current window (or of the window `at` falls in). */
export async function requestPlacementSync(deps: Pick<AppDeps, 'queue' | 'now'>, fleet: FleetRef, names: Iterable<string>, options: { at?: Date } = {}) {
  const bucket = Math.floor((options.at ?? deps.now()).getTime() / placementSyncWindowMs);
  // Delivered a window after its own ends: a change in the next window is in the same pass too (the
  // next window's message then finds nothing new), so changes within 400 ms of each other always
  // make one snapshot, and within 800 ms mostly.
  const notBefore = new Date((bucket + 2) * placementSyncWindowMs);
  await Promise.all(
    [...new Set(names)].map((placementName) =>
      deps.queue.send({ operationId: messageIdOf(placementName, bucket), kind: 'placement.sync', fleet, placementName }, { notBefore }),
    ),
  );
}

const placements = async (deps: AppDeps, hub: HubRef): Promise<KubeObject[]> =>
  (await new HubObjects({ store: deps.hubStore, now: deps.now }, hub).listAll(crpType, '')).map((s) => s.object);

/** 'ineligible' (no longer joined and healthy) matters to exported services, not to the scheduler. */
export type MemberChange = 'eligible' | 'ineligible' | 'labels' | 'taints' | 'properties' | 'left';

const scheduledOf = (p: KubeObject) =>
  ((p.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === 'ClusterResourcePlacementScheduled')?.status;
const holds = (p: KubeObject, member: string) =>
  ((p.status as { placementStatuses?: { clusterName?: string }[] } | undefined)?.placementStatuses ?? []).some((s) => s.clusterName === member);

/** The placements a change of one member can affect. */
export async function placementsForMember(deps: AppDeps, hub: HubRef, member: string, changes: MemberChange[]): Promise<string[]> {
  if (!changes.length) return [];
  // Agents' first heartbeats (a member becoming eligible) come in bursts: one list per 2 s serves them.
  return (await recentPlacements(deps, hub))
    .filter((p) => {
      const spec = parsePlacementSpec(p.spec);
      if (!spec.ok) return false;
      const policy = spec.value.policy;
      if (changes.includes('left')) return holds(p, member) || (policy.placementType === 'PickFixed' && !!policy.clusterNames?.includes(member));
      if (policy.placementType === 'PickFixed') return !!policy.clusterNames?.includes(member);
      const open = policy.placementType === 'PickAll' || scheduledOf(p) !== 'True';
      const affinity = policy.affinity?.clusterAffinity;
      const byProperties =
        !!affinity?.requiredDuringSchedulingIgnoredDuringExecution?.clusterSelectorTerms.some((t) => t.propertySelector) ||
        !!affinity?.preferredDuringSchedulingIgnoredDuringExecution?.some((t) => t.preference.propertySorter);
      if (changes.every((c) => c === 'properties')) return open && byProperties;
      // A member that holds it: its status follows the member (a recovered agent, new labels).
      return open || holds(p, member);
    })
    .map((p) => p.metadata.name!);
}

export async function onMemberChange(deps: AppDeps, fleet: FleetRef, hub: HubRef, member: string, changes: MemberChange[]): Promise<void> {
  const names = await placementsForMember(
    deps,
    hub,
    member,
    changes.filter((c) => c !== 'ineligible'),
  );
  if (names.length) await requestPlacementSync(deps, fleet, names);
  // A member that stops or starts serving: the services it exports and imports follow (its endpoints leave or come back).
  if (changes.some((c) => c === 'eligible' || c === 'ineligible' || c === 'left')) await onMemberNetworkChange(deps, fleet, hub, member);
}

/** What changed between two views of a MemberCluster that the scheduler reads. */
export function memberChanges(before: KubeObject | undefined, after: KubeObject | undefined): MemberChange[] {
  if (!after) return before ? ['left'] : [];
  const cond = (o: KubeObject | undefined, type: string) =>
    ((o?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === type);
  const eligible = (o: KubeObject | undefined) => cond(o, 'Joined')?.status === 'True' && cond(o, 'Healthy')?.status === 'True';
  const left = (o: KubeObject | undefined) => cond(o, 'Joined')?.status === 'False' && cond(o, 'Joined')?.reason === 'MemberLeft';
  const values = (o: KubeObject | undefined) =>
    JSON.stringify(
      Object.entries((o?.status as { properties?: Record<string, { value?: string }> } | undefined)?.properties ?? {}).map(([k, v]) => [k, v?.value]),
    );
  const out: MemberChange[] = [];
  if (left(after) && !left(before)) out.push('left');
  if (eligible(after) && !eligible(before)) out.push('eligible');
  if (!eligible(after) && eligible(before)) out.push('ineligible');
  if (JSON.stringify(before?.metadata.labels ?? {}) !== JSON.stringify(after.metadata.labels ?? {})) out.push('labels');
  if (
    JSON.stringify((before?.spec as { taints?: unknown } | undefined)?.taints ?? []) !==
    JSON.stringify((after.spec as { taints?: unknown } | undefined)?.taints ?? [])
  )
    out.push('taints');
  if (values(before) !== values(after)) out.push('properties');
  return out;
}

export interface HubWrite {
  group: string;
  /** The resource written, without a subresource. */
  plural: string;
  namespace?: string;
  name?: string;
  /** The object as written (undefined for a delete that removed it). */
  object?: KubeObject;
}

// Every user write asks which placements it affects: the hub's placements are remembered for 2 s
// (dropped at once when this process writes one), so a burst of writes costs one list, not one each.
// A placement another instance just created misses at most 2 s of changes; its own sync reads them all.
const recent = new Map<string, { at: number; items: KubeObject[] }>();
const recentMs = 2000;

async function recentPlacements(deps: AppDeps, hub: HubRef): Promise<KubeObject[]> {
  const hit = recent.get(hub.table);
  if (hit && Date.now() - hit.at < recentMs) return hit.items;
  const items = await placements(deps, hub);
  if (recent.size > 1000) recent.clear();
  recent.set(hub.table, { at: Date.now(), items });
  return items;
}

/** The placements a user's write to a hub object can affect. */
export async function placementsForWrite(deps: AppDeps, hub: HubRef, write: HubWrite): Promise<string[]> {
  if (write.group === placementGroup) {
    recent.delete(hub.table);
    if (write.plural === 'clusterresourceplacements' && write.name) return [write.name];
    const bound = (write.object?.spec as { placement?: { name?: string } } | undefined)?.placement?.name;
    if (bound) return [bound];
    if (write.plural === 'clusterresourceplacements' || write.plural === 'clusterresourceoverrides' || write.plural === 'resourceoverrides')
      return (await placements(deps, hub)).map((p) => p.metadata.name!);
    return [];
  }
  const all = await recentPlacements(deps, hub);
  if (!all.length) return [];
  const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, hub);
  const kind = write.object?.kind ?? (await objects.allTypes()).find((t) => t.group === write.group && t.plural === write.plural)?.kind;
  let namespaceLabels: Record<string, string> | undefined;
  const labelsOfNamespace = async (ns: string) => {
    namespaceLabels ??= (await objects.read(namespaceType, undefined, ns))?.object.metadata.labels ?? {};
    return namespaceLabels;
  };
  const out: string[] = [];
  for (const p of all) {
    const spec = parsePlacementSpec(p.spec);
    if (!spec.ok) continue;
    let hit = false;
    for (const s of spec.value.resourceSelectors) {
      if (write.namespace) {
        // Something in a namespace: placed by the placements that select its namespace with what is in it.
        if (s.group !== '' || s.kind !== 'Namespace' || s.selectionScope === 'NamespaceOnly') continue;
        hit = s.name !== undefined ? s.name === write.namespace : matchesSelector(s.labelSelector, await labelsOfNamespace(write.namespace));
      } else if (s.group === write.group && s.kind === kind) {
        // A deleted object's labels are unknown: every placement selecting its kind looks again.
        hit = s.name !== undefined ? s.name === write.name : !write.object || matchesSelector(s.labelSelector, write.object.metadata.labels);
        // An object relabelled out of a selector must leave the members too: the placement holding it looks again.
        if (!hit && s.labelSelector && holdsResource(p, kind, write.name)) hit = true;
      }
      if (hit) break;
    }
    if (hit) out.push(p.metadata.name!);
  }
  return out;
}

const holdsResource = (p: KubeObject, kind: string | undefined, name: string | undefined) =>
  ((p.status as { selectedResources?: { kind?: string; name?: string; namespace?: string }[] } | undefined)?.selectedResources ?? []).some(
    (r) => r.kind === kind && r.name === name && !r.namespace,
  );

export async function onHubWrite(deps: AppDeps, fleet: FleetRef, hub: HubRef, write: HubWrite): Promise<void> {
  const names = await placementsForWrite(deps, hub, write);
  if (names.length) await requestPlacementSync(deps, fleet, names);
}

/** The safety net (a timer): every placement of every hub is asked to sync, whatever was missed. */
export async function resyncPlacements(deps: AppDeps): Promise<{ placements: number }> {
  let count = 0;
  for await (const { name, record } of deps.hubs.list()) {
    const hub = { name, table: record.table };
    const all = await placements(deps, hub).catch(() => [] as KubeObject[]); // the hub went away meanwhile
    if (!all.length) continue;
    await requestPlacementSync(
      deps,
      fleetRefOfId(record.fleetId),
      all.map((p) => p.metadata.name!),
    );
    count += all.length;
  }
  return { placements: count };
}
