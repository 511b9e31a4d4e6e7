// What the domain needs from the outside world, in its own words. shared/azure/* implements
// each with the official SDK; tests use the same adapters against Azurite and the emulators.
import type { FleetRef, MemberRef, ResourceId } from './domain/armIds.js';
import type { FleetCommand } from './domain/commands.js';
import type { ClusterInfo, SubscriptionLookup } from './domain/membership.js';
import type { FleetCounts, FleetRecord, MemberRecord, OperationError, OperationRecord, OperationStatus } from './domain/model.js';

/** A record with the storage version it was read at (for optimistic concurrency). */
export interface Stored<T> {
  value: T;
  version: string;
}

export interface FleetPartition {
  fleet?: Stored<FleetRecord>;
  counts?: Stored<FleetCounts>;
  members: Stored<MemberRecord>[];
  operation?: Stored<OperationRecord>;
}

export interface ReadFleetOptions {
  /** false: skip the fleet row (default true). */
  includeFleet?: boolean;
  /** Also the fleet's counts (read with the fleet row, in one range). */
  counts?: boolean;
  memberName?: string;
  /** Several members, each a point read. */
  memberNames?: string[];
  operationId?: string;
  abortSignal?: AbortSignal;
}

export type Row =
  | { kind: 'fleet'; value: FleetRecord }
  | { kind: 'counts'; value: FleetCounts }
  | { kind: 'member'; value: MemberRecord }
  | { kind: 'operation'; value: OperationRecord };

export type Change =
  | { op: 'create'; row: Row }
  | { op: 'replace'; row: Row; version: string }
  | { op: 'delete'; kind: Row['kind']; name: string }
  /**
   * Ends an operation without reading it: only its status, end time and error are written. Without
   * `version` it is unconditional, so it belongs in a commit whose other change is conditioned on the
   * resource row that names the operation (that row and the operation are always written together).
   */
  | {
      op: 'finish';
      operationId: string;
      status: Exclude<OperationStatus, 'InProgress'>;
      endTime: string;
      error?: OperationError;
      /** What happened, when a success can happen more than one way (a member left, or was removed by force). */
      result?: string;
      version?: string;
    };

export interface Page<T> {
  items: T[];
  continuationToken?: string;
}

export interface PageOptions {
  pageSize: number;
  continuationToken?: string;
  abortSignal?: AbortSignal;
}

/** A continuation token that no page of this store ever handed out. */
export class InvalidContinuationTokenError extends Error {
  override name = 'InvalidContinuationTokenError';
}

/** What one commit may hold: one entity group transaction holds at most 100 actions. */
export const maxChangesPerCommit = 100;

/** Thrown when a write loses a race (a version no longer matches, or a row already exists). */
export class ConcurrencyError extends Error {
  override name = 'ConcurrencyError';
}

export interface FleetStore {
  /** The fleet row and what the options ask for, from the fleet's partition (point reads and one bounded range). */
  readFleet(fleet: FleetRef, options?: ReadFleetOptions): Promise<FleetPartition>;
  listFleets(scope: { subscriptionId: string; resourceGroup?: string }, page: PageOptions): Promise<Page<FleetRecord>>;
  listMembers(fleet: FleetRef, page: PageOptions): Promise<Page<MemberRecord>>;
  /**
   * Operations across all fleets, oldest first within a page: those still running that started
   * before a time, or those finished before a time.
   */
  listOperations(query: { running: true; startedBefore: string } | { running: false; endedBefore: string }, page: PageOptions): Promise<Page<OperationRecord>>;
  /** Applies all changes (at most maxChangesPerCommit: one entity group transaction) to the fleet's partition atomically. */
  commit(fleet: FleetRef, changes: Change[], options?: { abortSignal?: AbortSignal }): Promise<void>;
}

export interface ClusterClaims {
  /** Records that the cluster belongs to this member; returns the current owner when it belongs to another. */
  claim(clusterResourceId: string, owner: MemberRef): Promise<{ claimed: true } | { claimed: false; owner: MemberRef }>;
  release(clusterResourceId: string, owner: MemberRef): Promise<void>;
  /** The member that holds the cluster, if one does (one point read). */
  ownerOf(clusterResourceId: string): Promise<MemberRef | undefined>;
  /** Releases every cluster that members of the fleet hold in these subscriptions, in batches; returns how many. */
  releaseFleet(fleet: FleetRef, subscriptionIds: string[], options?: { abortSignal?: AbortSignal }): Promise<number>;
}

export interface CommandQueue {
  /**
   * Sends a command; its message id is the operation id, so Service Bus drops a second send of it
   * (a client's retry). `resend` names a later attempt of its own, which is not dropped.
   * `notBefore`: delivered no sooner (a scheduled message).
   */
  send(command: FleetCommand, options?: { abortSignal?: AbortSignal; resend?: string; notBefore?: Date }): Promise<void>;
}

export interface ClusterDirectory {
  getSubscription(subscriptionId: string, options?: { abortSignal?: AbortSignal }): Promise<SubscriptionLookup>;
  getManagedCluster(id: ResourceId, options?: { abortSignal?: AbortSignal }): Promise<ClusterInfo | undefined>;
}
