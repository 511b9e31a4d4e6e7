// The member-health sweep (a timer): a member whose agent has not reported for 3 heartbeat periods
// is `Healthy: Unknown`, with when it was last seen — KubeFleet's hub marks the same, and its
// scheduler stops placing on such a member. The agent's heartbeat is in its InternalMemberCluster
// (the MemberCluster's copy is written only when the report changes: memberAgents.ts), so the sweep
// reads those, one range query per hub; a report after the silence makes the member Healthy again.
import { setCondition, timestamp } from '../hub/conditions.js';
import type { KubeObject } from '../hub/kinds.js';
import { keyOf, resourceKey } from '../hub/objects.js';
import { HubGone, type HubRef, type ListScope } from '../hub/store.js';
import type { AppDeps } from './context.js';
import { type MemberStatus, updateMemberClusterStatus } from './memberAgents.js';
import { internalMemberClusterType, memberClusterType, memberNamespace } from './memberClusters.js';

export const missedHeartbeats = 3;

/**
 * The sweep reads a hub's InternalMemberClusters and MemberClusters in pages of this many, at most
 * `sweepRowsPerSecond` a second. Read back to back, 10,000 members' were 20,000 objects (60 MB) in
 * a few seconds: five times a partition's scalability target in Table Storage (2,000 entities a
 * second) on the partition the MemberClusters share, where the copies of agents' reports are
 * written. Paced, a sweep of 10,000 members takes ~20 s, well inside its minute.
 */
const sweepPageRows = 1000;
const sweepRowsPerSecond = 1000;

/** Pages of a listing, each begun no sooner than the rate allows after the one before. */
async function* pacedPages(deps: AppDeps, hub: HubRef, scope: ListScope) {
  let continueToken: string | undefined;
  do {
    const began = Date.now();
    const page = await deps.hubStore.list(hub, scope, { limit: sweepPageRows, continueToken });
    yield page.items;
    continueToken = page.continueToken;
    const wait = began + (1000 * page.items.length) / sweepRowsPerSecond - Date.now();
    if (continueToken && wait > 0) await new Promise((r) => setTimeout(r, wait));
  } while (continueToken);
}

export async function sweepMemberHealth(deps: AppDeps): Promise<{ members: number; unknown: number }> {
  let members = 0;
  let unknown = 0;
  for await (const { name, record } of deps.hubs.list()) {
    const hub = { name, table: record.table };
    try {
      const counted = await sweepHub(deps, hub, await heartbeats(deps, hub));
      members += counted.members;
      unknown += counted.unknown;
    } catch (e) {
      if (!(e instanceof HubGone)) throw e; // the hub went away meanwhile (its fleet was deleted)
    }
  }
  return { members, unknown };
}

/** One hub's MemberClusters, against the heartbeats its InternalMemberClusters hold. */
async function sweepHub(deps: AppDeps, hub: HubRef, reported: Map<string, string>): Promise<{ members: number; unknown: number }> {
  let members = 0;
  let unknown = 0;
  for await (const items of pacedPages(deps, hub, { resource: resourceKey(memberClusterType), namespace: '' })) {
    for (const s of items) {
      members++;
      const member = s.object.metadata.name!;
      const status = (s.object.status ?? {}) as MemberStatus;
      const period = Number((s.object.spec as { heartbeatPeriodSeconds?: number } | undefined)?.heartbeatPeriodSeconds ?? deps.heartbeatPeriodSeconds);
      const agent = status.agentStatus?.find((a) => a.type === 'MemberAgent');
      const now = deps.now();
      // The latest of the agent's heartbeat and the MemberCluster's copy (a report copied since the
      // InternalMemberClusters were read is newer), else when the member joined.
      const lastSeenOf = (st: MemberStatus, mc: KubeObject) =>
        [reported.get(member), st.agentStatus?.find((a) => a.type === 'MemberAgent')?.lastReceivedHeartbeat]
          .filter((t): t is string => Boolean(t))
          .sort()
          .pop() ?? mc.metadata.creationTimestamp;
      const lastSeen = lastSeenOf(status, s.object);
      const heardFrom = (st: MemberStatus, mc: KubeObject) => {
        const seen = lastSeenOf(st, mc);
        return !seen || now.getTime() - Date.parse(seen) <= missedHeartbeats * period * 1000;
      };
      if (heardFrom(status, s.object)) continue;
      if (status.conditions?.some((c) => c.type === 'Healthy' && c.status === 'Unknown')) continue;
      // The heartbeats were listed at the start of the sweep: one that came since keeps the member
      // healthy (the agent's report copies the MemberCluster only after a silence this long:
      // memberAgents.ts agentReported), so it is read again, for the few about to be marked.
      const latest = await deps.hubStore.get(hub, keyOf(internalMemberClusterType, memberNamespace(member), member));
      const beat = ((latest?.object.status ?? {}) as MemberStatus).agentStatus?.find((a) => a.type === 'MemberAgent')?.lastReceivedHeartbeat;
      if (beat) reported.set(member, beat);
      if (heardFrom(status, s.object)) continue;
      const message = agent
        ? `The member agent has not reported since ${lastSeen} (${missedHeartbeats} heartbeats of ${period} s missed): it is stopped, or cannot reach the hub.`
        : `The member agent has not reported since the member joined (${lastSeen}): it is not installed, or cannot reach the hub.`;
      const reason = agent ? 'MemberAgentHeartbeatMissed' : 'MemberAgentNeverReported';
      await updateMemberClusterStatus(
        deps,
        hub,
        s.object.metadata.name!,
        (current, mc) => {
          // Read again after a lost race: a report that came meanwhile keeps the member healthy.
          if (heardFrom(current, mc)) return current;
          return {
            ...current,
            conditions: setCondition(
              current.conditions,
              { type: 'Healthy', status: 'Unknown', reason, message, observedGeneration: mc.metadata.generation },
              timestamp(now),
            ),
            ...(current.agentStatus
              ? {
                  agentStatus: current.agentStatus.map((a) =>
                    a.type === 'MemberAgent'
                      ? { ...a, conditions: setCondition(a.conditions, { type: 'Healthy', status: 'Unknown', reason, message }, timestamp(now)) }
                      : a,
                  ),
                }
              : {}),
          };
        },
        s,
      );
      unknown++;
    }
  }
  return { members, unknown };
}

/** Each member's last heartbeat, from the hub's InternalMemberClusters (every member namespace: one range query). */
async function heartbeats(deps: AppDeps, hub: HubRef): Promise<Map<string, string>> {
  const scope: ListScope = { resource: resourceKey(internalMemberClusterType) };
  const seen = new Map<string, string>();
  for await (const items of pacedPages(deps, hub, scope)) {
    for (const s of items) {
      const at = ((s.object.status ?? {}) as MemberStatus).agentStatus?.find((a) => a.type === 'MemberAgent')?.lastReceivedHeartbeat;
      if (at) seen.set(s.object.metadata.name!, at);
    }
  }
  return seen;
}
