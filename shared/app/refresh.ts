// `member.refresh`: the worker reads a joined member's cluster in ARM again and records what
// changed — a new identity (the agent is then accepted again) or a cluster that is gone. Event Grid
// events and the hub's own check of an unknown principal send it; it is level-triggered (ARM is read
// each time), so duplicates and events out of order change nothing. A member with an operation
// running is left to that operation, which reads the cluster itself.
import type { FleetCommand } from '../domain/commands.js';
import { clusterPrincipal, parseMemberClusterId } from '../domain/membership.js';
import { type MemberRecord, memberIsBusy } from '../domain/model.js';
import { setCondition, timestamp } from '../hub/conditions.js';
import { type AppDeps, newETag } from './context.js';
import { identityCondition, updateMemberClusterStatus } from './memberAgents.js';
import { mirrorMember } from './memberClusters.js';

export const clusterCondition = 'ClusterFound';

export async function refreshMember(deps: AppDeps, command: FleetCommand, abortSignal?: AbortSignal): Promise<void> {
  const part = await deps.store.readFleet(command.fleet, { memberName: command.memberName, abortSignal });
  const fleet = part.fleet?.value;
  const member = part.members[0];
  if (!fleet || !member?.value.joined || memberIsBusy(member.value.provisioningState)) return;
  const current = member.value;
  const joinedBefore = member.value.joined;
  const cluster = await deps.directory.getManagedCluster(parseMemberClusterId(current.clusterResourceId), { abortSignal });
  const now = deps.now();
  const hub = fleet.hub?.ready ? { name: fleet.hub.name, table: fleet.hub.table } : undefined;
  const commit = (next: MemberRecord) =>
    deps.store.commit(command.fleet, [{ op: 'replace', row: { kind: 'member', value: { ...next, eTag: newETag() } }, version: member.version }], {
      abortSignal,
    });
  if (!cluster) {
    if (current.agentIssue?.code === 'MemberClusterDeleted') return;
    const message = `AKS cluster '${current.clusterResourceId}' no longer exists (ARM answers 404 since ${now.toISOString()}); its member agent is gone with it. Remove the member (az fleet member delete), or re-create the cluster and run az fleet member create again.`;
    if (hub)
      await updateMemberClusterStatus(deps, hub, current.ref.memberName, (status, mc) => ({
        ...status,
        conditions: setCondition(
          status.conditions,
          { type: clusterCondition, status: 'False', reason: 'ClusterDeleted', message, observedGeneration: mc.metadata.generation },
          timestamp(now),
        ),
      }));
    await commit({ ...current, agentIssue: { code: 'MemberClusterDeleted', message, since: now.toISOString() } });
    return;
  }
  const principal = clusterPrincipal(cluster);
  const changed = !!principal && principal.principalId !== joinedBefore.principalId;
  const wasGone = current.agentIssue?.code === 'MemberClusterDeleted';
  if (!changed && !wasGone) return;
  const next: MemberRecord = {
    ...current,
    joined: changed ? { ...joinedBefore, ...principal, identityObservedAt: now.toISOString() } : joinedBefore,
    agentIssue: undefined,
  };
  // The hub's view first (a failure is retried with the message), then the member row.
  if (hub) {
    await mirrorMember(deps, fleet, next);
    await updateMemberClusterStatus(deps, hub, current.ref.memberName, (status, mc) => {
      let conditions = status.conditions;
      if (wasGone)
        conditions = setCondition(
          conditions,
          {
            type: clusterCondition,
            status: 'True',
            reason: 'ClusterFound',
            message: 'ARM has the AKS cluster again.',
            observedGeneration: mc.metadata.generation,
          },
          timestamp(now),
        );
      if (changed)
        conditions = setCondition(
          conditions,
          {
            type: identityCondition,
            status: 'Unknown',
            reason: 'IdentityUpdated',
            message: `The fleet learnt the cluster's new identity ${principal.principalId} from ARM at ${now.toISOString()}; waiting for the member agent's next heartbeat.`,
            observedGeneration: mc.metadata.generation,
          },
          timestamp(now),
        );
      return { ...status, conditions };
    });
  }
  await commit(next);
}
