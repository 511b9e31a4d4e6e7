// Member agents on the hub: who a caller is, what a member's agent may do, and what the fleet
// records when an agent authenticates as an identity it does not know (the FAQ's identity change).
//
// A person, or a caller holding an app role of the API, is a user (hub roles decide). An identity
// of an application holding none is a member agent when it acts in a `fleet-member-<name>` namespace, or when its principal is the
// identity some member records: it may read its own InternalMemberCluster and Works and write their
// status, in its own namespace, and nothing else. An agent whose principal is not the identity the
// member records is refused with a 403 that says so; the member records it (a MemberCluster
// condition, the ARM member's status), and the fleet asks ARM — at most once a minute per member —
// whether that principal is now the cluster's identity. ARM stays the only source of truth: when it
// confirms, the worker records the new identity (a `member.refresh` command, the path Event Grid
// events and `az fleet member create` take too); a token alone never changes what the fleet trusts.
import { randomUUID } from 'node:crypto';
import { fleetRefOfId } from '../domain/armIds.js';
import { clusterPrincipal, parseMemberClusterId } from '../domain/membership.js';
import type { Caller, MemberRecord } from '../domain/model.js';
import type { HubAction } from '../hub/access.js';
import type { WriteHooks } from '../hub/api.js';
import { type Condition, setCondition, timestamp } from '../hub/conditions.js';
import type { KubeObject } from '../hub/kinds.js';
import { networkingGroup } from '../hub/networking.js';
import { HubObjects, keyOf, resourceKey } from '../hub/objects.js';
import { HubError } from '../hub/status.js';
import { type HubRef, HubWriteConflict, type StoredObject } from '../hub/store.js';
import type { AppDeps } from './context.js';
import { internalMemberClusterType, memberClusterType, memberNamespace, memberOfNamespace, recordedIdentityAnnotation } from './memberClusters.js';
import { missedHeartbeats } from './memberHealth.js';
import { memberChanges, onMemberChange } from './placementTriggers.js';

/** With the ARM check off, how often a mismatch is recorded again (the principal seen, and when). */
const identityRecordIntervalMs = 60_000;
export const workType = { group: 'placement.kubernetes-fleet.io', plural: 'works' };
export const identityCondition = 'AgentIdentityAccepted';

export interface AgentCall {
  deps: AppDeps;
  hub: HubRef;
  fleetArmId: string;
  caller: Caller;
  action: HubAction;
}

/**
 * `memberCluster`: the MemberCluster as read for this request; undefined when the identity was known
 * from a recent read. `accepted`: the MemberCluster already shows this principal accepted (else the
 * agent's next report is copied onto it, whatever else changed).
 */
export type CallerKind = { kind: 'user' } | { kind: 'agent'; member: string; memberCluster?: StoredObject; accepted: boolean };

/**
 * Agents recently found to be who their member records, by hub table and member: an agent makes
 * two requests a heartbeat, and reading the MemberCluster for each was two of a heartbeat's six
 * storage requests (and, at 10,000 members, re-reading each once a minute was a quarter of a
 * request a heartbeat). Only a match is remembered, for 10 minutes: a principal the member does
 * not record is always checked against storage (so a fleet that learnt a new identity accepts it
 * at once), and an identity the fleet stopped recording is forgotten at its next heartbeat, whose
 * InternalMemberCluster names the identity recorded (recordedIdentityAnnotation), and refused
 * from the one after.
 */
const knownAgents = new Map<string, { principal: string; at: number; accepted: boolean }>();

/** Whether a MemberCluster says that `principal` is the agent it accepts (the copy names it). */
const shows = (mc: StoredObject, principal: string) => {
  const c = ((mc.object.status ?? {}) as MemberStatus).conditions?.find((x) => x.type === identityCondition);
  return c?.status === 'True' && (c.message ?? '').toLowerCase().includes(principal.toLowerCase());
};
const knownAgentMs = 10 * 60_000;

const fleetOf = fleetRefOfId;

const forbidden = (action: HubAction, who: string, why: string) => {
  const what = action.name ? `${action.plural} "${action.name}" is forbidden` : `${action.plural} is forbidden`;
  const where = action.namespace ? ` in the namespace "${action.namespace}"` : ' at the cluster scope';
  return new HubError(
    403,
    'Forbidden',
    `${what}: User "${who}" cannot ${action.verb} resource "${action.plural}" in API group "${action.group}"${where}: ${why}`,
    { ...(action.name ? { name: action.name } : {}), group: action.group, kind: action.plural },
  );
};

/** principal → member, per hub, from its MemberClusters; read again after 15 s. */
const principals = new Map<string, { at: number; byPrincipal: Map<string, string> }>();
const principalsTtlMs = 15_000;

async function memberOfPrincipal(deps: AppDeps, hub: HubRef, principalId: string): Promise<string | undefined> {
  let entry = principals.get(hub.table);
  if (!entry || Date.now() - entry.at > principalsTtlMs) {
    const byPrincipal = new Map<string, string>();
    let continueToken: string | undefined;
    do {
      const page = await deps.hubStore.list(hub, { resource: resourceKey(memberClusterType), namespace: '' }, { limit: 1000, continueToken });
      for (const s of page.items) {
        const id = (s.object.spec as { identity?: { name?: string } } | undefined)?.identity?.name;
        if (id) byPrincipal.set(id.toLowerCase(), s.object.metadata.name!);
      }
      continueToken = page.continueToken;
    } while (continueToken);
    if (principals.size > 1000) principals.clear();
    entry = { at: Date.now(), byPrincipal };
    principals.set(hub.table, entry);
  }
  return entry.byPrincipal.get(principalId.toLowerCase());
}

/** Tells users from member agents, and refuses an agent acting as a member whose identity it is not. */
export async function identifyCaller(call: AgentCall): Promise<CallerKind> {
  const { deps, hub, caller, action } = call;
  // A person is never a member agent (cluster identities are managed identities or applications).
  if (caller.roles.length > 0 || caller.type === 'User' || !caller.principalId) return { kind: 'user' };
  const principal = caller.principalId;
  const member = memberOfNamespace(action.namespace) ?? (action.plural === 'namespaces' ? memberOfNamespace(action.name) : undefined);
  if (member === undefined) {
    const own = await memberOfPrincipal(deps, hub, principal);
    if (own) throw forbidden(action, principal, agentScope(own));
    return { kind: 'user' };
  }
  const cacheKey = `${hub.table}\n${member}`;
  const known = knownAgents.get(cacheKey);
  if (known && known.principal === principal.toLowerCase() && Date.now() - known.at < knownAgentMs) return { kind: 'agent', member, accepted: known.accepted };
  const mc = await deps.hubStore.get(hub, keyOf(memberClusterType, undefined, member));
  if (!mc || mc.deleted) throw forbidden(action, principal, `this fleet has no member "${member}"`);
  const recorded = (mc.object.spec as { identity?: { name?: string } } | undefined)?.identity?.name ?? '';
  if (recorded.toLowerCase() === principal.toLowerCase()) {
    if (knownAgents.size > 100_000) knownAgents.clear();
    const accepted = shows(mc, principal);
    knownAgents.set(cacheKey, { principal: principal.toLowerCase(), at: Date.now(), accepted });
    return { kind: 'agent', member, memberCluster: mc, accepted };
  }
  knownAgents.delete(cacheKey);
  const other = await memberOfPrincipal(deps, hub, principal);
  if (other && other !== member) throw forbidden(action, principal, `it is the identity of member "${other}": ${agentScope(other)}`);
  const confirmed = await recordMismatch(call, member, mc, principal);
  const { resourceGroup, fleetName } = fleetOf(call.fleetArmId);
  const clusterId = mc.object.metadata.annotations?.['fleet.azure.com/cluster-resource-id'] ?? '<cluster resource id>';
  throw forbidden(
    action,
    principal,
    `identity mismatch: "${principal}" is not the identity fleet member "${member}" records for its cluster ("${recorded}"). ` +
      (confirmed
        ? "ARM confirms it is now the cluster's identity; the fleet is recording it, and the next heartbeat will be accepted."
        : `If the cluster's identity changed, run \`az fleet member create -g ${resourceGroup} -f ${fleetName} -n ${member} --member-cluster-id ${clusterId}\` so the fleet learns it${deps.identityCheckSeconds ? ` (the fleet also asks ARM itself, at most every ${deps.identityCheckSeconds} s)` : ''}.`),
  );
}

const agentScope = (member: string) =>
  `a member agent may only read its InternalMemberCluster and Works in the namespace "${memberNamespace(member)}" and write their status, ` +
  'write its InternalServiceExports, EndpointSliceExports and InternalServiceImports there (naming itself as the cluster), and read its EndpointSliceImports';

/** What a member's networking controllers write on the hub (fleet-networking's member side), and where they name their cluster. */
const agentExports: Record<string, (o: KubeObject) => unknown> = {
  internalserviceexports: (o) => (o.spec as { serviceReference?: { clusterId?: unknown } } | undefined)?.serviceReference?.clusterId,
  endpointsliceexports: (o) => (o.spec as { endpointSliceReference?: { clusterId?: unknown } } | undefined)?.endpointSliceReference?.clusterId,
  internalserviceimports: (o) => (o.spec as { serviceImportReference?: { clusterId?: unknown } } | undefined)?.serviceImportReference?.clusterId,
};

/**
 * What a member's agent may do: its own InternalMemberCluster and Works, their status; its own
 * exports and imports (any verb); its EndpointSliceImports, read only (the hub writes them, and a
 * member may not give itself endpoints). Nothing else, and nothing outside its namespace.
 */
export function authorizeAgent(member: string, principal: string, action: HubAction): void {
  const own = action.namespace === memberNamespace(member);
  const [plural, sub] = action.plural.split('/');
  const read = action.verb === 'get' || action.verb === 'list' || action.verb === 'watch';
  if (own && action.group === networkingGroup) {
    if (plural in agentExports && (sub === undefined || sub === 'status')) return;
    if (plural === 'endpointsliceimports' && read && sub === undefined) return;
    throw forbidden(action, principal, agentScope(member));
  }
  const kindOk =
    (action.group === internalMemberClusterType.group && plural === internalMemberClusterType.plural) ||
    (action.group === workType.group && plural === workType.plural);
  const statusWrite = sub === 'status' && (action.verb === 'update' || action.verb === 'patch');
  if (own && kindOk && ((read && sub === undefined) || statusWrite || (read && sub === 'status'))) return;
  throw forbidden(action, principal, agentScope(member));
}

/** An agent's export or import must name its own cluster: one member cannot speak for another. */
export function agentWriteHooks(member: string, principal: string): WriteHooks {
  return {
    guards: (t) => t.group === networkingGroup && t.plural in agentExports,
    async beforeWrite({ verb, t, namespace, name, after }) {
      if (verb === 'delete' || !after) return;
      const clusterId = agentExports[t.plural](after);
      if (clusterId === member) return;
      throw forbidden(
        { verb: verb === 'create' ? 'create' : 'update', group: t.group, plural: t.plural, namespace, name },
        principal,
        `it names the cluster "${String(clusterId ?? '')}", and an agent's ${t.kind}s must name its own member ("${member}")`,
      );
    },
  };
}

/**
 * Records an unknown principal on the member (rate-limited) and asks ARM whether it is now the
 * cluster's identity; true when ARM confirms it (a refresh is then on its way to the worker).
 */
async function recordMismatch(call: AgentCall, member: string, mc: StoredObject, principal: string): Promise<boolean> {
  const { deps } = call;
  const fleet = fleetOf(call.fleetArmId);
  const { members } = await deps.store.readFleet(fleet, { includeFleet: false, memberName: member });
  const row = members[0];
  const now = deps.now();
  const issue = row?.value.agentIssue;
  const interval = deps.identityCheckSeconds * 1000;
  if (
    issue?.code === 'MemberAgentIdentityMismatch' &&
    issue.principalId === principal &&
    issue.checkedAt &&
    now.getTime() - Date.parse(issue.checkedAt) < (interval || identityRecordIntervalMs)
  )
    return false;
  const clusterId = row && interval > 0 ? parseMemberClusterId(row.value.clusterResourceId) : undefined;
  const cluster = clusterId ? await deps.directory.getManagedCluster(clusterId).catch(() => undefined) : undefined;
  const now2 = deps.now().toISOString();
  if (row && cluster && clusterPrincipal(cluster)?.principalId.toLowerCase() === principal.toLowerCase()) {
    await deps.queue.send({ operationId: `refresh.${member}.${randomUUID()}`, kind: 'member.refresh', fleet, memberName: member });
    return true;
  }
  const asked = clusterId ? `; ARM does not name it as the cluster's identity either (asked ${now2})` : '';
  const message = `The member agent authenticated as ${principal} (${now2}), which is not the identity the fleet records for the cluster (${row?.value.joined?.principalId ?? 'none'})${asked}. Run az fleet member create again after the cluster's identity change, so the fleet learns it.`;
  if (row) {
    const next: MemberRecord = {
      ...row.value,
      agentIssue: {
        code: 'MemberAgentIdentityMismatch',
        message,
        principalId: principal,
        since: issue?.code === 'MemberAgentIdentityMismatch' && issue.principalId === principal ? issue.since : now2,
        checkedAt: now2,
      },
    };
    await deps.store.commit(fleet, [{ op: 'replace', row: { kind: 'member', value: next }, version: row.version }]).catch((e) => {
      if ((e as Error).name !== 'ConcurrencyError') throw e;
    });
  }
  await updateMemberClusterStatus(deps, call.hub, member, (status) => ({
    ...status,
    conditions: setCondition(
      status.conditions,
      {
        type: identityCondition,
        status: 'False',
        reason: 'IdentityMismatch',
        message: `The member agent authenticated as ${principal} at ${now2}; the fleet records ${row?.value.joined?.principalId ?? 'no identity'} for this cluster. Run az fleet member create for this member after changing the cluster's identity.`,
        observedGeneration: mc.object.metadata.generation,
      },
      timestamp(now),
    ),
  }));
  return false;
}

export interface MemberStatus {
  conditions?: Condition[];
  properties?: Record<string, { value: string; observationTime?: string }>;
  resourceUsage?: Record<string, unknown>;
  agentStatus?: { type: string; conditions?: Condition[]; lastReceivedHeartbeat?: string }[];
  [key: string]: unknown;
}

/** Rewrites a MemberCluster's status from what it is now (re-read when another writer wins the race). */
export async function updateMemberClusterStatus(
  deps: AppDeps,
  hub: HubRef,
  member: string,
  mutate: (status: MemberStatus, object: KubeObject) => MemberStatus,
  current?: StoredObject,
): Promise<KubeObject | undefined> {
  const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, hub);
  let stored = current;
  for (let attempt = 0; attempt < 4; attempt++) {
    stored ??= await objects.read(memberClusterType, undefined, member);
    if (!stored) return undefined;
    const status = mutate((stored.object.status ?? {}) as MemberStatus, stored.object);
    try {
      return await objects.update(
        memberClusterType,
        undefined,
        member,
        { ...stored.object, status },
        { dryRun: false, fieldManager: 'fleet-manager', subresource: 'status', current: stored },
      );
    } catch (e) {
      if (!(e instanceof HubWriteConflict || (e instanceof HubError && e.code === 409)) || attempt === 3) throw e;
      stored = undefined;
    }
  }
  return undefined;
}

/** The fields that change with every report whatever happens: what the copy onto the MemberCluster does not wait for. */
const reportTimes = new Set(['lastReceivedHeartbeat', 'observationTime', 'lastTransitionTime']);

/** Whether two statuses say the same as the fleet acts on them: everything but the times each heartbeat moves. */
export function sameReport(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => sameReport(x, (b as unknown[])[i]));
  const keys = (o: object) => Object.keys(o).filter((k) => !reportTimes.has(k) && (o as Record<string, unknown>)[k] !== undefined);
  const ka = keys(a);
  const kb = keys(b);
  return ka.length === kb.length && ka.every((k) => sameReport((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * A MemberCluster's copy of the agent's report is written when the report changed, and at least
 * this often while the agent reports (so its lastReceivedHeartbeat is never older than this plus
 * the minute between the checks that look): the InternalMemberCluster has the latest.
 */
export const memberClusterRefreshMs = 5 * 60_000;

const heartbeatOf = (o: KubeObject | undefined) =>
  ((o?.status ?? {}) as MemberStatus).agentStatus?.find((a) => a.type === 'MemberAgent')?.lastReceivedHeartbeat;

/**
 * After an agent wrote its InternalMemberCluster's status (`before` → `after`): its MemberCluster
 * is brought up to it when the report says something new, when the agent was silent long enough
 * for the health sweep to have marked the member Unknown, or when the request read the
 * MemberCluster anyway (`memberCluster`, once a minute per host: what heals a copy that failed).
 * An unchanged heartbeat costs the MemberCluster nothing: with 10,000 members at 15 s, those
 * copies were 1,300 storage requests a second on one partition.
 */
export async function agentReported(
  deps: AppDeps,
  hub: HubRef,
  fleetArmId: string,
  who: { member: string; principal: string; memberCluster?: StoredObject; accepted: boolean },
  before: KubeObject | undefined,
  after: KubeObject,
): Promise<void> {
  const period = Number((after.spec as { heartbeatPeriodSeconds?: number } | undefined)?.heartbeatPeriodSeconds ?? deps.heartbeatPeriodSeconds);
  const last = heartbeatOf(before);
  // Silent as long as the health sweep waits before it marks a member Unknown: it can only have
  // marked this one if the gap was longer (it reads the heartbeat again just before it marks:
  // memberHealth.ts). A margin here cost dearly: when the hub falls behind (a wave of first
  // reports), heartbeats that wait in its queue arrive more than two periods apart, each then
  // rewrote its MemberCluster, and the extra requests kept the hub behind.
  const silent = !last || deps.now().getTime() - Date.parse(last) > missedHeartbeats * period * 1000;
  if (who.memberCluster || !who.accepted || silent || !sameReport(before?.status ?? {}, after.status ?? {})) {
    await copyAgentStatus(deps, hub, fleetArmId, who.member, who.principal, after, who.memberCluster);
    const known = knownAgents.get(`${hub.table}\n${who.member}`);
    if (known?.principal === who.principal.toLowerCase()) known.accepted = true;
  }
  // The fleet records another identity now: this caller is checked against storage next time.
  const recorded = after.metadata.annotations?.[recordedIdentityAnnotation];
  if (recorded && recorded.toLowerCase() !== who.principal.toLowerCase()) knownAgents.delete(`${hub.table}\n${who.member}`);
  await agentAcknowledgedLeave(deps, fleetArmId, who.member, after);
}

/**
 * The hub copies an agent's report onto the MemberCluster (as KubeFleet's hub does), with
 * `Joined` and `Healthy` from the member agent, and the identity it authenticated as accepted —
 * written only when that changes what the MemberCluster says (times aside), or its copy of the
 * heartbeat is older than memberClusterRefreshMs.
 */
async function copyAgentStatus(
  deps: AppDeps,
  hub: HubRef,
  fleetArmId: string,
  member: string,
  principal: string,
  imc: KubeObject,
  given?: StoredObject,
): Promise<void> {
  const memberCluster = given ?? (await new HubObjects({ store: deps.hubStore, now: deps.now }, hub).read(memberClusterType, undefined, member));
  if (!memberCluster) return;
  const reported = (imc.status ?? {}) as MemberStatus;
  // Accepted after a mismatch was recorded (the agent is back on the recorded identity): the ARM member's status says so too.
  const wasRefused = ((memberCluster.object.status ?? {}) as MemberStatus).conditions?.some((c) => c.type === identityCondition && c.status === 'False');
  if (wasRefused) await clearIdentityIssue(deps, fleetArmId, member);
  const at = timestamp(deps.now());
  const agent = reported.agentStatus?.find((a) => a.type === 'MemberAgent');
  const agentCondition = (type: string) => agent?.conditions?.find((c) => c.type === type);
  const after = await updateMemberClusterStatus(
    deps,
    hub,
    member,
    (status, mc) => {
      let conditions = status.conditions;
      const generation = mc.metadata.generation;
      for (const type of ['Joined', 'Healthy']) {
        const c = agentCondition(type);
        if (c)
          conditions = setCondition(
            conditions,
            { type, status: c.status, reason: c.reason, message: c.message, observedGeneration: generation },
            c.lastTransitionTime ?? at,
          );
      }
      conditions = setCondition(
        conditions,
        {
          type: identityCondition,
          status: 'True',
          reason: 'IdentityMatches',
          // The principal named, so that an agent back as a new identity shows on the MemberCluster at once.
          message: `The member agent authenticates as ${principal}, the identity the fleet records for the cluster.`,
          observedGeneration: generation,
        },
        at,
      );
      const next = {
        ...status,
        conditions,
        ...(reported.properties ? { properties: reported.properties } : {}),
        ...(reported.resourceUsage ? { resourceUsage: reported.resourceUsage } : {}),
        ...(reported.agentStatus ? { agentStatus: reported.agentStatus } : {}),
      };
      const copied = heartbeatOf(mc);
      const fresh = copied !== undefined && deps.now().getTime() - Date.parse(copied) < memberClusterRefreshMs;
      return fresh && sameReport(next, status) ? status : next;
    },
    memberCluster,
  );
  // Joined, recovered, left, new properties: the placements that can take or must drop the member look again.
  const changes = memberChanges(memberCluster.object, after);
  if (changes.length) await onMemberChange(deps, fleetOf(fleetArmId), hub, member, changes);
}

async function clearIdentityIssue(deps: AppDeps, fleetArmId: string, member: string): Promise<void> {
  const fleet = fleetOf(fleetArmId);
  const row = (await deps.store.readFleet(fleet, { includeFleet: false, memberName: member })).members[0];
  if (row?.value.agentIssue?.code !== 'MemberAgentIdentityMismatch') return;
  await deps.store
    .commit(fleet, [{ op: 'replace', row: { kind: 'member', value: { ...row.value, agentIssue: undefined } }, version: row.version }])
    .catch((e) => {
      if ((e as Error).name !== 'ConcurrencyError') throw e;
    });
}

/** The agent acknowledged a Leave: the member's delete, waiting on it, is sent again to finish. */
async function agentAcknowledgedLeave(deps: AppDeps, fleetArmId: string, member: string, imc: KubeObject): Promise<void> {
  const spec = (imc.spec ?? {}) as { state?: string };
  const agent = ((imc.status ?? {}) as MemberStatus).agentStatus?.find((a) => a.type === 'MemberAgent');
  if (spec.state !== 'Leave' || !agent?.conditions?.some((c) => c.type === 'Joined' && c.status === 'False')) return;
  const fleet = fleetOf(fleetArmId);
  const part = await deps.store.readFleet(fleet, { memberName: member });
  const row = part.members[0];
  if (row?.value.provisioningState === 'Leaving' && row.value.lastOperationId)
    return deps.queue.send({ operationId: row.value.lastOperationId, kind: 'member.delete', fleet, memberName: member }, { resend: `left.${randomUUID()}` });
  // The whole fleet is being deleted: its delete checks every member again, so at most one resend
  // in 10 s (the message id repeats, and duplicate detection drops the rest).
  const f = part.fleet?.value;
  if (f?.provisioningState === 'Deleting' && f.lastOperationId)
    await deps.queue.send({ operationId: f.lastOperationId, kind: 'fleet.delete', fleet }, { resend: `left.${Math.floor(Date.now() / 10_000)}` });
}
