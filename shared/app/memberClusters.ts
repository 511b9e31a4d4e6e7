// A hub's view of its fleet's ARM members, as Azure writes it (anchors §2.1): each joined member
// is a cluster-scoped MemberCluster of the same name, with namespace fleet-member-<name> and its
// InternalMemberCluster (state Join). The ARM member record is the one source of truth for labels
// and identity; the worker writes this view from it on every member operation (level-triggered, so
// a write lost halfway is repaired by the next one), and the hub sends label edits back to it.
import { fleetId, fleetRefOfId } from '../domain/armIds.js';
import type { FleetRecord, MemberRecord } from '../domain/model.js';
import { reservedLabelPrefixes } from '../domain/requests.js';
import { builtInTypes, type KubeObject, namespaceType, type ResourceType } from '../hub/kinds.js';
import { HubObjects, keyOf } from '../hub/objects.js';
import { HubError } from '../hub/status.js';
import { HubWriteConflict } from '../hub/store.js';
import { type AppDeps, newETag } from './context.js';
import { memberChanges, onMemberChange } from './placementTriggers.js';

export const memberClusterType = builtInTypes.find((t) => t.kind === 'MemberCluster')!;
export const internalMemberClusterType = builtInTypes.find((t) => t.kind === 'InternalMemberCluster')!;
export const memberNamespace = (member: string) => `fleet-member-${member}`;

/** On an InternalMemberCluster: the principal the fleet records for the member's agent. */
export const recordedIdentityAnnotation = 'fleet.azure.com/member-identity';
/** The member a `fleet-member-<name>` namespace belongs to, if it is one. */
export const memberOfNamespace = (ns: string | undefined) => (ns?.startsWith('fleet-member-') ? ns.slice('fleet-member-'.length) : undefined);
const manager = 'fleet-manager';

export const isReservedLabel = (key: string) => reservedLabelPrefixes.some((p) => key.startsWith(p));

/** The labels the fleet puts on a member's MemberCluster, from the ARM member. */
export function fleetLabels(member: MemberRecord): Record<string, string> {
  const cluster = member.clusterResourceId.split('/');
  return {
    'fleet.azure.com/location': member.joined?.location ?? '',
    'fleet.azure.com/resource-group': (cluster[4] ?? '').toLowerCase(),
    'fleet.azure.com/subscription-id': (cluster[2] ?? '').toLowerCase(),
  };
}

export const userLabels = (labels: Record<string, string> | undefined) => Object.fromEntries(Object.entries(labels ?? {}).filter(([k]) => !isReservedLabel(k)));

const options = { dryRun: false, fieldManager: manager };

/** Creates `t/name` as `desired`, or brings what is there to it (keeping what others own: status, taints, finalizers). */
/** Returns what was there before (undefined: it was created) and what is there now. */
async function converge(
  objects: HubObjects,
  t: ResourceType,
  namespace: string | undefined,
  desired: KubeObject,
  merge: (current: KubeObject) => KubeObject,
): Promise<{ before?: KubeObject; after?: KubeObject }> {
  const key = keyOf(t, namespace, desired.metadata.name!);
  for (let attempt = 0; attempt < 3; attempt++) {
    const stored = await objects.deps.store.get(objects.hub, key);
    const current = stored && !stored.deleted ? stored : undefined;
    try {
      if (!current) return { after: await objects.create(t, namespace, desired, { ...options, existing: stored ?? null }) };
      // Going away (the member is leaving): left be.
      if (current.object.metadata.deletionTimestamp) return { before: current.object, after: current.object };
      return { before: current.object, after: await objects.update(t, namespace, desired.metadata.name!, merge(current.object), { ...options, current }) };
    } catch (e) {
      const lost = e instanceof HubWriteConflict || (e instanceof HubError && e.code === 409);
      if (!lost || attempt === 2) throw e;
    }
  }
  throw new Error('unreachable');
}

/** Writes the hub's view of a joined member: its namespace, InternalMemberCluster and MemberCluster. */
export async function mirrorMember(deps: AppDeps, fleet: FleetRecord, member: MemberRecord): Promise<void> {
  const hub = fleet.hub;
  if (!hub?.ready || !member.joined) return;
  const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, { name: hub.name, table: hub.table });
  const name = member.ref.memberName;
  const ns = memberNamespace(name);
  const heartbeatPeriodSeconds = deps.heartbeatPeriodSeconds;
  await converge(
    objects,
    namespaceType,
    undefined,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'fleet.azure.com/member': name } } },
    (c) => c,
  );
  // The identity the fleet records, on the object each heartbeat writes: a heartbeat's answer says
  // when the fleet stopped accepting the caller (memberAgents.ts agentReported), so the hub's
  // memory of accepted agents can be long without an old identity outliving a change.
  const imcAnnotations = { [recordedIdentityAnnotation]: member.joined.principalId };
  const imc: KubeObject = {
    apiVersion: 'cluster.kubernetes-fleet.io/v1',
    kind: 'InternalMemberCluster',
    metadata: { name, namespace: ns, annotations: imcAnnotations },
    spec: { state: 'Join', heartbeatPeriodSeconds },
  };
  await converge(objects, internalMemberClusterType, ns, imc, (c) => ({
    ...c,
    metadata: { ...c.metadata, annotations: { ...(c.metadata.annotations ?? {}), ...imcAnnotations } },
    spec: { ...(c.spec as object), state: 'Join', heartbeatPeriodSeconds },
  }));
  const labels = { ...fleetLabels(member), ...(member.labels ?? {}) };
  const identity = { kind: 'User', name: member.joined.principalId, apiGroup: 'rbac.authorization.k8s.io' };
  const annotations = { 'fleet.azure.com/cluster-resource-id': member.clusterResourceId };
  const mc: KubeObject = {
    apiVersion: 'cluster.kubernetes-fleet.io/v1',
    kind: 'MemberCluster',
    metadata: { name, labels, annotations },
    spec: { identity, heartbeatPeriodSeconds },
  };
  const { before, after } = await converge(objects, memberClusterType, undefined, mc, (c) => ({
    ...c,
    metadata: { ...c.metadata, labels, annotations: { ...(c.metadata.annotations ?? {}), ...annotations } },
    spec: { ...(c.spec as object), identity, heartbeatPeriodSeconds },
  }));
  // Relabelled on ARM: the placements that select by labels look again (a new member waits for its agent's Joined).
  if (before) await onMemberChange(deps, fleet.ref, objects.hub, name, memberChanges(before, after));
}

/** Removes the hub's view of a member that left: its MemberCluster, and its namespace with what is in it. */
export async function unmirrorMember(deps: AppDeps, fleet: FleetRecord, memberName: string): Promise<void> {
  const hub = fleet.hub;
  if (!hub?.ready) return;
  const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, { name: hub.name, table: hub.table });
  for (const [t, ns, name] of [
    [memberClusterType, undefined, memberName],
    [namespaceType, undefined, memberNamespace(memberName)],
  ] as const) {
    const current = await objects.read(t, ns, name);
    if (!current) continue;
    // The fleet's own finalizers never hold a leaving member (its agent has left by now: agentLeft).
    if ((current.object.metadata.finalizers ?? []).length)
      await objects.update(t, ns, name, { ...current.object, metadata: { ...current.object.metadata, finalizers: [] } }, { ...options, current });
    await objects.delete(t, ns, name, { dryRun: false }).catch((e) => {
      if (!(e instanceof HubError && e.code === 404)) throw e;
    });
  }
  // Gone from the fleet: every placement holding it lets it go (and PickN picks another).
  await onMemberChange(deps, fleet.ref, objects.hub, memberName, ['left']);
}

/**
 * A label edit made on the hub (kubectl label membercluster) goes to the ARM member first, the one
 * source of truth; the worker's next mirror, or the caller's write that follows, brings the
 * MemberCluster to it.
 */
export async function setMemberLabelsFromHub(deps: AppDeps, fleetArmId: string, memberName: string, labels: Record<string, string>): Promise<void> {
  const ref = fleetRefOfId(fleetArmId);
  const { members } = await deps.store.readFleet(ref, { includeFleet: false, memberName });
  const member = members[0];
  if (!member)
    throw new HubError(
      404,
      'NotFound',
      `memberclusters.cluster.kubernetes-fleet.io "${memberName}" not found: fleet '${fleetId(ref)}' has no member '${memberName}'`,
    );
  if (member.value.provisioningState !== 'Succeeded' && member.value.provisioningState !== 'Failed')
    throw new HubError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on memberclusters.cluster.kubernetes-fleet.io "${memberName}": the ARM member is ${member.value.provisioningState}; try again when its operation has finished`,
    );
  const at = deps.now().toISOString();
  const next: MemberRecord = {
    ...member.value,
    labels,
    eTag: newETag(),
    systemData: { ...member.value.systemData, lastModifiedAt: at },
  };
  try {
    await deps.store.commit(ref, [{ op: 'replace', row: { kind: 'member', value: next }, version: member.version }]);
  } catch (e) {
    if ((e as Error).name === 'ConcurrencyError')
      throw new HubError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on memberclusters.cluster.kubernetes-fleet.io "${memberName}": the ARM member changed meanwhile; try again`,
      );
    throw e;
  }
}

/**
 * Whether a leaving member may be removed now. KubeFleet's handshake: the fleet sets its
 * InternalMemberCluster to Leave, the agent takes away what the fleet placed and reports Joined
 * False (reason MemberLeft) — the hub then sends the delete again. It never hangs: a member whose
 * cluster is known to be gone, or whose agent never reported, goes at once; one whose agent does not
 * answer goes after forceDeleteSeconds (the sweeper sends a stuck delete again until then).
 */
export async function agentLeft(
  deps: AppDeps,
  fleet: FleetRecord,
  member: MemberRecord,
  startedAt: string | undefined,
): Promise<{ done: true; how: string } | { done: false }> {
  const hub = fleet.hub;
  if (!hub?.ready) return { done: true, how: 'the fleet has no hub' };
  if (member.agentIssue?.code === 'MemberClusterDeleted') return { done: true, how: 'its cluster is gone' };
  const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, { name: hub.name, table: hub.table });
  const name = member.ref.memberName;
  const imc = await objects.read(internalMemberClusterType, memberNamespace(name), name);
  if (!imc) return { done: true, how: 'it has no InternalMemberCluster' };
  const status = (imc.object.status ?? {}) as { agentStatus?: { type: string; conditions?: { type: string; status: string; reason?: string }[] }[] };
  const agent = status.agentStatus?.find((a) => a.type === 'MemberAgent');
  if (!agent) return { done: true, how: 'its agent never reported' };
  const spec = (imc.object.spec ?? {}) as { state?: string };
  if (spec.state === 'Leave' && agent.conditions?.some((c) => c.type === 'Joined' && c.status === 'False')) return { done: true, how: 'its agent left' };
  const waited = startedAt ? deps.now().getTime() - Date.parse(startedAt) : 0;
  if (waited >= deps.forceDeleteSeconds * 1000) return { done: true, how: `its agent did not leave within ${deps.forceDeleteSeconds} s: removed by force` };
  // A merge patch: the agent writes the status meanwhile, and a patch is applied again over it.
  if (spec.state !== 'Leave') await objects.patch(internalMemberClusterType, memberNamespace(name), name, 'merge', { spec: { state: 'Leave' } }, options);
  return { done: false };
}
