// The member-health sweep (a timer): a member whose agent has not reported for 3 heartbeat periods
// is `Healthy: Unknown`, with when it was last seen — KubeFleet's hub marks the same, and its
// scheduler stops placing on such a member. A report from the agent makes it Healthy again (the
// hub copies each heartbeat onto the MemberCluster).
import { setCondition, timestamp } from '../hub/conditions.js';
import type { KubeObject } from '../hub/kinds.js';
import { resourceKey } from '../hub/objects.js';
import type { AppDeps } from './context.js';
import { type MemberStatus, updateMemberClusterStatus } from './memberAgents.js';
import { memberClusterType } from './memberClusters.js';

export const missedHeartbeats = 3;

export async function sweepMemberHealth(deps: AppDeps): Promise<{ members: number; unknown: number }> {
  let members = 0;
  let unknown = 0;
  for await (const { name, record } of deps.hubs.list()) {
    const hub = { name, table: record.table };
    let continueToken: string | undefined;
    do {
      const page = await deps.hubStore
        .list(hub, { resource: resourceKey(memberClusterType), namespace: '' }, { limit: 1000, continueToken })
        .catch(() => undefined);
      if (!page) break; // the hub went away meanwhile
      for (const s of page.items) {
        members++;
        const status = (s.object.status ?? {}) as MemberStatus;
        const period = Number((s.object.spec as { heartbeatPeriodSeconds?: number } | undefined)?.heartbeatPeriodSeconds ?? deps.heartbeatPeriodSeconds);
        const agent = status.agentStatus?.find((a) => a.type === 'MemberAgent');
        const lastSeen = agent?.lastReceivedHeartbeat ?? s.object.metadata.creationTimestamp;
        const now = deps.now();
        const heardFrom = (st: MemberStatus, mc: KubeObject) => {
          const seen = st.agentStatus?.find((a) => a.type === 'MemberAgent')?.lastReceivedHeartbeat ?? mc.metadata.creationTimestamp;
          return !seen || now.getTime() - Date.parse(seen) <= missedHeartbeats * period * 1000;
        };
        if (heardFrom(status, s.object)) continue;
        if (status.conditions?.some((c) => c.type === 'Healthy' && c.status === 'Unknown')) continue;
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
      continueToken = page.continueToken;
    } while (continueToken);
  }
  return { members, unknown };
}
