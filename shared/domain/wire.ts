// The JSON shapes of api-version 2025-03-01, as ARM writes them.
import { fleetId, fleetType, memberId, memberType } from './armIds.js';
import { hubToArm } from './hubProfile.js';
import { identityToArm } from './identity.js';
import type { FleetRecord, MemberRecord, OperationRecord } from './model.js';

export function fleetToArm(f: FleetRecord) {
  return {
    id: fleetId(f.ref),
    name: f.ref.fleetName,
    type: fleetType,
    location: f.location,
    tags: f.tags,
    ...(f.identity ? { identity: identityToArm(f.identity, f.tenantId) } : {}),
    eTag: f.eTag,
    systemData: f.systemData,
    properties: {
      provisioningState: f.provisioningState,
      ...(f.hub ? { hubProfile: hubToArm(f.hub) } : {}),
      status: {
        ...(f.lastOperationId ? { lastOperationId: f.lastOperationId } : {}),
        ...(f.lastOperationError ? { lastOperationError: f.lastOperationError } : {}),
      },
    },
  };
}

export function memberToArm(m: MemberRecord) {
  return {
    id: memberId(m.ref),
    name: m.ref.memberName,
    type: memberType,
    eTag: m.eTag,
    systemData: m.systemData,
    properties: {
      clusterResourceId: m.clusterResourceId,
      ...(m.group ? { group: m.group } : {}),
      ...(m.labels && Object.keys(m.labels).length ? { labels: m.labels } : {}),
      provisioningState: m.provisioningState,
      status: {
        ...(m.lastOperationId ? { lastOperationId: m.lastOperationId } : {}),
        ...(m.agentIssue
          ? {
              lastOperationError: {
                code: m.agentIssue.code,
                message: m.agentIssue.message,
                ...(m.lastOperationError ? { details: [m.lastOperationError] } : {}),
              },
            }
          : m.lastOperationError
            ? { lastOperationError: m.lastOperationError }
            : {}),
      },
    },
  };
}

export const operationStatusPath = (subscriptionId: string, location: string, operationId: string) =>
  `/subscriptions/${subscriptionId}/providers/Microsoft.ContainerService/locations/${location}/operationStatuses/${operationId}`;
export const operationResultPath = (subscriptionId: string, location: string, operationId: string) =>
  `/subscriptions/${subscriptionId}/providers/Microsoft.ContainerService/locations/${location}/operationResults/${operationId}`;

export function operationToArm(op: OperationRecord) {
  return {
    id: operationStatusPath(op.fleet.subscriptionId, op.location, op.id),
    name: op.id,
    resourceId: op.resourceId,
    status: op.status,
    startTime: op.startTime,
    ...(op.endTime ? { endTime: op.endTime } : {}),
    ...(op.status === 'Succeeded' ? { percentComplete: 100 } : {}),
    // ARM's operation status has room for the operation's result in `properties`.
    ...(op.result ? { properties: { result: op.result } } : {}),
    ...(op.error ? { error: { code: op.error.code, message: op.error.message, ...(op.error.target ? { target: op.error.target } : {}) } } : {}),
  };
}
