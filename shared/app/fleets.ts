import { type FleetRef, fleetId } from '../domain/armIds.js';
import { ArmError, badRequest, notFound } from '../domain/errors.js';
import { newHub, parseHubProfile } from '../domain/hubProfile.js';
import { type FleetIdentity, parseIdentity } from '../domain/identity.js';
import { execFor, hubKubeconfig } from '../domain/kubeconfig.js';
import { type FleetRecord, fleetIsBusy, type OperationKind } from '../domain/model.js';
import { fleetPatchBody, fleetPutBody, normalizeLocation, parseBody } from '../domain/requests.js';
import { fleetToArm } from '../domain/wire.js';
import type { Stored } from '../ports.js';
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

export const fleetNotFound = (ref: FleetRef) =>
  notFound('ResourceNotFound', `The Resource 'Microsoft.ContainerService/fleets/${ref.fleetName}' under resource group '${ref.resourceGroup}' was not found.`);

export async function getFleet(deps: AppDeps, ref: FleetRef, ctx: RequestContext): Promise<ApiResult> {
  const { fleet } = await deps.store.readFleet(ref, { abortSignal: ctx.abortSignal });
  if (!fleet) throw fleetNotFound(ref);
  return { status: 200, body: fleetToArm(fleet.value) };
}

export async function listFleets(
  deps: AppDeps,
  scope: { subscriptionId: string; resourceGroup?: string },
  continuationToken: string | undefined,
  ctx: RequestContext,
) {
  const page = await deps.store.listFleets(scope, { pageSize: deps.pageSize, continuationToken, abortSignal: ctx.abortSignal });
  return { items: page.items.map(fleetToArm), continuationToken: page.continuationToken };
}

/** Whether a request asks for what the fleet already has (then a retry of the running change). */
const sameSettings = (f: FleetRecord, tags: Record<string, string>, identity: FleetIdentity | undefined) =>
  JSON.stringify(f.tags) === JSON.stringify(tags) &&
  f.identity?.type === identity?.type &&
  JSON.stringify(f.identity?.userAssigned ?? []) === JSON.stringify(identity?.userAssigned ?? []);

const busyFleet = (f: FleetRecord): BusyResource => ({
  fleet: f.ref,
  label: `Fleet '${f.ref.fleetName}'`,
  provisioningState: f.provisioningState,
  lastOperationId: f.lastOperationId,
});

/** Records a change to an existing fleet together with the operation that converges it. */
async function changeFleet(deps: AppDeps, existing: Stored<FleetRecord>, kind: OperationKind, patch: Partial<FleetRecord>, ctx: RequestContext) {
  const current = existing.value;
  const now = deps.now().toISOString();
  const op = newOperation(kind, current.ref, fleetId(current.ref), current.location, now);
  const next: FleetRecord = { ...current, ...patch, lastOperationId: op.id, eTag: newETag(), systemData: modifiedBy(current.systemData, ctx.caller, now) };
  await accept(deps, { op: 'replace', row: { kind: 'fleet', value: next }, version: existing.version }, op, ctx);
  return { next, op };
}

export async function putFleet(deps: AppDeps, ref: FleetRef, rawBody: unknown, ctx: RequestContext): Promise<ApiResult> {
  const body = parseBody(fleetPutBody, rawBody);
  const location = normalizeLocation(body.location);
  const tags = body.tags ?? {};
  const wantsHub = body.properties?.hubProfile !== undefined && body.properties.hubProfile !== null;
  const dnsPrefix = wantsHub ? parseHubProfile(body.properties!.hubProfile, ref.fleetName) : undefined;
  // Checked before anything is read; a PUT replaces the identity (none given: none).
  if (body.identity) parseIdentity(body.identity);
  const { fleet: existing } = await deps.store.readFleet(ref, { abortSignal: ctx.abortSignal });
  checkPreconditions(existing?.value.eTag, ctx);
  const now = deps.now().toISOString();
  const identity = body.identity ? parseIdentity(body.identity, existing?.value.identity) : undefined;

  if (existing) {
    const current = existing.value;
    if (current.location !== location) {
      throw badRequest(
        'InvalidResourceLocation',
        `The resource '${ref.fleetName}' already exists in location '${current.location}'; a fleet cannot move to '${location}'.`,
        'location',
      );
    }
    // The hub profile is create-only, as ARM's: a PUT may repeat it (or leave it out), not change it.
    if (wantsHub && (!current.hub || current.hub.dnsPrefix.toLowerCase() !== dnsPrefix!.toLowerCase())) {
      throw badRequest(
        'PropertyChangeNotAllowed',
        current.hub
          ? `Fleet '${ref.fleetName}' has a hub with dnsPrefix '${current.hub.dnsPrefix}'; properties.hubProfile cannot change after the fleet is created.`
          : `Fleet '${ref.fleetName}' was created without a hub; a hub cannot be added later. Create another fleet with properties.hubProfile.`,
        'properties.hubProfile',
      );
    }
    if (fleetIsBusy(current.provisioningState)) {
      const same = current.provisioningState !== 'Deleting' && sameSettings(current, tags, identity);
      const op = await resumeOrRefuse(deps, busyFleet(existing.value), same, ctx);
      return { status: 200, body: fleetToArm(current), operation: op };
    }
    const { next, op } = await changeFleet(deps, existing, 'fleet.createOrUpdate', { tags, identity, provisioningState: 'Updating' }, ctx);
    return { status: 200, body: fleetToArm(next), operation: op };
  }

  const op = newOperation('fleet.createOrUpdate', ref, fleetId(ref), location, now);
  const created: FleetRecord = {
    ref,
    location,
    tags,
    ...(identity ? { identity } : {}),
    ...(dnsPrefix ? { hub: newHub(fleetId(ref), now, dnsPrefix, ctx.host ?? 'localhost') } : {}),
    provisioningState: 'Creating',
    lastOperationId: op.id,
    eTag: newETag(),
    systemData: createdBy(ctx.caller, now),
  };
  await accept(
    deps,
    [
      { op: 'create', row: { kind: 'fleet', value: created } },
      { op: 'create', row: { kind: 'counts', value: { joined: 0 } } },
    ],
    op,
    ctx,
  );
  return { status: 201, body: fleetToArm(created), operation: op };
}

export async function patchFleet(deps: AppDeps, ref: FleetRef, rawBody: unknown, ctx: RequestContext): Promise<ApiResult> {
  const body = parseBody(fleetPatchBody, rawBody);
  const { fleet: existing } = await deps.store.readFleet(ref, { abortSignal: ctx.abortSignal });
  checkPreconditions(existing?.value.eTag, { ...ctx, ifNoneMatch: undefined });
  if (!existing) throw fleetNotFound(ref);
  const current = existing.value;
  const tags = body.tags ?? current.tags;
  const identity = body.identity ? parseIdentity(body.identity, current.identity) : current.identity;
  if (fleetIsBusy(current.provisioningState)) {
    const same = current.provisioningState !== 'Deleting' && sameSettings(current, tags, identity);
    return { status: 202, operation: await resumeOrRefuse(deps, busyFleet(existing.value), same, ctx) };
  }
  const { op } = await changeFleet(deps, existing, 'fleet.update', { tags, identity, provisioningState: 'Updating' }, ctx);
  return { status: 202, operation: op };
}

export async function deleteFleet(deps: AppDeps, ref: FleetRef, ctx: RequestContext): Promise<ApiResult> {
  const { fleet: existing } = await deps.store.readFleet(ref, { abortSignal: ctx.abortSignal });
  checkPreconditions(existing?.value.eTag, { ...ctx, ifNoneMatch: undefined });
  if (!existing) return { status: 204 };
  if (fleetIsBusy(existing.value.provisioningState)) {
    return { status: 202, operation: await resumeOrRefuse(deps, busyFleet(existing.value), existing.value.provisioningState === 'Deleting', ctx) };
  }
  const { op } = await changeFleet(deps, existing, 'fleet.delete', { provisioningState: 'Deleting' }, ctx);
  return { status: 202, operation: op };
}

/** POST listCredentials: the hub's kubeconfig, as Azure answers it; a hubless fleet has none. */
export async function listFleetCredentials(deps: AppDeps, ref: FleetRef, ctx: RequestContext): Promise<ApiResult> {
  const { fleet } = await deps.store.readFleet(ref, { abortSignal: ctx.abortSignal });
  if (!fleet) throw fleetNotFound(ref);
  const hub = fleet.value.hub;
  if (!hub)
    throw new ArmError(
      'HubNotAvailable',
      400,
      `Fleet '${ref.fleetName}' has no hub, so it has no kubeconfig to list. A fleet gets a hub when it is created with properties.hubProfile.`,
    );
  if (!hub.ready)
    throw new ArmError(
      'HubNotReady',
      409,
      `The hub of fleet '${ref.fleetName}' is still being created (the fleet is ${fleet.value.provisioningState}); try again when it is Succeeded.`,
    );
  const { exec, audience, certificateAuthorityPem } = deps.hubCredential;
  const value = hubKubeconfig({ fleetName: ref.fleetName, server: `https://${hub.fqdn}`, exec: execFor(exec, audience), certificateAuthorityPem });
  return { status: 200, body: { kubeconfigs: [{ name: 'user', value: Buffer.from(value).toString('base64') }] } };
}

export function assertFleetAcceptsMembers(fleet: FleetRecord): void {
  if (fleet.provisioningState === 'Deleting') {
    throw new ArmError('FleetBeingDeleted', 409, `Fleet '${fleet.ref.fleetName}' is being deleted; it accepts no member changes.`);
  }
}
