// The queue worker. It is level-triggered: a command only says "operation X wants this resource
// converged"; the worker reads the desired state, converges, and records the result in one
// transaction. A duplicate, late or superseded message finds the operation already terminal (or no
// longer the resource's current one) and does nothing.
//
// Commands come in batches from one fleet's session, in the order they were sent. Consecutive
// member commands are converged together: one read of the fleet and its counts, the members' rows
// and clusters read side by side, and one transaction for up to 49 of them (two rows each, plus
// the counts). A fleet command is converged on its own, between them.
import { chunks, inParallel } from '../batches.js';
import { fleetId, memberId } from '../domain/armIds.js';
import { type FleetCommand, fleetCommandSchema, isNotification } from '../domain/commands.js';
import { ArmError } from '../domain/errors.js';
import type { FleetHub } from '../domain/hubProfile.js';
import { checkJoin, memberLimitReached, parseMemberClusterId } from '../domain/membership.js';
import {
  type FleetCounts,
  type FleetRecord,
  fleetIsBusy,
  type JoinedCluster,
  type MemberRecord,
  memberIsBusy,
  type OperationError,
  type OperationKind,
  type OperationRecord,
  type OperationStatus,
} from '../domain/model.js';
import { HubObjects } from '../hub/objects.js';
import { type Change, ConcurrencyError, type FleetPartition, maxChangesPerCommit, type Stored } from '../ports.js';
import { type AppDeps, newETag } from './context.js';
import { agentLeft, mirrorMember, unmirrorMember } from './memberClusters.js';
import { syncPlacement } from './placements.js';
import { refreshMember } from './refresh.js';
import { syncService } from './serviceImports.js';

export interface Delivery {
  /** 1 on the first delivery, as the Functions host counts. */
  deliveryCount: number;
  maxDeliveryCount: number;
  abortSignal?: AbortSignal;
}

/** One message of a batch, as the trigger hands it over. */
export interface IncomingCommand {
  body: unknown;
  /** 1 on the first delivery. */
  deliveryCount: number;
}

export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

/** Member commands converged in one transaction: two rows each (member, operation) and the counts row. */
const maxMembersPerCommit = Math.floor((maxChangesPerCommit - 1) / 2);

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
  return handleFleetCommands(deps, [{ body: message, deliveryCount: delivery.deliveryCount }], delivery);
}

/**
 * Converges a batch of one session's commands in order. Throwing abandons the whole batch (the
 * trigger settles a batch as one), which is harmless: every command is idempotent.
 */
export async function handleFleetCommands(
  deps: AppDeps,
  messages: IncomingCommand[],
  options: { maxDeliveryCount: number; abortSignal?: AbortSignal },
): Promise<void> {
  const commands: { command: FleetCommand; deliveryCount: number }[] = [];
  const poison: string[] = [];
  for (const m of messages) {
    const parsed = fleetCommandSchema.safeParse(asJson(m.body));
    if (parsed.success) commands.push({ command: parsed.data, deliveryCount: m.deliveryCount });
    else poison.push(parsed.error.issues[0]?.message ?? 'invalid');
  }
  for (const run of runsOf(commands.filter((c) => !isNotification(c.command)))) {
    try {
      if (run[0].command.memberName === undefined) await convergeFleet(deps, run[0].command, options.abortSignal);
      else
        await convergeMembers(
          deps,
          run[0].command.fleet,
          run.map((r) => r.command),
          options.abortSignal,
        );
    } catch (e) {
      // The last attempt records the failure, so a client polling the operation sees Failed rather
      // than InProgress for ever; the message then goes to the dead-letter queue.
      if (!(e instanceof ConcurrencyError)) {
        for (const r of run) {
          if (r.deliveryCount < options.maxDeliveryCount) continue;
          const message = `The operation failed after ${r.deliveryCount} attempts: ${(e as Error).message}`;
          await recordFailure(deps, r.command, { code: 'InternalServerError', message, httpStatus: 500 });
        }
      }
      throw e;
    }
  }
  // Refreshes after the batch's operations: a member an operation just settled is read once more.
  for (const r of commands.filter((c) => c.command.kind === 'member.refresh')) await refreshMember(deps, r.command, options.abortSignal);
  // Then placements, each once however many changes asked for it: they read the members as just settled.
  const placements = new Map(commands.filter((c) => c.command.kind === 'placement.sync').map((c) => [c.command.placementName ?? '', c.command]));
  for (const command of placements.values()) await syncPlacement(deps, command, options.abortSignal);
  // Then exported services, each once: they read the members and placements as just settled.
  const services = new Map(commands.filter((c) => c.command.kind === 'service.sync').map((c) => [c.command.serviceName ?? '', c.command]));
  for (const command of services.values()) await syncService(deps, command);
  // Retrying cannot fix a malformed message; throwing (after the rest of the batch is done) lets
  // Service Bus dead-letter it after maxDeliveryCount attempts, with this error in the log. The
  // good commands delivered with it come back too, and find their operations ended.
  if (poison.length) throw new PoisonMessageError(`not a fleet command: ${poison[0]}`);
}

/** Splits a batch into what converges together: a fleet command alone, or consecutive commands for distinct members. */
function runsOf<T extends { command: FleetCommand }>(commands: T[]): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let names = new Set<string>();
  const close = () => {
    if (run.length) runs.push(run);
    run = [];
    names = new Set();
  };
  for (const c of commands) {
    const name = c.command.memberName;
    if (name === undefined) {
      close();
      runs.push([c]);
      continue;
    }
    if (names.has(name) || run.length >= maxMembersPerCommit) close();
    run.push(c);
    names.add(name);
  }
  close();
  return runs;
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

function finish(op: Running, status: Exclude<OperationStatus, 'InProgress'>, at: string, error?: OperationError, result?: string): Change {
  return {
    op: 'finish',
    operationId: op.id,
    status,
    endTime: at,
    ...(error ? { error } : {}),
    ...(result ? { result } : {}),
    ...(op.version ? { version: op.version } : {}),
  };
}

const superseded = (op: Running, fleet: FleetCommand['fleet'], memberName?: string): OperationError => ({
  code: 'OperationSuperseded',
  message: `Operation ${op.id} was superseded by a later change to ${op.value?.resourceId ?? (memberName ? memberId({ ...fleet, memberName }) : fleetId(fleet))}.`,
  httpStatus: 409,
});

/** The time an operation ends: taken when its work is done, just before the transaction that records it. */
const endTime = (deps: AppDeps) => deps.now().toISOString();

/**
 * A busy fleet or member row naming the command's operation proves that operation InProgress: the
 * row and its operation are only ever written in one transaction (accepting a change sets both,
 * converging settles both). Then the operation need not be read; the commit that ends it is
 * conditioned on the row's version. Anything else reads the operation: a duplicate, a superseded or
 * orphaned operation, and deletes (a transaction cannot make a delete conditional on a version).
 */
async function runningOperation(
  deps: AppDeps,
  command: FleetCommand,
  row: Stored<FleetRecord> | Stored<MemberRecord> | undefined,
  abortSignal?: AbortSignal,
): Promise<Running | undefined> {
  if (row?.value.lastOperationId === command.operationId && !command.kind.endsWith('.delete')) {
    const state = row.value.provisioningState;
    const busy =
      command.memberName === undefined ? fleetIsBusy(state as FleetRecord['provisioningState']) : memberIsBusy(state as MemberRecord['provisioningState']);
    // Settled: the operation ended in the transaction that settled the row.
    return busy ? { id: command.operationId, kind: command.kind as OperationKind } : undefined;
  }
  const { operation } = await deps.store.readFleet(command.fleet, { includeFleet: false, operationId: command.operationId, abortSignal });
  if (operation?.value.status !== 'InProgress') return undefined;
  return { id: operation.value.id, kind: operation.value.kind, version: operation.version, value: operation.value };
}

function replaceMember(member: Stored<MemberRecord>, patch: Partial<MemberRecord>): Change {
  return { op: 'replace', row: { kind: 'member', value: { ...member.value, ...patch, eTag: newETag() } }, version: member.version };
}

function replaceFleet(fleet: Stored<FleetRecord>, patch: Partial<FleetRecord>): Change {
  return { op: 'replace', row: { kind: 'fleet', value: { ...fleet.value, ...patch, eTag: newETag() } }, version: fleet.version };
}

const publicError = ({ code, message, target }: OperationError) => ({ code, message, ...(target ? { target } : {}) });

async function convergeFleet(deps: AppDeps, command: FleetCommand, abortSignal?: AbortSignal): Promise<void> {
  const part = await deps.store.readFleet(command.fleet, { abortSignal });
  const op = await runningOperation(deps, command, part.fleet, abortSignal);
  if (!op) return;
  const commit = (changes: Change[]) => deps.store.commit(command.fleet, changes, { abortSignal });
  const fleet = part.fleet;
  if (op.kind === 'fleet.delete') {
    if (!fleet) return commit([finish(op, 'Succeeded', endTime(deps))]);
    if (fleet.value.lastOperationId !== op.id) return commit([finish(op, 'Canceled', endTime(deps), superseded(op, command.fleet))]);
    return deleteFleetAndMembers(deps, fleet, op, abortSignal);
  }
  if (!fleet || fleet.value.lastOperationId !== op.id) return commit([finish(op, 'Canceled', endTime(deps), superseded(op, command.fleet))]);
  let tenantId = fleet.value.tenantId;
  if (op.kind === 'fleet.createOrUpdate' || !tenantId) {
    // The fleet's tenant is its subscription's: members must come from the same tenant.
    const sub = await deps.directory.getSubscription(fleet.value.ref.subscriptionId, { abortSignal });
    if (sub.state !== 'found') {
      const message = `Subscription '${fleet.value.ref.subscriptionId}' was not found in the Microsoft Entra tenant this service runs in.`;
      const error = toOperationError(new ArmError('SubscriptionNotFound', 404, message));
      return commit([replaceFleet(fleet, { provisioningState: 'Failed', lastOperationError: publicError(error) }), finish(op, 'Failed', endTime(deps), error)]);
    }
    tenantId = sub.tenantId;
  }
  const hub = fleet.value.hub;
  if (hub && !hub.ready) await provisionHub(deps, fleet.value, hub);
  return commit([
    replaceFleet(fleet, { provisioningState: 'Succeeded', tenantId, lastOperationError: undefined, ...(hub ? { hub: { ...hub, ready: true } } : {}) }),
    finish(op, 'Succeeded', endTime(deps)),
  ]);
}

/** A hub's table, its name in the directory, and its system namespaces; each step may run again. */
async function provisionHub(deps: AppDeps, fleet: FleetRecord, hub: FleetHub): Promise<void> {
  const ref = { name: hub.name, table: hub.table };
  await deps.hubStore.createHub(ref);
  await new HubObjects({ store: deps.hubStore, now: deps.now }, ref).bootstrap();
  await deps.hubs.put(hub.name, { fleetId: fleetId(fleet.ref), table: hub.table });
}

/** Member rows deleted per page, and transactions of them at once. */
const deletePageSize = 1000;
const deleteWidth = 8;

/**
 * Deleting a fleet deletes its members, as ARM deletes a parent's child resources. A page at a time:
 * release the page's clusters (a query and batches per subscription), delete its rows (batches of
 * 100, several at once); the fleet row goes last, in the transaction that ends the operation. An
 * interrupted delete is redelivered and goes on from what is left; the fleet stays Deleting until
 * then, so it is never seen Succeeded with part of its members gone.
 */
async function deleteFleetAndMembers(deps: AppDeps, fleet: Stored<FleetRecord>, op: Running, abortSignal?: AbortSignal): Promise<void> {
  const ref = fleet.value.ref;
  // With a hub, each member's agent is asked to leave first, by the rules of a member delete; the
  // sweeper sends this command again until every one has left or can be removed.
  if (fleet.value.hub?.ready && (await membersStillLeaving(deps, fleet.value, op.value?.startTime, abortSignal)) > 0) return;
  for (;;) {
    const page = await deps.store.listMembers(ref, { pageSize: deletePageSize, abortSignal });
    if (page.items.length === 0) break;
    const subscriptions = page.items.map((m) => parseMemberClusterId(m.clusterResourceId).subscriptionId);
    await deps.claims.releaseFleet(ref, subscriptions, { abortSignal });
    const deletes = page.items.map((m): Change => ({ op: 'delete', kind: 'member', name: m.ref.memberName }));
    await inParallel(chunks(deletes, maxChangesPerCommit), deleteWidth, (batch) => deps.store.commit(ref, batch, { abortSignal }));
  }
  // The hub goes with its fleet: first its name (no request finds it), then its table and every object in it.
  const hub = fleet.value.hub;
  if (hub) {
    await deps.hubs.delete(hub.name);
    await deps.hubStore.deleteHub({ name: hub.name, table: hub.table });
  }
  await deps.store.commit(
    ref,
    [{ op: 'delete', kind: 'counts', name: 'counts' }, { op: 'delete', kind: 'fleet', name: ref.fleetName }, finish(op, 'Succeeded', endTime(deps))],
    { abortSignal },
  );
}

/** How many of a deleted fleet's members have agents still to leave (each is asked to). */
async function membersStillLeaving(deps: AppDeps, fleet: FleetRecord, startedAt: string | undefined, abortSignal?: AbortSignal): Promise<number> {
  let waiting = 0;
  let continuationToken: string | undefined;
  do {
    const page = await deps.store.listMembers(fleet.ref, { pageSize: deletePageSize, continuationToken, abortSignal });
    await inParallel(page.items, 16, async (m) => {
      if (!(await agentLeft(deps, fleet, m, startedAt)).done) waiting++;
    });
    continuationToken = page.continuationToken;
  } while (continuationToken);
  return waiting;
}

/** A fleet written before it kept counts: count its joined members once. */
async function countJoined(deps: AppDeps, fleet: FleetRecord, abortSignal?: AbortSignal): Promise<FleetCounts> {
  let joined = 0;
  let continuationToken: string | undefined;
  do {
    const page = await deps.store.listMembers(fleet.ref, { pageSize: 1000, continuationToken, abortSignal });
    joined += page.items.filter((m) => m.joined).length;
    continuationToken = page.continuationToken;
  } while (continuationToken);
  return { joined };
}

/** What one member command comes to, before the transaction. */
type Outcome =
  | { kind: 'cancel'; op: Running; command: FleetCommand }
  | { kind: 'delete'; op: Running; member: Stored<MemberRecord>; how?: string }
  | { kind: 'settle'; op: Running; member: Stored<MemberRecord> }
  | { kind: 'join'; op: Running; member: Stored<MemberRecord>; joined?: JoinedCluster; error?: ArmError };

async function convergeMembers(deps: AppDeps, fleetRef: FleetCommand['fleet'], commands: FleetCommand[], abortSignal?: AbortSignal): Promise<void> {
  const part: FleetPartition = await deps.store.readFleet(fleetRef, { counts: true, memberNames: commands.map((c) => c.memberName!), abortSignal });
  const byName = new Map(part.members.map((m) => [m.value.ref.memberName, m]));
  const fleet = part.fleet;
  const outcomes: Outcome[] = [];
  await Promise.all(
    commands.map(async (command, i) => {
      const member = byName.get(command.memberName!);
      const op = await runningOperation(deps, command, member, abortSignal);
      if (!op) return;
      if (!member || !fleet || member.value.lastOperationId !== op.id) outcomes[i] = { kind: 'cancel', op, command };
      else if (op.kind === 'member.delete') {
        // With a hub, the member's agent is asked to leave first (it takes away what it placed);
        // the operation goes on when it acknowledges, or when it cannot (see agentLeft).
        const left = fleet.value.hub?.ready ? await agentLeft(deps, fleet.value, member.value, op.value?.startTime) : undefined;
        if (left && !left.done) return;
        outcomes[i] = { kind: 'delete', op, member, ...(left?.done ? { how: `The member left the fleet: ${left.how}.` } : {}) };
      } else if (op.kind === 'member.update') outcomes[i] = { kind: 'settle', op, member };
      else outcomes[i] = { kind: 'join', op, member };
    }),
  );
  const present = outcomes.filter(Boolean);
  if (present.length === 0) return;
  const counts = part.counts?.value ?? (fleet ? await countJoined(deps, fleet.value, abortSignal) : { joined: 0 });

  // Leaving members give their places back first: their deletes were accepted before these joins ran.
  const leaving = present.filter((o): o is Extract<Outcome, { kind: 'delete' }> => o.kind === 'delete');
  await Promise.all(leaving.map((o) => deps.claims.release(o.member.value.clusterResourceId, o.member.value.ref)));
  let joined = counts.joined - leaving.filter((o) => o.member.value.joined).length;
  const joins = present.filter((o): o is Extract<Outcome, { kind: 'join' }> => o.kind === 'join');
  if (fleet) joined = await admit(deps, fleet.value, joins, joined, abortSignal);

  const at = endTime(deps);
  const changes: Change[] = [];
  for (const o of present) {
    if (o.kind === 'cancel') changes.push(finish(o.op, 'Canceled', at, superseded(o.op, o.command.fleet, o.command.memberName)));
    else if (o.kind === 'delete')
      changes.push({ op: 'delete', kind: 'member', name: o.member.value.ref.memberName }, finish(o.op, 'Succeeded', at, undefined, o.how));
    else if (o.kind === 'settle') {
      const settled = o.member.value.joined ? 'Succeeded' : 'Failed';
      changes.push(replaceMember(o.member, { provisioningState: settled }), finish(o.op, 'Succeeded', at));
    } else if (o.error) {
      const error = toOperationError(o.error);
      changes.push(replaceMember(o.member, { provisioningState: 'Failed', lastOperationError: publicError(error) }), finish(o.op, 'Failed', at, error));
    } else {
      // A join reads the cluster afresh: what was wrong with its identity or existence is settled.
      changes.push(
        replaceMember(o.member, { provisioningState: 'Succeeded', joined: o.joined, lastOperationError: undefined, agentIssue: undefined }),
        finish(o.op, 'Succeeded', at),
      );
    }
  }
  // The hub's view of the members (MemberCluster, its namespace and InternalMemberCluster), before
  // the transaction: a failure here is retried with the message, and each write converges.
  if (fleet?.value.hub?.ready) await mirrorMembers(deps, fleet.value, present);
  if (fleet && joined !== counts.joined) {
    const row = { kind: 'counts' as const, value: { ...counts, joined } };
    changes.push(part.counts ? { op: 'replace', row, version: part.counts.version } : { op: 'create', row });
  }
  await deps.store.commit(fleetRef, changes, { abortSignal });
}

async function mirrorMembers(deps: AppDeps, fleet: FleetRecord, outcomes: Outcome[]): Promise<void> {
  await inParallel(outcomes, 8, async (o) => {
    if (o.kind === 'delete') await unmirrorMember(deps, fleet, o.member.value.ref.memberName);
    else if (o.kind === 'settle') await mirrorMember(deps, fleet, o.member.value);
    else if (o.kind === 'join' && !o.error) await mirrorMember(deps, fleet, { ...o.member.value, joined: o.joined });
  });
}

/**
 * Decides the joins of a batch, in the order they were sent: each cluster is checked (tenant,
 * existence, identity), then claimed; a new member takes one of the places the limit leaves, which
 * are handed out in order, claims in parallel, a wave at a time (a claim refused because the cluster
 * is in another fleet leaves its place to the next join). Returns the joined count after them.
 */
async function admit(
  deps: AppDeps,
  fleet: FleetRecord,
  joins: Extract<Outcome, { kind: 'join' }>[],
  joined: number,
  abortSignal?: AbortSignal,
): Promise<number> {
  const check = async (o: (typeof joins)[number], otherJoined: number) => {
    const member = o.member.value;
    const clusterId = parseMemberClusterId(member.clusterResourceId);
    const subscription = await deps.directory.getSubscription(clusterId.subscriptionId, { abortSignal });
    const sameTenant = subscription.state === 'found' && subscription.tenantId === fleet.tenantId;
    const cluster = sameTenant ? await deps.directory.getManagedCluster(clusterId, { abortSignal }) : undefined;
    return checkJoin({ fleet, member, cluster, subscription, otherJoined, memberLimit: deps.memberLimit, now: deps.now().toISOString() });
  };
  const refuse = (o: (typeof joins)[number], e: unknown) => {
    if (!(e instanceof ArmError)) throw e;
    o.error = e;
  };
  const claim = async (o: (typeof joins)[number]) => {
    const member = o.member.value;
    const result = await deps.claims.claim(member.clusterResourceId, member.ref);
    if (result.claimed) return true;
    const w = result.owner;
    const message = `AKS cluster '${member.clusterResourceId}' is already member '${w.memberName}' of fleet '${fleetId(w)}'; a cluster can belong to one fleet only.`;
    o.error = new ArmError('MemberClusterAlreadyInFleet', 409, message);
    return false;
  };
  // Every cluster is checked first, side by side, as if a place were free; the limit comes after.
  await Promise.all(
    joins.map(async (o) => {
      try {
        o.joined = await check(o, 0);
      } catch (e) {
        refuse(o, e);
      }
    }),
  );
  const checked = joins.filter((o) => !o.error);
  // Members already joined (a re-run create, an identity refresh) hold their place.
  await Promise.all(checked.filter((o) => o.member.value.joined).map(claim));
  let waiting = checked.filter((o) => !o.member.value.joined);
  while (waiting.length) {
    const places = Math.max(0, deps.memberLimit - joined);
    if (places === 0) {
      for (const o of waiting) o.error = memberLimitReached(fleet, joined, deps.memberLimit);
      break;
    }
    const wave = waiting.slice(0, places);
    waiting = waiting.slice(places);
    const claimed = await Promise.all(wave.map(claim));
    joined += claimed.filter(Boolean).length;
  }
  return joined;
}

async function recordFailure(deps: AppDeps, command: FleetCommand, error: OperationError): Promise<void> {
  const part = await deps.store.readFleet(command.fleet, { operationId: command.operationId, memberName: command.memberName });
  const operation = part.operation;
  if (operation?.value.status !== 'InProgress') return;
  const op: Running = { id: operation.value.id, kind: operation.value.kind, version: operation.version };
  const changes: Change[] = [finish(op, 'Failed', endTime(deps), error)];
  const member = part.members[0];
  if (command.memberName && member && member.value.lastOperationId === op.id) {
    changes.push(replaceMember(member, { provisioningState: 'Failed', lastOperationError: publicError(error) }));
  } else if (!command.memberName && part.fleet?.value.lastOperationId === op.id) {
    changes.push(replaceFleet(part.fleet, { provisioningState: 'Failed', lastOperationError: publicError(error) }));
  }
  await deps.store.commit(command.fleet, changes);
}
