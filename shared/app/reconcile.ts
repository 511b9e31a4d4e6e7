// The queue worker. It is level-triggered: a command only says "operation X wants this resource
// converged"; the worker reads the desired state and the operation, converges, and records the
// result in one transaction. A duplicate, late or superseded message finds the operation already
// terminal (or no longer the resource's current one) and does nothing.

import { fleetId, memberId } from '../domain/armIds.js';
import { type FleetCommand, fleetCommandSchema } from '../domain/commands.js';
import { ArmError } from '../domain/errors.js';
import { checkJoin, parseMemberClusterId } from '../domain/membership.js';
import {
  type FleetRecord,
  fleetIsBusy,
  type MemberRecord,
  memberIsBusy,
  type OperationError,
  type OperationKind,
  type OperationRecord,
  type OperationStatus,
} from '../domain/model.js';
import { type Change, ConcurrencyError, type FleetPartition, type Stored } from '../ports.js';
import { type AppDeps, newETag } from './context.js';

export interface Delivery {
  /** 1 on the first delivery, as the Functions host counts. */
  deliveryCount: number;
  maxDeliveryCount: number;
  abortSignal?: AbortSignal;
}

export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

// The Functions host hands a JSON body over parsed, but a body it did not recognise as JSON arrives
// as text; accept both.
function asJson(message: unknown): unknown {
  if (typeof message !== 'string') return message;
  try {
    return JSON.parse(message);
  } catch {
    return message;
  }
}

export async function handleFleetCommand(deps: AppDeps, message: unknown, delivery: Delivery): Promise<void> {
  const parsed = fleetCommandSchema.safeParse(asJson(message));
  // Retrying cannot fix a malformed message; throwing lets Service Bus dead-letter it after
  // maxDeliveryCount attempts, with MaxDeliveryCountExceeded as the reason and this error in the log.
  if (!parsed.success) throw new PoisonMessageError(`not a fleet command: ${parsed.error.issues[0]?.message}`);
  const command = parsed.data;
  try {
    await converge(deps, command, delivery.abortSignal);
  } catch (e) {
    // The last attempt records the failure, so a client polling the operation sees Failed rather
    // than InProgress for ever; the message then goes to the dead-letter queue.
    if (!(e instanceof ConcurrencyError) && delivery.deliveryCount >= delivery.maxDeliveryCount) {
      await recordFailure(deps, command, {
        code: 'InternalServerError',
        message: `The operation failed after ${delivery.deliveryCount} attempts: ${(e as Error).message}`,
        httpStatus: 500,
      });
    }
    throw e;
  }
}

function toOperationError(e: ArmError): OperationError {
  return { code: e.code, message: e.message, httpStatus: e.status, ...(e.target ? { target: e.target } : {}) };
}

/** The operation the worker is converging: read, or known to be running from its resource's row. */
interface Running {
  id: string;
  kind: OperationKind;
  /** Its storage version when it was read; none when its resource's row vouched for it. */
  version?: string;
  /** When it was read: what a superseded operation's error names. */
  value?: OperationRecord;
}

function finish(op: Running, status: Exclude<OperationStatus, 'InProgress'>, at: string, error?: OperationError): Change {
  return { op: 'finish', operationId: op.id, status, endTime: at, ...(error ? { error } : {}), ...(op.version ? { version: op.version } : {}) };
}

const superseded = (op: Running, fleet: FleetCommand['fleet'], memberName?: string): OperationError => ({
  code: 'OperationSuperseded',
  message: `Operation ${op.id} was superseded by a later change to ${op.value?.resourceId ?? (memberName ? memberId({ ...fleet, memberName }) : fleetId(fleet))}.`,
  httpStatus: 409,
});

/**
 * A busy fleet or member row naming the command's operation proves that operation InProgress: the
 * row and its operation are only ever written in one transaction (accepting a change sets both,
 * converging settles both). Then the operation need not be read; the commit that ends it is
 * conditioned on the row's version. Anything else reads the operation: a duplicate, a superseded or
 * orphaned operation, and deletes (a transaction cannot make a delete conditional on a version).
 */
async function runningOperation(deps: AppDeps, command: FleetCommand, part: FleetPartition, abortSignal?: AbortSignal): Promise<Running | undefined> {
  const member = command.memberName === undefined ? undefined : part.members.find((m) => m.value.ref.memberName === command.memberName);
  const row = command.memberName === undefined ? part.fleet : member;
  const names = row?.value.lastOperationId === command.operationId;
  if (names && !command.kind.endsWith('.delete')) {
    const busy = member ? memberIsBusy(member.value.provisioningState) : fleetIsBusy(part.fleet!.value.provisioningState);
    // Settled: the operation ended in the transaction that settled the row.
    return busy ? { id: command.operationId, kind: command.kind } : undefined;
  }
  const { operation } = await deps.store.readFleet(command.fleet, { includeFleet: false, operationId: command.operationId, abortSignal });
  if (operation?.value.status !== 'InProgress') return undefined;
  return { id: operation.value.id, kind: operation.value.kind, version: operation.version, value: operation.value };
}

async function converge(deps: AppDeps, command: FleetCommand, abortSignal?: AbortSignal): Promise<void> {
  const part = await deps.store.readFleet(command.fleet, { allMembers: true, abortSignal });
  const op = await runningOperation(deps, command, part, abortSignal);
  if (!op) return;
  const now = deps.now().toISOString();
  const commit = (changes: Change[]) => deps.store.commit(command.fleet, changes, { abortSignal });
  const cancel = () => commit([finish(op, 'Canceled', now, superseded(op, command.fleet, command.memberName))]);

  switch (op.kind) {
    case 'fleet.createOrUpdate':
    case 'fleet.update':
      return convergeFleet(deps, part, op, now, commit, cancel);
    case 'fleet.delete': {
      const fleet = part.fleet;
      if (!fleet) return commit([finish(op, 'Succeeded', now)]);
      if (fleet.value.lastOperationId !== op.id) return cancel();
      // Deleting a fleet deletes its members, as ARM deletes a parent's child resources.
      for (const m of part.members) await deps.claims.release(m.value.clusterResourceId, m.value.ref);
      return commit([
        ...part.members.map((m): Change => ({ op: 'delete', kind: 'member', name: m.value.ref.memberName })),
        { op: 'delete', kind: 'fleet', name: fleet.value.ref.fleetName },
        finish(op, 'Succeeded', now),
      ]);
    }
    case 'member.createOrUpdate':
    case 'member.update':
    case 'member.delete': {
      const member = part.members.find((m) => m.value.ref.memberName === command.memberName);
      if (!member || !part.fleet || member.value.lastOperationId !== op.id) return cancel();
      if (op.kind === 'member.delete') {
        await deps.claims.release(member.value.clusterResourceId, member.value.ref);
        return commit([{ op: 'delete', kind: 'member', name: member.value.ref.memberName }, finish(op, 'Succeeded', now)]);
      }
      if (op.kind === 'member.update') {
        const settled = member.value.joined ? 'Succeeded' : 'Failed';
        return commit([replaceMember(member, { provisioningState: settled }), finish(op, 'Succeeded', now)]);
      }
      return convergeJoin(deps, part.fleet.value, part, member, op, now, commit, abortSignal);
    }
  }
}

function replaceMember(member: Stored<MemberRecord>, patch: Partial<MemberRecord>): Change {
  return { op: 'replace', row: { kind: 'member', value: { ...member.value, ...patch, eTag: newETag() } }, version: member.version };
}

function replaceFleet(fleet: Stored<FleetRecord>, patch: Partial<FleetRecord>): Change {
  return { op: 'replace', row: { kind: 'fleet', value: { ...fleet.value, ...patch, eTag: newETag() } }, version: fleet.version };
}

async function convergeFleet(
  deps: AppDeps,
  part: FleetPartition,
  op: Running,
  now: string,
  commit: (c: Change[]) => Promise<void>,
  cancel: () => Promise<void>,
) {
  const fleet = part.fleet;
  if (!fleet || fleet.value.lastOperationId !== op.id) return cancel();
  let tenantId = fleet.value.tenantId;
  if (op.kind === 'fleet.createOrUpdate' || !tenantId) {
    // The fleet's tenant is its subscription's: members must come from the same tenant.
    const sub = await deps.directory.getSubscription(fleet.value.ref.subscriptionId);
    if (sub.state !== 'found') {
      const error = toOperationError(
        new ArmError(
          'SubscriptionNotFound',
          404,
          `Subscription '${fleet.value.ref.subscriptionId}' was not found in the Microsoft Entra tenant this service runs in.`,
        ),
      );
      return commit([replaceFleet(fleet, { provisioningState: 'Failed', lastOperationError: publicError(error) }), finish(op, 'Failed', now, error)]);
    }
    tenantId = sub.tenantId;
  }
  return commit([replaceFleet(fleet, { provisioningState: 'Succeeded', tenantId, lastOperationError: undefined }), finish(op, 'Succeeded', now)]);
}

const publicError = ({ code, message, target }: OperationError) => ({ code, message, ...(target ? { target } : {}) });

async function convergeJoin(
  deps: AppDeps,
  fleet: FleetRecord,
  part: FleetPartition,
  member: Stored<MemberRecord>,
  op: Running,
  now: string,
  commit: (c: Change[]) => Promise<void>,
  abortSignal?: AbortSignal,
) {
  try {
    const clusterId = parseMemberClusterId(member.value.clusterResourceId);
    const subscription = await deps.directory.getSubscription(clusterId.subscriptionId, { abortSignal });
    const sameTenant = subscription.state === 'found' && subscription.tenantId === fleet.tenantId;
    const cluster = sameTenant ? await deps.directory.getManagedCluster(clusterId, { abortSignal }) : undefined;
    const otherJoined = part.members.filter((m) => m.value.joined && m.value.ref.memberName !== member.value.ref.memberName).length;
    const joined = checkJoin({ fleet, member: member.value, cluster, subscription, otherJoined, memberLimit: deps.memberLimit, now });
    const claim = await deps.claims.claim(member.value.clusterResourceId, member.value.ref);
    if (!claim.claimed) {
      const o = claim.owner;
      throw new ArmError(
        'MemberClusterAlreadyInFleet',
        409,
        `AKS cluster '${member.value.clusterResourceId}' is already member '${o.memberName}' of fleet '/subscriptions/${o.subscriptionId}/resourceGroups/${o.resourceGroup}/providers/Microsoft.ContainerService/fleets/${o.fleetName}'; a cluster can belong to one fleet only.`,
      );
    }
    return commit([replaceMember(member, { provisioningState: 'Succeeded', joined, lastOperationError: undefined }), finish(op, 'Succeeded', now)]);
  } catch (e) {
    if (!(e instanceof ArmError)) throw e;
    const error = toOperationError(e);
    return commit([replaceMember(member, { provisioningState: 'Failed', lastOperationError: publicError(error) }), finish(op, 'Failed', now, error)]);
  }
}

async function recordFailure(deps: AppDeps, command: FleetCommand, error: OperationError): Promise<void> {
  const part = await deps.store.readFleet(command.fleet, { operationId: command.operationId, memberName: command.memberName });
  const operation = part.operation;
  if (operation?.value.status !== 'InProgress') return;
  const op: Running = { id: operation.value.id, kind: operation.value.kind, version: operation.version };
  const now = deps.now().toISOString();
  const changes: Change[] = [finish(op, 'Failed', now, error)];
  const member = part.members[0];
  if (command.memberName && member && member.value.lastOperationId === op.id) {
    changes.push(replaceMember(member, { provisioningState: 'Failed', lastOperationError: publicError(error) }));
  } else if (!command.memberName && part.fleet && part.fleet.value.lastOperationId === op.id) {
    changes.push(replaceFleet(part.fleet, { provisioningState: 'Failed', lastOperationError: publicError(error) }));
  }
  await deps.store.commit(command.fleet, changes);
}
