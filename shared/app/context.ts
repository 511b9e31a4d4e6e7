import { randomUUID } from 'node:crypto';
import { preconditionFailed } from '../domain/errors.js';
import type { Caller, OperationKind, OperationRecord, SystemData } from '../domain/model.js';
import type { FleetRef } from '../domain/armIds.js';
import { newOperationId } from '../domain/operationIds.js';
import type { ClusterClaims, ClusterDirectory, CommandQueue, FleetStore } from '../ports.js';

export interface AppDeps {
  store: FleetStore;
  claims: ClusterClaims;
  queue: CommandQueue;
  directory: ClusterDirectory;
  memberLimit: number;
  pageSize: number;
  now: () => Date;
}

/** What the HTTP layer learnt about a request, in plain data. */
export interface RequestContext {
  caller: Caller;
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

const unquote = (tag: string) => tag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');

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
