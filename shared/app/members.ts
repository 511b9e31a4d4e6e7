import { checkName, type FleetRef, type MemberRef, memberId } from '../domain/armIds.js';
import { badRequest, notFound } from '../domain/errors.js';
import { parseMemberClusterId } from '../domain/membership.js';
import { type FleetRecord, type MemberRecord, memberIsBusy, type OperationKind } from '../domain/model.js';
import { memberPatchBody, memberPutBody, parseBody } from '../domain/requests.js';
import { memberToArm } from '../domain/wire.js';
import { ConcurrencyError, type Stored } from '../ports.js';
import {
  type ApiResult,
  type AppDeps,
  accept,
  type BusyResource,
  checkPreconditions,
  createdBy,
  modifiedBy,
  newETag,
  newOperation,
  type RequestContext,
  resumeOrRefuse,
} from './context.js';
import { assertFleetAcceptsMembers, fleetNotFound } from './fleets.js';

const sameLabels = (a: Record<string, string> = {}, b: Record<string, string> = {}) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);

const memberNotFound = (ref: MemberRef) =>
  notFound(
    'ResourceNotFound',
    `The Resource 'Microsoft.ContainerService/fleets/${ref.fleetName}/members/${ref.memberName}' under resource group '${ref.resourceGroup}' was not found.`,
  );

const parentNotFound = (ref: FleetRef) =>
  notFound('ParentResourceNotFound', `Can not perform requested operation on nested resource. Parent resource '${ref.fleetName}' not found.`);

async function readMember(deps: AppDeps, ref: MemberRef, ctx: RequestContext) {
  const part = await deps.store.readFleet(ref, { memberName: ref.memberName, abortSignal: ctx.abortSignal });
  return { fleet: part.fleet, member: part.members[0] };
}

export async function getMember(deps: AppDeps, ref: MemberRef, ctx: RequestContext): Promise<ApiResult> {
  const { fleet, member } = await readMember(deps, ref, ctx);
  if (!fleet) throw parentNotFound(ref);
  if (!member) throw memberNotFound(ref);
  return { status: 200, body: memberToArm(member.value) };
}

export async function listMembers(deps: AppDeps, ref: FleetRef, continuationToken: string | undefined, ctx: RequestContext) {
  const page = await deps.store.listMembers(ref, { pageSize: deps.pageSize, continuationToken, abortSignal: ctx.abortSignal });
  if (page.items.length === 0 && !continuationToken) {
    const { fleet } = await deps.store.readFleet(ref, { abortSignal: ctx.abortSignal });
    if (!fleet) throw fleetNotFound(ref);
  }
  return { items: page.items.map(memberToArm), continuationToken: page.continuationToken };
}

const busyMember = (m: MemberRecord): BusyResource => ({
  fleet: fleetOf(m.ref),
  label: `Member '${m.ref.memberName}'`,
  provisioningState: m.provisioningState,
  lastOperationId: m.lastOperationId,
});

const fleetOf = (ref: MemberRef): FleetRef => ({ subscriptionId: ref.subscriptionId, resourceGroup: ref.resourceGroup, fleetName: ref.fleetName });

function startOperation(kind: OperationKind, fleet: FleetRecord, ref: MemberRef, now: string) {
  return newOperation(kind, fleetOf(ref), memberId(ref), fleet.location, now, ref.memberName);
}

/** Records a change to an existing member together with the operation that converges it. */
async function changeMember(
  deps: AppDeps,
  fleet: FleetRecord,
  existing: Stored<MemberRecord>,
  kind: OperationKind,
  patch: Partial<MemberRecord>,
  ctx: RequestContext,
) {
  const current = existing.value;
  const now = deps.now().toISOString();
  const op = startOperation(kind, fleet, current.ref, now);
  const next: MemberRecord = { ...current, ...patch, lastOperationId: op.id, eTag: newETag(), systemData: modifiedBy(current.systemData, ctx.caller, now) };
  await accept(deps, { op: 'replace', row: { kind: 'member', value: next }, version: existing.version }, op, ctx);
  return { next, op };
}

export async function putMember(deps: AppDeps, ref: MemberRef, rawBody: unknown, ctx: RequestContext): Promise<ApiResult> {
  const body = parseBody(memberPutBody, rawBody);
  parseMemberClusterId(body.properties.clusterResourceId);
  const group = body.properties.group === undefined ? undefined : checkName('group', body.properties.group);
  const labels = body.properties.labels ?? {};
  // Most PUTs create a member, so try that first: the member is read only when it turns out to
  // exist (the create then fails as a whole, and the request goes on as an update). With If-Match
  // the member must exist, so it is read first.
  let fleet: Stored<FleetRecord> | undefined;
  if (ctx.ifMatch === undefined) {
    ({ fleet } = await deps.store.readFleet(ref, { abortSignal: ctx.abortSignal }));
    if (!fleet) throw parentNotFound(ref);
    assertFleetAcceptsMembers(fleet.value);
    const created = await createMember(deps, fleet.value, ref, body.properties.clusterResourceId, group, labels, ctx);
    if (created) return created;
  }
  // The fleet read just above still serves; only the member is read.
  const part = await deps.store.readFleet(ref, { includeFleet: fleet === undefined, memberName: ref.memberName, abortSignal: ctx.abortSignal });
  fleet ??= part.fleet;
  const existing = part.members[0];
  if (!fleet) throw parentNotFound(ref);
  checkPreconditions(existing?.value.eTag, ctx);
  assertFleetAcceptsMembers(fleet.value);

  if (existing) {
    const current = existing.value;
    if (current.clusterResourceId.toLowerCase() !== body.properties.clusterResourceId.toLowerCase()) {
      throw badRequest(
        'PropertyChangeNotAllowed',
        `properties.clusterResourceId is set when the member is created and cannot change (it is '${current.clusterResourceId}'). Delete the member and create it again to join another cluster.`,
        'properties.clusterResourceId',
      );
    }
    if (memberIsBusy(current.provisioningState)) {
      const same = current.provisioningState !== 'Leaving' && current.group === group && sameLabels(current.labels, labels);
      const op = await resumeOrRefuse(deps, busyMember(current), same, ctx);
      return { status: 200, body: memberToArm(current), operation: op };
    }
    // Re-running create is how a user tells the fleet a cluster's identity changed: the worker re-reads the cluster.
    const { next, op } = await changeMember(
      deps,
      fleet.value,
      existing,
      'member.createOrUpdate',
      { group, labels, provisioningState: current.joined ? 'Updating' : 'Joining' },
      ctx,
    );
    return { status: 200, body: memberToArm(next), operation: op };
  }

  // Gone since the create above failed: create it after all (a race lost again is retried by the HTTP layer).
  const result = await createMember(deps, fleet.value, ref, body.properties.clusterResourceId, group, labels, ctx);
  if (!result) throw new ConcurrencyError(`member ${ref.memberName} appeared while it was being created`);
  return result;
}

/** Records a new member and its join; undefined if the member already exists. */
async function createMember(
  deps: AppDeps,
  fleet: FleetRecord,
  ref: MemberRef,
  clusterResourceId: string,
  group: string | undefined,
  labels: Record<string, string>,
  ctx: RequestContext,
): Promise<ApiResult | undefined> {
  const now = deps.now().toISOString();
  const op = startOperation('member.createOrUpdate', fleet, ref, now);
  const created: MemberRecord = {
    ref,
    clusterResourceId,
    ...(group ? { group } : {}),
    labels,
    provisioningState: 'Joining',
    lastOperationId: op.id,
    eTag: newETag(),
    systemData: createdBy(ctx.caller, now),
  };
  try {
    // Only the commit can lose the race (the row exists); the send comes after it.
    await accept(deps, { op: 'create', row: { kind: 'member', value: created } }, op, ctx);
  } catch (e) {
    if (e instanceof ConcurrencyError) return undefined;
    throw e;
  }
  return { status: 201, body: memberToArm(created), operation: op };
}

export async function patchMember(deps: AppDeps, ref: MemberRef, rawBody: unknown, ctx: RequestContext): Promise<ApiResult> {
  const body = parseBody(memberPatchBody, rawBody);
  const requested = body.properties?.group;
  const group = requested === undefined ? undefined : checkName('group', requested);
  const { fleet, member: existing } = await readMember(deps, ref, ctx);
  if (!fleet) throw parentNotFound(ref);
  checkPreconditions(existing?.value.eTag, { ...ctx, ifNoneMatch: undefined });
  if (!existing) throw memberNotFound(ref);
  assertFleetAcceptsMembers(fleet.value);
  const current = existing.value;
  const nextGroup = requested === undefined ? current.group : group;
  const nextLabels = body.properties?.labels ?? current.labels ?? {};
  if (memberIsBusy(current.provisioningState)) {
    const same = current.provisioningState !== 'Leaving' && current.group === nextGroup && sameLabels(current.labels, nextLabels);
    return { status: 202, operation: await resumeOrRefuse(deps, busyMember(current), same, ctx) };
  }
  const { op } = await changeMember(deps, fleet.value, existing, 'member.update', { group: nextGroup, labels: nextLabels, provisioningState: 'Updating' }, ctx);
  return { status: 202, operation: op };
}

export async function deleteMember(deps: AppDeps, ref: MemberRef, ctx: RequestContext): Promise<ApiResult> {
  const { fleet, member: existing } = await readMember(deps, ref, ctx);
  checkPreconditions(existing?.value.eTag, { ...ctx, ifNoneMatch: undefined });
  if (!fleet || !existing) return { status: 204 };
  const current = existing.value;
  if (memberIsBusy(current.provisioningState)) {
    return { status: 202, operation: await resumeOrRefuse(deps, busyMember(current), current.provisioningState === 'Leaving', ctx) };
  }
  const { op } = await changeMember(deps, fleet.value, existing, 'member.delete', { provisioningState: 'Leaving' }, ctx);
  return { status: 202, operation: op };
}
