// The worker against Azurite, with a directory that answers as the test says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AzuriteTables, startAzuriteTables } from '../../local/azurite.js';
import type { AppDeps } from '../../shared/app/context.js';
import { putFleet } from '../../shared/app/fleets.js';
import { putMember } from '../../shared/app/members.js';
import { handleFleetCommand, handleFleetCommands, PoisonMessageError } from '../../shared/app/reconcile.js';
import { createClusterClaims, createTableStore } from '../../shared/azure/tableStore.js';
import type { FleetCommand } from '../../shared/domain/commands.js';
import { type ClusterDirectory, ConcurrencyError } from '../../shared/ports.js';

let azurite: AzuriteTables;
let deps: AppDeps;
const sent: FleetCommand[] = [];
let directory: ClusterDirectory;
const sub = '00000000-0000-0000-0000-000000000001';
const tenant = 't-1';
const ctx = { caller: { id: 'tester', type: 'User' as const, roles: [] } };
const clusterId = `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c1`;

beforeAll(async () => {
  azurite = await startAzuriteTables();
  const tables = { connectionString: azurite.connectionString };
  const store = createTableStore(tables);
  const claims = createClusterClaims(tables);
  await Promise.all([store.ensureTables(), claims.ensureTables()]);
  directory = {
    getSubscription: async () => ({ state: 'found', tenantId: tenant }),
    getManagedCluster: async () => ({ id: clusterId, location: 'eastus', identity: { type: 'SystemAssigned', principalId: 'p1' } }),
  };
  deps = {
    store,
    claims,
    queue: { send: async (c) => void sent.push(c) },
    directory: { getSubscription: (...a) => directory.getSubscription(...a), getManagedCluster: (...a) => directory.getManagedCluster(...a) },
    memberLimit: 20,
    pageSize: 10,
    identityCheckSeconds: 60,
    forceDeleteSeconds: 900,
    heartbeatPeriodSeconds: 15,
    now: () => new Date(),
  };
});
afterAll(async () => azurite?.close());

const once = { deliveryCount: 1, maxDeliveryCount: 5 };
const last = { deliveryCount: 5, maxDeliveryCount: 5 };

async function fleetReady(name: string) {
  const ref = { subscriptionId: sub, resourceGroup: 'rg', fleetName: name };
  await putFleet(deps, ref, { location: 'eastus' }, ctx);
  await handleFleetCommand(deps, sent.at(-1), once);
  return ref;
}

describe('the fleet-commands worker', () => {
  it('joins a member and does nothing when the same command comes again', async () => {
    const ref = await fleetReady('idem');
    await putMember(deps, { ...ref, memberName: 'm' }, { properties: { clusterResourceId: clusterId } }, ctx);
    const command = sent.at(-1)!;
    await handleFleetCommand(deps, command, once);
    const after = (await deps.store.readFleet(ref, { memberName: 'm' })).members[0];
    expect(after.value.provisioningState).toBe('Succeeded');
    expect(after.value.joined?.principalId).toBe('p1');
    await handleFleetCommand(deps, command, once);
    const again = (await deps.store.readFleet(ref, { memberName: 'm' })).members[0];
    expect(again.version).toBe(after.version);
  });

  it('retries what fails unexpectedly, and on the last delivery records the failure', async () => {
    const ref = await fleetReady('flaky');
    directory = {
      ...directory,
      getManagedCluster: async () => {
        throw new Error('ARM is down');
      },
    };
    try {
      await putMember(deps, { ...ref, memberName: 'm' }, { properties: { clusterResourceId: clusterId.replace('c1', 'c2') } }, ctx);
      const command = sent.at(-1)!;
      await expect(handleFleetCommand(deps, command, once)).rejects.toThrow('ARM is down');
      const meanwhile = await deps.store.readFleet(ref, { memberName: 'm', operationId: command.operationId });
      expect(meanwhile.operation?.value.status).toBe('InProgress');
      await expect(handleFleetCommand(deps, command, last)).rejects.toThrow('ARM is down');
      const after = await deps.store.readFleet(ref, { memberName: 'm', operationId: command.operationId });
      expect(after.operation?.value).toMatchObject({ status: 'Failed', error: { code: 'InternalServerError' } });
      expect(after.members[0].value).toMatchObject({ provisioningState: 'Failed', lastOperationError: { code: 'InternalServerError' } });
    } finally {
      directory = {
        ...directory,
        getManagedCluster: async () => ({ id: clusterId, location: 'eastus', identity: { type: 'SystemAssigned', principalId: 'p1' } }),
      };
    }
  });

  it('takes a command that arrives as JSON text', async () => {
    const ref = await fleetReady('text');
    await putMember(deps, { ...ref, memberName: 'm' }, { properties: { clusterResourceId: clusterId.replace('c1', 'c-text') } }, ctx);
    await handleFleetCommand(deps, JSON.stringify(sent.at(-1)), once);
    expect((await deps.store.readFleet(ref, { memberName: 'm' })).members[0].value.provisioningState).toBe('Succeeded');
  });

  it('refuses a malformed message so that Service Bus dead-letters it', async () => {
    await expect(handleFleetCommand(deps, { hello: 'world' }, once)).rejects.toBeInstanceOf(PoisonMessageError);
  });

  it('fails a fleet whose subscription ARM does not know', async () => {
    directory = { ...directory, getSubscription: async () => ({ state: 'notFound' }) };
    try {
      const ref = { subscriptionId: sub, resourceGroup: 'rg', fleetName: 'nosub' };
      await putFleet(deps, ref, { location: 'eastus' }, ctx);
      await handleFleetCommand(deps, sent.at(-1), once);
      const fleet = (await deps.store.readFleet(ref)).fleet!.value;
      expect(fleet).toMatchObject({ provisioningState: 'Failed', lastOperationError: { code: 'SubscriptionNotFound' } });
    } finally {
      directory = { ...directory, getSubscription: async () => ({ state: 'found', tenantId: tenant }) };
    }
  });
});

describe('the operations sweeper', () => {
  it('sends running operations older than the threshold again and deletes old finished ones', async () => {
    const { sweepOperations } = await import('../../shared/app/sweeper.js');
    const ref = await fleetReady('sweep');
    const sentBefore = sent.length;
    await putMember(deps, { ...ref, memberName: 'stuck' }, { properties: { clusterResourceId: clusterId.replace('c1', 'c9') } }, ctx);
    const stuck = sent.at(-1)!;
    sent.length = sentBefore; // as if the send had been lost

    const later = new Date(Date.now() + 10 * 60_000);
    const soon = await sweepOperations({ ...deps, now: () => new Date() }, { stuckAfterSeconds: 300, retentionDays: 7 });
    expect(soon.resent).toBe(0);
    const result = await sweepOperations({ ...deps, now: () => later }, { stuckAfterSeconds: 300, retentionDays: 7 });
    expect(sent.map((c) => c.operationId)).toContain(stuck.operationId);
    expect(result.deleted).toBe(0);

    const fleetOp = (await deps.store.readFleet(ref)).fleet!.value.lastOperationId!;
    const muchLater = new Date(Date.now() + 8 * 86400_000);
    const cleaned = await sweepOperations({ ...deps, now: () => muchLater }, { stuckAfterSeconds: 300, retentionDays: 7 });
    expect(cleaned.deleted).toBeGreaterThan(0);
    expect((await deps.store.readFleet(ref, { operationId: fleetOp })).operation).toBeUndefined();
    // The stuck one is still running, so it is kept.
    expect((await deps.store.readFleet(ref, { operationId: stuck.operationId })).operation?.value.status).toBe('InProgress');
  });
});

describe('operations the worker does not read', () => {
  it('cancels a join whose member a fleet delete took away, and still ends that delete', async () => {
    const ref = await fleetReady('orphan');
    const join = await putMember(deps, { ...ref, memberName: 'm' }, { properties: { clusterResourceId: clusterId } }, ctx);
    const joinCommand = sent.at(-1)!;
    const { deleteFleet } = await import('../../shared/app/fleets.js');
    await deleteFleet(deps, ref, ctx);
    await handleFleetCommand(deps, sent.at(-1), once);
    // The join's command comes late: its member is gone, so the worker reads the operation and ends it.
    await handleFleetCommand(deps, joinCommand, once);
    const op = (await deps.store.readFleet(ref, { includeFleet: false, operationId: join.operation!.id })).operation!.value;
    expect(op.status).toBe('Canceled');
    expect(op.error?.code).toBe('OperationSuperseded');
    expect(op.error?.message).toContain('/fleets/orphan/members/m');
  });

  it('lets one of two workers converging the same command win; the other changes nothing', async () => {
    const ref = await fleetReady('twice');
    await putMember(deps, { ...ref, memberName: 'm' }, { properties: { clusterResourceId: clusterId.replace(/c1$/, 'c-twice') } }, ctx);
    const command = sent.at(-1)!;
    // A redelivery while the first delivery still runs: both read the member Joining.
    const results = await Promise.allSettled([handleFleetCommand(deps, command, once), handleFleetCommand(deps, command, once)]);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyError);
    const part = await deps.store.readFleet(ref, { memberName: 'm', operationId: command.operationId });
    expect(part.members[0].value.provisioningState).toBe('Succeeded');
    expect(part.operation?.value.status).toBe('Succeeded');
    // The loser's message comes back and finds the join done.
    const version = part.members[0].version;
    await handleFleetCommand(deps, command, once);
    expect((await deps.store.readFleet(ref, { memberName: 'm' })).members[0].version).toBe(version);
  });
});

describe('a member PUT racing the worker', () => {
  it('reads again, rather than refusing, when the operation it saw running ends as it looks', async () => {
    const ref = await fleetReady('race');
    const member = { ...ref, memberName: 'm' };
    const body = { properties: { clusterResourceId: clusterId } };
    const first = await putMember(deps, member, body, ctx);
    expect(first.status).toBe(201);
    const command = sent.at(-1)!;
    // The same PUT again reads the member while it is Joining; the worker finishes the join right then.
    let raced = false;
    const racing: AppDeps = {
      ...deps,
      store: {
        ...deps.store,
        readFleet: async (f, options) => {
          const part = await deps.store.readFleet(f, options);
          if (!raced && part.members[0]?.value.provisioningState === 'Joining') {
            raced = true;
            await handleFleetCommand(deps, command, once);
          }
          return part;
        },
      },
    };
    await expect(putMember(racing, member, body, ctx)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(raced).toBe(true);
    // What the HTTP layer does with that error: the request again, which now finds the join done
    // and starts a new one (re-running create re-reads the cluster's identity).
    const again = await putMember(racing, member, body, ctx);
    expect(again.status).toBe(200);
    expect(again.operation?.id).not.toBe(first.operation?.id);
  });
});

describe('a big fleet', () => {
  const clusterOf = (fleet: string, i: number) => clusterId.replace(/c1$/, `${fleet}-${i}`);
  async function bigFleet(name: string, size: number) {
    const many: AppDeps = { ...deps, memberLimit: 1000 };
    const ref = await fleetReady(name);
    const from = sent.length;
    for (let i = 0; i < size; i++) await putMember(many, { ...ref, memberName: `m-${i}` }, { properties: { clusterResourceId: clusterOf(name, i) } }, ctx);
    // What waits in the fleet's session, as the trigger hands it over: batches, converged 49 at a time.
    const batch = sent.slice(from).map((body) => ({ body, deliveryCount: 1 }));
    for (let i = 0; i < batch.length; i += 98) await handleFleetCommands(many, batch.slice(i, i + 98), { maxDeliveryCount: 5 });
    return ref;
  }

  it('joins a batch of commands with one count, exact', async () => {
    const ref = await bigFleet('batched', 120);
    const part = await deps.store.readFleet(ref, { counts: true, memberNames: ['m-0', 'm-119'] });
    expect(part.counts?.value.joined).toBe(120);
    expect(part.members.map((m) => m.value.provisioningState)).toEqual(['Succeeded', 'Succeeded']);
  });

  it('goes on with a delete that was interrupted part-way, and the fleet is Deleting until it ends', async () => {
    const ref = await bigFleet('interrupted', 250);
    expect((await deps.store.readFleet(ref, { counts: true })).counts?.value.joined).toBe(250);
    const { deleteFleet, getFleet } = await import('../../shared/app/fleets.js');
    const { listMembers } = await import('../../shared/app/members.js');
    await deleteFleet(deps, ref, ctx);
    const command = sent.at(-1)!;
    // The worker dies after two transactions of member deletes.
    let commits = 0;
    const dying: AppDeps = {
      ...deps,
      store: {
        ...deps.store,
        commit: async (f, changes, o) => {
          if (++commits > 2) throw new Error('host recycled');
          return deps.store.commit(f, changes, o);
        },
      },
    };
    await expect(handleFleetCommand(dying, command, once)).rejects.toThrow('host recycled');
    expect(((await getFleet(deps, ref, ctx)).body as { properties: { provisioningState: string } }).properties.provisioningState).toBe('Deleting');
    let left = 0;
    let token: string | undefined;
    do {
      const page = await listMembers({ ...deps, pageSize: 1000 }, ref, token, ctx);
      left += page.items.length;
      token = page.continuationToken;
    } while (token);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(250);

    // Delivered again, it goes on from what is left.
    await handleFleetCommand(deps, command, once);
    await expect(getFleet(deps, ref, ctx)).rejects.toMatchObject({ status: 404 });
    const op = (await deps.store.readFleet(ref, { includeFleet: false, operationId: command.operationId })).operation!.value;
    expect(op.status).toBe('Succeeded');
    expect((await deps.store.readFleet(ref, { counts: true })).counts).toBeUndefined();
    // Every cluster is free for another fleet.
    const other = { subscriptionId: sub, resourceGroup: 'rg', fleetName: 'other', memberName: 'x' };
    for (const i of [0, 99, 249]) expect(await deps.claims.claim(clusterOf('interrupted', i), { ...other, memberName: `x-${i}` })).toEqual({ claimed: true });
  });
});

describe('an operation end time', () => {
  it('is when the work ended, not when it began', async () => {
    const ref = await fleetReady('timed');
    const slow = directory.getManagedCluster;
    directory = {
      ...directory,
      getManagedCluster: async (...a) => {
        await new Promise((r) => setTimeout(r, 300));
        return slow(...a);
      },
    };
    try {
      await putMember(deps, { ...ref, memberName: 'm' }, { properties: { clusterResourceId: clusterId.replace(/c1$/, 'c-timed') } }, ctx);
      const command = sent.at(-1)!;
      await handleFleetCommand(deps, command, once);
      const op = (await deps.store.readFleet(ref, { includeFleet: false, operationId: command.operationId })).operation!.value;
      expect(Date.parse(op.endTime!) - Date.parse(op.startTime)).toBeGreaterThanOrEqual(300);
    } finally {
      directory = { ...directory, getManagedCluster: slow };
    }
  });
});
