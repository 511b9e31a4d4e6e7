import { connectedClusterType, managedClusterType, parseResourceId, type ResourceId, resourceTypeOf } from './armIds.js';
import { ArmError, badRequest } from './errors.js';
import type { FleetRecord, JoinedCluster, MemberRecord } from './model.js';

/** An AKS managed cluster as ARM describes it, reduced to what joining needs. */
export interface ClusterInfo {
  id: string;
  location: string;
  provisioningState?: string;
  identity?: { type: string; principalId?: string; tenantId?: string; userAssigned?: { resourceId: string; principalId?: string }[] };
}

export type SubscriptionLookup = { state: 'found'; tenantId: string } | { state: 'notFound' } | { state: 'otherTenant' };

// Errors echo what was sent, cut short: an id can be as long as the body.
const shown = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text);

// AKS's rule for managed cluster names.
const aksClusterName = /^[a-zA-Z0-9]([-_a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/;

/** Checks a member's cluster id at the door: only AKS managed clusters may join. */
export function parseMemberClusterId(clusterResourceId: string): ResourceId {
  const id = parseResourceId(clusterResourceId);
  if (!id) {
    throw badRequest(
      'InvalidMemberClusterResourceId',
      `'${shown(clusterResourceId)}' is not an Azure resource id of the form /subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.ContainerService/managedClusters/{name}.`,
      'properties.clusterResourceId',
    );
  }
  const type = resourceTypeOf(id).toLowerCase();
  if (type === managedClusterType.toLowerCase() && !aksClusterName.test(id.name)) {
    throw badRequest(
      'InvalidMemberClusterResourceId',
      `'${shown(clusterResourceId)}' does not name an AKS cluster: a cluster name is 1-63 letters, digits, '-' and '_', starting and ending with a letter or digit.`,
      'properties.clusterResourceId',
    );
  }
  if (type === connectedClusterType.toLowerCase()) {
    throw badRequest(
      'InvalidMemberClusterResourceId',
      `'${shown(clusterResourceId)}' is an Azure Arc-enabled cluster; only existing AKS clusters (${managedClusterType}) can join a fleet.`,
      'properties.clusterResourceId',
    );
  }
  if (type !== managedClusterType.toLowerCase()) {
    throw badRequest(
      'InvalidMemberClusterResourceId',
      `'${shown(clusterResourceId)}' is a ${shown(resourceTypeOf(id))}; only existing AKS clusters (${managedClusterType}) can join a fleet.`,
      'properties.clusterResourceId',
    );
  }
  return id;
}

/** The principal a member agent authenticates as: the cluster's own (control plane) identity. */
export function clusterPrincipal(cluster: ClusterInfo): { principalId: string; identityType: string } | undefined {
  const identity = cluster.identity;
  if (!identity) return undefined;
  if (identity.type.toLowerCase() === 'systemassigned' && identity.principalId) return { principalId: identity.principalId, identityType: 'SystemAssigned' };
  const uai = identity.userAssigned?.find((u) => u.principalId);
  if (identity.type.toLowerCase() === 'userassigned' && uai?.principalId) return { principalId: uai.principalId, identityType: 'UserAssigned' };
  return undefined;
}

export const memberLimitReached = (fleet: FleetRecord, joined: number, limit: number) =>
  new ArmError('MemberLimitReached', 400, `Fleet '${fleet.ref.fleetName}' already has ${joined} members; a fleet holds at most ${limit}.`);

export interface JoinInput {
  fleet: FleetRecord;
  member: MemberRecord;
  cluster: ClusterInfo | undefined;
  subscription: SubscriptionLookup;
  /** Members other than this one that have joined. */
  otherJoined: number;
  memberLimit: number;
  now: string;
}

/** Decides whether a cluster may join (or re-join with a new identity); throws the user-facing refusal. */
export function checkJoin(input: JoinInput): JoinedCluster {
  const { fleet, member, cluster, subscription } = input;
  if (fleet.provisioningState !== 'Succeeded' || !fleet.tenantId) {
    throw new ArmError(
      'FleetNotReady',
      409,
      `Fleet '${fleet.ref.fleetName}' is ${fleet.provisioningState}; members can join only a fleet that provisioned successfully.`,
    );
  }
  if (subscription.state === 'otherTenant' || (subscription.state === 'found' && subscription.tenantId !== fleet.tenantId)) {
    throw new ArmError(
      'CrossTenantMember',
      400,
      `Cluster '${member.clusterResourceId}' is in a subscription outside the fleet's Microsoft Entra tenant ${fleet.tenantId}; members must be in the same tenant as the fleet.`,
    );
  }
  if (subscription.state === 'notFound' || !cluster) {
    throw new ArmError(
      'MemberClusterNotFound',
      404,
      `AKS cluster '${member.clusterResourceId}' was not found${subscription.state === 'notFound' ? `, and neither was its subscription: it does not exist, or Fleet Manager's identity has no Reader role there` : ''}. Only existing AKS clusters can join a fleet.`,
    );
  }
  const principal = clusterPrincipal(cluster);
  if (!principal) {
    throw new ArmError(
      'MemberClusterIdentityMissing',
      400,
      `AKS cluster '${member.clusterResourceId}' has no managed identity; a member agent needs one to authenticate to the fleet.`,
    );
  }
  if (!member.joined && input.otherJoined >= input.memberLimit) throw memberLimitReached(fleet, input.otherJoined, input.memberLimit);
  const identityChanged = member.joined?.principalId !== principal.principalId;
  return {
    ...principal,
    location: cluster.location,
    tenantId: fleet.tenantId,
    joinedAt: member.joined?.joinedAt ?? input.now,
    identityObservedAt: identityChanged ? input.now : (member.joined?.identityObservedAt ?? input.now),
  };
}
