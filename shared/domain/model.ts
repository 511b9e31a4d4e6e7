import type { FleetRef, MemberRef } from './armIds.js';
import type { ErrorDetail } from './errors.js';
import type { FleetHub } from './hubProfile.js';
import type { FleetIdentity } from './identity.js';

export type FleetProvisioningState = 'Succeeded' | 'Failed' | 'Canceled' | 'Creating' | 'Updating' | 'Deleting';
export type MemberProvisioningState = 'Succeeded' | 'Failed' | 'Canceled' | 'Joining' | 'Leaving' | 'Updating';
export type OperationStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';
export type PrincipalType = 'User' | 'Application' | 'ManagedIdentity' | 'Key';

export interface Caller {
  id: string;
  type: PrincipalType;
  tenantId?: string;
  /** The Entra object id the token was issued to (`oid`): who a hub's RBAC and a member's identity name. */
  principalId?: string;
  /** Microsoft Entra app roles granted to the caller on the API (the token's `roles` claim). */
  roles: string[];
}

export interface SystemData {
  createdBy: string;
  createdByType: PrincipalType;
  createdAt: string;
  lastModifiedBy: string;
  lastModifiedByType: PrincipalType;
  lastModifiedAt: string;
}

export interface FleetRecord {
  ref: FleetRef;
  location: string;
  tags: Record<string, string>;
  /** As last set; absent when no request named one. */
  identity?: FleetIdentity;
  /** The fleet's hub (its Kubernetes API), when it was created with properties.hubProfile. */
  hub?: FleetHub;
  provisioningState: FleetProvisioningState;
  /** The Entra tenant of the fleet's subscription, learnt when the fleet is provisioned. */
  tenantId?: string;
  lastOperationId?: string;
  lastOperationError?: ErrorDetail;
  eTag: string;
  systemData: SystemData;
}

/** What the fleet knows of a joined cluster: the identity its member agent authenticates as. */
export interface JoinedCluster {
  principalId: string;
  identityType: string;
  location: string;
  tenantId: string;
  joinedAt: string;
  identityObservedAt: string;
}

export interface AgentIssue {
  code: 'MemberAgentIdentityMismatch' | 'MemberClusterDeleted';
  message: string;
  /** The principal the agent authenticated as (an identity mismatch). */
  principalId?: string;
  since: string;
  /** When ARM was last asked whether that principal is now the cluster's identity. */
  checkedAt?: string;
}

export interface MemberRecord {
  ref: MemberRef;
  clusterResourceId: string;
  group?: string;
  labels?: Record<string, string>;
  provisioningState: MemberProvisioningState;
  lastOperationId?: string;
  lastOperationError?: ErrorDetail;
  joined?: JoinedCluster;
  /**
   * What is wrong between the fleet and the member's cluster now (its agent authenticates as another
   * identity, its cluster was deleted): shown in properties.status, the member's only room for it.
   */
  agentIssue?: AgentIssue;
  eTag: string;
  systemData: SystemData;
}

/**
 * What the fleet counts of its members, kept exact in the transactions that change them, so that no
 * join has to read every member to know whether the fleet is full.
 */
export interface FleetCounts {
  /** Members that have joined (have a recorded cluster identity): what the member limit counts. */
  joined: number;
}

export type OperationKind = 'fleet.createOrUpdate' | 'fleet.update' | 'fleet.delete' | 'member.createOrUpdate' | 'member.update' | 'member.delete';

export interface OperationError extends ErrorDetail {
  /** The status a client polling the operation's Location sees for this failure. */
  httpStatus: number;
}

export interface OperationRecord {
  id: string;
  kind: OperationKind;
  fleet: FleetRef;
  memberName?: string;
  resourceId: string;
  location: string;
  status: OperationStatus;
  startTime: string;
  endTime?: string;
  error?: OperationError;
  /** How a successful operation ended, when that can differ (a leaving member: its agent left, or it was removed by force). */
  result?: string;
}

export const isTerminal = (s: OperationStatus) => s !== 'InProgress';

/** A resource in one of these states has an operation running: its `lastOperationId`. */
export const fleetIsBusy = (s: FleetProvisioningState) => s === 'Creating' || s === 'Updating' || s === 'Deleting';
export const memberIsBusy = (s: MemberProvisioningState) => s === 'Joining' || s === 'Updating' || s === 'Leaving';
