import { randomUUID } from 'node:crypto';
import type { FleetRef } from '../domain/armIds.js';
import { commandFor } from '../domain/commands.js';
import { conflict, preconditionFailed } from '../domain/errors.js';
import type { CredentialExec } from '../domain/kubeconfig.js';
import type { Caller, OperationKind, OperationRecord, SystemData } from '../domain/model.js';
import { newOperationId } from '../domain/operationIds.js';
import type { HubDirectory, HubStore } from '../hub/store.js';
import { type Change, type ClusterClaims, type ClusterDirectory, type CommandQueue, ConcurrencyError, type FleetStore } from '../ports.js';

export interface AppDeps {
  store: FleetStore;
  claims: ClusterClaims;
  queue: CommandQueue;
  directory: ClusterDirectory;
  /** Fleet hubs: which hub name is which table, and the objects in them. */
  hubs: HubDirectory;
  hubStore: HubStore;
  /** What a hub's kubeconfig names: the credential plugin, the audience its tokens are for, and (locally) the CA. */
  hubCredential: { exec?: CredentialExec; audience: string; certificateAuthorityPem?: string };
  memberLimit: number;
  pageSize: number;
  /** How often the hub may ask ARM about one member's unknown agent principal; 0: never. */
  identityCheckSeconds: number;
  /** How long a leaving member waits for its agent before it is removed anyway (KubeFleet: 15 minutes). */
  forceDeleteSeconds: number;
  /** What the fleet asks of its members' agents (InternalMemberCluster spec.heartbeatPeriodSeconds). */
  heartbeatPeriodSeconds: number;
  now: () => Date;
}

/** What the HTTP layer learnt about a request, in plain data. */
export interface RequestContext {
  caller: Caller;
  /** host[:port] the request reached: where a new fleet's hub answers. */
  host?: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  abortSignal?: AbortSignal;
}

/** A handler's answer; `operation` asks the HTTP layer for the long-running-operation headers. */
export interface ApiResult {
  status: number;
  body?: unknown;
  operation?: OperationRecord;
  headers?: Record<string, string>;
}

export const newETag = () => `"${randomUUID()}"`;

export function createdBy(caller: Caller, at: string): SystemData {
  return { createdBy: caller.id, createdByType: caller.type, createdAt: at, lastModifiedBy: caller.id, lastModifiedByType: caller.type, lastModifiedAt: at };
}

export function modifiedBy(previous: SystemData, caller: Caller, at: string): SystemData {
  return { ...previous, lastModifiedBy: caller.id, lastModifiedByType: caller.type, lastModifiedAt: at };
}

const unquote = (tag: string) =>
  tag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');

/** RFC 7232 as ARM applies it: If-None-Match: * refuses an existing resource; If-Match must name its eTag. */
export function checkPreconditions(current: string | undefined, ctx: RequestContext): void {
  if (ctx.ifNoneMatch !== undefined) {
    const tags = ctx.ifNoneMatch.split(',').map(unquote);
    if (current !== undefined && (tags.includes('*') || tags.includes(unquote(current)))) {
      throw preconditionFailed(`The resource exists and If-None-Match is '${ctx.ifNoneMatch}'.`);
    }
  }
  if (ctx.ifMatch !== undefined) {
    const tags = ctx.ifMatch.split(',').map(unquote);
    if (current === undefined) throw preconditionFailed(`The resource does not exist and If-Match is '${ctx.ifMatch}'.`);
    if (!tags.includes('*') && !tags.includes(unquote(current))) {
      throw preconditionFailed(`The resource's eTag ${current} does not match If-Match '${ctx.ifMatch}'.`);
    }
  }
}

export function newOperation(kind: OperationKind, fleet: FleetRef, resourceId: string, location: string, at: string, memberName?: string): OperationRecord {
  return { id: newOperationId(fleet), kind, fleet, memberName, resourceId, location, status: 'InProgress', startTime: at };
}

/** Records a change together with the operation that converges it, then sends that operation's command. */
export async function accept(deps: AppDeps, change: Change | Change[], op: OperationRecord, ctx: RequestContext): Promise<void> {
  const changes = [...(Array.isArray(change) ? change : [change]), { op: 'create', row: { kind: 'operation', value: op } } satisfies Change];
  await deps.store.commit(op.fleet, changes, { abortSignal: ctx.abortSignal });
  await deps.queue.send(commandFor(op), { abortSignal: ctx.abortSignal });
}

/** A fleet or member that a request found busy: what resumeOrRefuse needs of it. */
export interface BusyResource {
  fleet: FleetRef;
  /** How error messages name it: "Fleet 'f'", "Member 'm'". */
  label: string;
  provisioningState: string;
  lastOperationId?: string;
}

/**
 * An operation is already converging this resource. The same request again (a client retry) gets
 * that operation back, and its command is sent again in case the first send was lost; message id =
 * operation id, so Service Bus drops it if it was not. Anything else must wait. If the operation
 * ended after the resource was read, that read is stale: ConcurrencyError, and the HTTP layer reads again.
 */
export async function resumeOrRefuse(deps: AppDeps, busy: BusyResource, same: boolean, ctx: RequestContext): Promise<OperationRecord> {
  const opId = busy.lastOperationId;
  const { operation } = opId ? await deps.store.readFleet(busy.fleet, { includeFleet: false, operationId: opId, abortSignal: ctx.abortSignal }) : {};
  if (operation?.value.status !== 'InProgress') throw new ConcurrencyError(`operation ${opId} ended while ${busy.label} was read`);
  if (!same) throw conflict('AnotherOperationInProgress', `${busy.label} is ${busy.provisioningState}; wait for operation ${opId} to finish.`);
  await deps.queue.send(commandFor(operation.value), { abortSignal: ctx.abortSignal });
  return operation.value;
}
