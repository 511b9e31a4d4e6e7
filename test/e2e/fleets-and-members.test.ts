// End to end: `npm start`'s stack in a child process, driven with the official
// @azure/arm-containerservicefleet client (and raw HTTP for what that client will not send).
import { ContainerServiceClient } from '@azure/arm-containerservice';
import type { ContainerServiceFleetClient } from '@azure/arm-containerservicefleet';
import { DefaultAzureCredential } from '@azure/identity';
import { ServiceBusClient } from '@azure/service-bus';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTableStore } from '../../shared/azure/tableStore.js';
import { aks, arc, arm, eastus1, eastus2, fabrikam, fast, fleetClient, fleetPath, sub1, sub2, tokenFor, westeurope1, westeurope2 } from '../support/clients.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

const stack = useStack({ FLEET_PAGE_SIZE: '2' });
let client: ContainerServiceFleetClient;

beforeAll(() => {
  client = fleetClient(stack.env);
});

const memberError = async (fleet: string, member: string, clusterResourceId: string) => {
  const failure = await client.fleetMembers.create('rg-fleet', fleet, member, { properties: { clusterResourceId } }, fast).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(failure, 'the join should have failed').toBeInstanceOf(Error);
  const stored = await client.fleetMembers.get('rg-fleet', fleet, member);
  return { message: failure!.message, member: stored };
};

describe('fleets', () => {
  it('creates a fleet, reads it back in every list, updates its tags and deletes it', async () => {
    const created = await client.fleets.create('rg-fleet', 'fleet-crud', { location: 'East US', tags: { team: 'platform' } }, fast);
    expect(created.properties?.provisioningState).toBe('Succeeded');
    expect(created.location).toBe('eastus');
    expect(created.id).toBe(fleetPath('rg-fleet', 'fleet-crud'));
    expect(created.type).toBe('Microsoft.ContainerService/fleets');
    expect(created.eTag).toBeTruthy();
    expect(created.systemData?.createdAt).toBeInstanceOf(Date);
    expect(created.properties?.status?.lastOperationId).toBeTruthy();

    await client.fleets.create('rg-fleet', 'fleet-crud-2', { location: 'westeurope' }, fast);
    await client.fleets.create('rg-other', 'fleet-crud-3', { location: 'westeurope' }, fast);
    const inGroup: string[] = [];
    for await (const f of client.fleets.listByResourceGroup('rg-fleet')) inGroup.push(f.name!);
    expect(inGroup).toEqual(expect.arrayContaining(['fleet-crud', 'fleet-crud-2']));
    expect(inGroup).not.toContain('fleet-crud-3');
    const inSubscription: string[] = [];
    // Page size is 2 in this stack, so this follows nextLink.
    for await (const f of client.fleets.listBySubscription()) inSubscription.push(f.name!);
    expect(inSubscription).toEqual(expect.arrayContaining(['fleet-crud', 'fleet-crud-2', 'fleet-crud-3']));

    const patched = await client.fleets.updateAsync('rg-fleet', 'fleet-crud', { tags: { team: 'platform', env: 'prod' } }, fast);
    expect(patched.tags).toEqual({ team: 'platform', env: 'prod' });
    expect(patched.properties?.provisioningState).toBe('Succeeded');
    expect(patched.eTag).not.toBe(created.eTag);

    // No hub cluster, so no kubeconfig: a clear error, not a missing route.
    await expect(client.fleets.listCredentials('rg-fleet', 'fleet-crud')).rejects.toMatchObject({ statusCode: 400, code: 'HubNotAvailable' });

    await client.fleets.delete('rg-fleet', 'fleet-crud', fast);
    await expect(client.fleets.get('rg-fleet', 'fleet-crud')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });
    await expect(client.fleets.listCredentials('rg-fleet', 'fleet-crud')).rejects.toMatchObject({ statusCode: 404 });
    // Deleting what is not there succeeds (ARM answers 204).
    await client.fleets.delete('rg-fleet', 'fleet-crud', fast);
  });

  it('refuses bad fleet requests with ARM errors and changes nothing', async () => {
    const path = fleetPath('rg-fleet', 'fleet-bad');
    expect((await arm(stack.env, 'PUT', path, { body: { tags: {} } })).body.error).toMatchObject({
      code: 'InvalidRequestContent',
      message: expect.stringContaining('location'),
    });
    expect((await arm(stack.env, 'PUT', path, { rawBody: '{"location": ' })).status).toBe(400);
    const badName = await arm(stack.env, 'PUT', fleetPath('rg-fleet', 'Fleet_Bad'), { body: { location: 'eastus' } });
    expect(badName).toMatchObject({ status: 400, body: { error: { code: 'InvalidResourceName' } } });
    const badVersion = await arm(stack.env, 'PUT', path, { body: { location: 'eastus' }, apiVersion: '2099-01-01' });
    expect(badVersion).toMatchObject({ status: 400, body: { error: { code: 'InvalidApiVersionParameter' } } });
    const noVersion = await arm(stack.env, 'GET', path, { apiVersion: null });
    expect(noVersion).toMatchObject({ status: 400, body: { error: { code: 'MissingApiVersionParameter' } } });
    const identity = await arm(stack.env, 'PUT', path, { body: { location: 'eastus', identity: { type: 'UserAssigned' } } });
    expect(identity).toMatchObject({ status: 400, body: { error: { code: 'InvalidIdentity', target: 'identity.userAssignedIdentities' } } });
    const hub = await arm(stack.env, 'PUT', path, { body: { location: 'eastus', properties: { hubProfile: { dnsPrefix: '-bad-' } } } });
    expect(hub).toMatchObject({ status: 400, body: { error: { code: 'InvalidParameter', target: 'properties.hubProfile.dnsPrefix' } } });
    expect((await arm(stack.env, 'GET', path)).status).toBe(404);

    await client.fleets.create('rg-fleet', 'fleet-bad', { location: 'eastus', tags: { a: '1' } }, fast);
    const moved = await arm(stack.env, 'PUT', path, { body: { location: 'westus' } });
    expect(moved).toMatchObject({ status: 400, body: { error: { code: 'InvalidResourceLocation' } } });
    const exists = await arm(stack.env, 'PUT', path, { body: { location: 'eastus' }, headers: { 'if-none-match': '*' } });
    expect(exists).toMatchObject({ status: 412, body: { error: { code: 'PreconditionFailed' } } });
    const stale = await arm(stack.env, 'PATCH', path, { body: { tags: { b: '2' } }, headers: { 'if-match': '"stale"' } });
    expect(stale.status).toBe(412);
    const after = await client.fleets.get('rg-fleet', 'fleet-bad');
    expect(after.tags).toEqual({ a: '1' });
    expect(after.location).toBe('eastus');

    const current = await arm(stack.env, 'PATCH', path, { body: { tags: { b: '2' } }, headers: { 'if-match': after.eTag! } });
    expect(current.status).toBe(202);
    expect(current.headers.get('location')).toContain('/operationResults/');
    expect(current.headers.get('azure-asyncoperation')).toContain('/operationStatuses/');
    expect(current.headers.get('retry-after')).toBe('1');
  });

  it('answers 401 and changes nothing without a valid token', async () => {
    const path = fleetPath('rg-fleet', 'fleet-unauth');
    const none = await arm(stack.env, 'PUT', path, { body: { location: 'eastus' }, token: null });
    expect(none).toMatchObject({ status: 401, body: { error: { code: 'AuthenticationFailed' } } });
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrongAudience = await arm(stack.env, 'PUT', path, { body: { location: 'eastus' }, token: await tokenFor(stack.env, 'https://management.azure.com') });
    expect(wrongAudience).toMatchObject({ status: 401, body: { error: { code: 'InvalidAuthenticationToken' } } });
    const token = await tokenFor(stack.env, stack.env.FLEET_API);
    const forged = `${token.slice(0, token.lastIndexOf('.') + 1)}${Buffer.from('not the signature').toString('base64url')}`;
    expect((await arm(stack.env, 'PUT', path, { body: { location: 'eastus' }, token: forged })).status).toBe(401);
    expect((await arm(stack.env, 'GET', path)).status).toBe(404);
  });
});

describe('members', () => {
  beforeAll(async () => {
    await client.fleets.create('rg-fleet', 'fleet-members', { location: 'eastus' }, fast);
  });

  it('joins AKS clusters from two subscriptions and two regions', async () => {
    const a = await client.fleetMembers.create('rg-fleet', 'fleet-members', 'east-1', { properties: { clusterResourceId: eastus1, group: 'canary' } }, fast);
    const b = await client.fleetMembers.create('rg-fleet', 'fleet-members', 'west-1', { properties: { clusterResourceId: westeurope1 } }, fast);
    expect(a.properties).toMatchObject({ provisioningState: 'Succeeded', clusterResourceId: eastus1, group: 'canary' });
    expect(b.properties?.provisioningState).toBe('Succeeded');
    expect(b.id).toBe(`${fleetPath('rg-fleet', 'fleet-members')}/members/west-1`);
    const names: string[] = [];
    for await (const m of client.fleetMembers.listByFleet('rg-fleet', 'fleet-members')) names.push(m.name!);
    expect(names).toEqual(expect.arrayContaining(['east-1', 'west-1']));

    const moved = await client.fleetMembers.updateAsync('rg-fleet', 'fleet-members', 'east-1', { properties: { group: 'prod' } }, fast);
    expect(moved.properties).toMatchObject({ group: 'prod', provisioningState: 'Succeeded' });
  });

  it('refuses a cluster from another Microsoft Entra tenant', async () => {
    const { message, member } = await memberError('fleet-members', 'foreign', fabrikam);
    expect(message).toContain('CrossTenantMember');
    expect(member.properties?.provisioningState).toBe('Failed');
    expect(member.properties?.status?.lastOperationError).toMatchObject({ code: 'CrossTenantMember' });
  });

  it('refuses an Azure Arc cluster at the door and creates no member', async () => {
    const res = await arm(stack.env, 'PUT', `${fleetPath('rg-fleet', 'fleet-members')}/members/arc`, { body: { properties: { clusterResourceId: arc } } });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'InvalidMemberClusterResourceId', message: expect.stringContaining('Arc') } } });
    await expect(client.fleetMembers.get('rg-fleet', 'fleet-members', 'arc')).rejects.toMatchObject({ statusCode: 404 });
    const vm = `/subscriptions/${sub1}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1`;
    expect(
      (await arm(stack.env, 'PUT', `${fleetPath('rg-fleet', 'fleet-members')}/members/vm`, { body: { properties: { clusterResourceId: vm } } })).status,
    ).toBe(400);
  });

  it('fails the join of a cluster that does not exist', async () => {
    const { message, member } = await memberError('fleet-members', 'ghost', aks(sub2, 'rg-westeurope', 'no-such-cluster'));
    expect(message).toContain('MemberClusterNotFound');
    expect(member.properties?.status?.lastOperationError?.code).toBe('MemberClusterNotFound');
  });

  it('says so when the service may not read the cluster (no role on it), rather than retrying', async () => {
    const { message, member } = await memberError('fleet-members', 'restricted', aks(sub2, 'rg-restricted', 'aks-restricted'));
    expect(message).toContain('MemberClusterNotAccessible');
    expect(member.properties?.status?.lastOperationError?.message).toContain('Reader');
  });

  it('lets a cluster belong to one fleet only, and frees it when its fleet is deleted', async () => {
    await client.fleets.create('rg-fleet', 'fleet-claims-a', { location: 'eastus' }, fast);
    await client.fleets.create('rg-fleet', 'fleet-claims-b', { location: 'eastus' }, fast);
    await client.fleetMembers.create('rg-fleet', 'fleet-claims-a', 'm', { properties: { clusterResourceId: westeurope2 } }, fast);
    const { message } = await memberError('fleet-claims-b', 'm', westeurope2);
    expect(message).toContain('MemberClusterAlreadyInFleet');

    await client.fleets.delete('rg-fleet', 'fleet-claims-a', fast);
    await expect(client.fleetMembers.get('rg-fleet', 'fleet-claims-a', 'm')).rejects.toMatchObject({ statusCode: 404 });
    const rejoined = await client.fleetMembers.create('rg-fleet', 'fleet-claims-b', 'm', { properties: { clusterResourceId: westeurope2 } }, fast);
    expect(rejoined.properties?.provisioningState).toBe('Succeeded');
  });

  it('learns a new cluster identity when member create runs again', async () => {
    await client.fleets.create('rg-fleet', 'fleet-identity', { location: 'eastus' }, fast);
    await client.fleetMembers.create('rg-fleet', 'fleet-identity', 'east-2', { properties: { clusterResourceId: eastus2 } }, fast);
    const store = createTableStore({ connectionString: stack.env.TABLES_CONNECTION_STRING });
    const ref = { subscriptionId: sub1, resourceGroup: 'rg-fleet', fleetName: 'fleet-identity' };
    const recorded = async () => (await store.readFleet(ref, { memberName: 'east-2' })).members[0].value.joined?.principalId;
    expect(await recorded()).toBe('11111111-1111-4111-8111-000000000002');

    // The cluster's owner switches it to a user-assigned identity, through ARM.
    const aksClient = new ContainerServiceClient(new DefaultAzureCredential(), sub1, { endpoint: stack.env.ARM_ENDPOINT });
    const uai = `/subscriptions/${sub1}/resourceGroups/rg-eastus/providers/Microsoft.ManagedIdentity/userAssignedIdentities/aks-eastus-2-id`;
    const updated = await aksClient.managedClusters.createOrUpdate('rg-eastus', 'aks-eastus-2', {
      location: 'eastus',
      identity: { type: 'UserAssigned', userAssignedIdentities: { [uai]: {} } },
    });
    const newPrincipal = updated.identity?.userAssignedIdentities?.[uai]?.principalId;
    expect(newPrincipal).toBeTruthy();
    // (Event Grid's event about the change may teach the fleet the new identity first: on this
    // stack it is on. test/e2e/identity-by-hand.test.ts has member create alone, with it off.)
    const again = await client.fleetMembers.create('rg-fleet', 'fleet-identity', 'east-2', { properties: { clusterResourceId: eastus2 } }, fast);
    expect(again.properties?.provisioningState).toBe('Succeeded');
    expect(await recorded()).toBe(newPrincipal);
  });

  it('refuses bad member requests and changes nothing', async () => {
    const base = `${fleetPath('rg-fleet', 'fleet-members')}/members`;
    const missingFleet = await arm(stack.env, 'PUT', `${fleetPath('rg-fleet', 'no-fleet')}/members/m`, {
      body: { properties: { clusterResourceId: eastus1 } },
    });
    expect(missingFleet).toMatchObject({ status: 404, body: { error: { code: 'ParentResourceNotFound' } } });
    expect((await arm(stack.env, 'PUT', `${base}/m1`, { body: { properties: {} } })).body.error.code).toBe('InvalidRequestContent');
    expect((await arm(stack.env, 'PUT', `${base}/m1`, { body: { properties: { clusterResourceId: 'not-an-id' } } })).body.error.code).toBe(
      'InvalidMemberClusterResourceId',
    );
    expect((await arm(stack.env, 'PUT', `${base}/m1`, { body: { properties: { clusterResourceId: eastus2, group: 'Bad Group' } } })).body.error).toMatchObject({
      code: 'InvalidResourceName',
      target: 'properties.group',
    });
    const move = await arm(stack.env, 'PUT', `${base}/west-1`, { body: { properties: { clusterResourceId: westeurope2 } } });
    expect(move).toMatchObject({ status: 400, body: { error: { code: 'PropertyChangeNotAllowed' } } });
    const west = await client.fleetMembers.get('rg-fleet', 'fleet-members', 'west-1');
    expect(west.properties?.clusterResourceId).toBe(westeurope1);
    await expect(client.fleetMembers.get('rg-fleet', 'fleet-members', 'm1')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('deletes a member, even one whose join failed', async () => {
    await client.fleets.create('rg-fleet', 'fleet-leave', { location: 'eastus' }, fast);
    // aks-eastus-1 already belongs to fleet-members, so this join fails.
    const { member } = await memberError('fleet-leave', 'm', eastus1);
    expect(member.properties?.provisioningState).toBe('Failed');
    await client.fleetMembers.delete('rg-fleet', 'fleet-leave', 'm', fast);
    await expect(client.fleetMembers.get('rg-fleet', 'fleet-leave', 'm')).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('long-running operations polled by Location', () => {
  const pollLocation = async (location: string) => {
    const token = await tokenFor(stack.env, stack.env.FLEET_API);
    const seen: number[] = [];
    const final = await until(
      async () => {
        const res = await fetch(location, { headers: { authorization: `Bearer ${token}` } });
        seen.push(res.status);
        if (res.status === 202) {
          expect(res.headers.get('location')).toBe(location);
          return undefined;
        }
        const text = await res.text();
        return { status: res.status, body: text ? JSON.parse(text) : undefined };
      },
      { within: 10_000, every: 20, what: 'the Location monitor to finish' },
    );
    return { final, seen };
  };

  it('answers 202 while running, then the resource (PATCH), 204 (DELETE) or the error', async () => {
    await client.fleets.create('rg-fleet', 'fleet-location', { location: 'eastus' }, fast);
    const member = `${fleetPath('rg-fleet', 'fleet-location')}/members/m`;
    await client.fleetMembers
      .create('rg-fleet', 'fleet-location', 'm', { properties: { clusterResourceId: aks(sub2, 'rg-westeurope', 'nowhere') } }, fast)
      .catch(() => undefined);

    const patch = await arm(stack.env, 'PATCH', member, { body: { properties: { group: 'g1' } } });
    expect(patch.status).toBe(202);
    const patched = await pollLocation(patch.headers.get('location')!);
    expect(patched.final).toMatchObject({ status: 200, body: { name: 'm', properties: { group: 'g1' } } });

    const del = await arm(stack.env, 'DELETE', member);
    expect(del.status).toBe(202);
    expect((await pollLocation(del.headers.get('location')!)).final.status).toBe(204);

    // A failed operation's result is its error, with the error's status.
    const failing = await arm(stack.env, 'PUT', `${fleetPath('rg-fleet', 'fleet-location')}/members/f`, {
      body: { properties: { clusterResourceId: aks(sub2, 'rg-westeurope', 'nowhere') } },
    });
    const result = failing.headers.get('azure-asyncoperation')!.replace('/operationStatuses/', '/operationResults/');
    expect((await pollLocation(result)).final).toMatchObject({ status: 404, body: { error: { code: 'MemberClusterNotFound' } } });

    const delFleet = await arm(stack.env, 'DELETE', fleetPath('rg-fleet', 'fleet-location'));
    const fleetGone = await pollLocation(delFleet.headers.get('location')!);
    expect(fleetGone.final.status).toBe(204);
    expect((await arm(stack.env, 'GET', fleetPath('rg-fleet', 'fleet-location'))).status).toBe(404);
  });

  it('a status monitor or result of another subscription, or an unknown one, is 404', async () => {
    const put = await arm(stack.env, 'PUT', fleetPath('rg-fleet', 'fleet-ops'), { body: { location: 'eastus' } });
    const status = put.headers.get('azure-asyncoperation')!;
    const other = status.replace(sub1, sub2);
    const token = await tokenFor(stack.env, stack.env.FLEET_API);
    expect((await fetch(other, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect((await fetch(status.replace(/operationStatuses\/[^?]+/, 'operationStatuses/nope'), { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      404,
    );
    expect((await fetch(status, { headers: {} })).status).toBe(401);
  });
});

describe('commands', () => {
  it('a repeated PUT while the first still runs returns the same operation, and a duplicate command changes nothing', async () => {
    await client.fleets.create('rg-fleet', 'fleet-idem', { location: 'eastus' }, fast);
    const path = `${fleetPath('rg-fleet', 'fleet-idem')}/members/m`;
    const body = { properties: { clusterResourceId: aks(sub2, 'rg-westeurope', 'aks-westeurope-1') } };
    const [first, second] = await Promise.all([arm(stack.env, 'PUT', path, { body }), arm(stack.env, 'PUT', path, { body })]);
    const statuses = [first.status, second.status].sort();
    // Either both got the one operation (201 + 200), or the second saw it finished and started its own.
    expect(statuses[0]).toBe(200);
    const finished = (op: string) =>
      until(
        async () => {
          const res = await fetch(op, { headers: { authorization: `Bearer ${await tokenFor(stack.env, stack.env.FLEET_API)}` } });
          const s = (await res.json()) as { status: string };
          return s.status !== 'InProgress' && s;
        },
        { within: 10_000, what: 'the operation to finish' },
      );
    const status = await finished(first.headers.get('azure-asyncoperation')!);
    // aks-westeurope-1 already belongs to fleet-members, so the join fails; what matters is that it finished once.
    expect(['Succeeded', 'Failed']).toContain(status.status);
    // When the second PUT came after the first had finished, it started an operation of its own: that one ends too before we look.
    const secondOp = second.headers.get('azure-asyncoperation');
    if (secondOp) await finished(secondOp);

    // Deliver the same command again, late: the worker sees the operation is done and leaves the member alone.
    const before = await client.fleetMembers.get('rg-fleet', 'fleet-idem', 'm');
    const bus = new ServiceBusClient(stack.env.SERVICEBUS_CONNECTION_STRING);
    const sender = bus.createSender('fleet-commands');
    const operationId = before.properties!.status!.lastOperationId!;
    await sender.sendMessages({
      body: {
        operationId,
        kind: 'member.createOrUpdate',
        fleet: { subscriptionId: sub1, resourceGroup: 'rg-fleet', fleetName: 'fleet-idem' },
        memberName: 'm',
      },
      messageId: `late-${operationId}`,
      sessionId: `${sub1}:rg-fleet:fleet-idem`,
    });
    await new Promise((r) => setTimeout(r, 500));
    const after = await client.fleetMembers.get('rg-fleet', 'fleet-idem', 'm');
    expect(after.eTag).toBe(before.eTag);
    await bus.close();
  });

  it('a poison message ends in the dead-letter queue with a reason', async () => {
    const bus = new ServiceBusClient(stack.env.SERVICEBUS_CONNECTION_STRING);
    await bus.createSender('fleet-commands').sendMessages({ body: { not: 'a command' }, messageId: 'poison-1', sessionId: 'poison' });
    const dlq = bus.createReceiver('fleet-commands', { subQueueType: 'deadLetter' });
    const dead = await until(async () => (await dlq.receiveMessages(1, { maxWaitTimeInMs: 500 }))[0], {
      within: 20_000,
      what: 'the poison message in the dead-letter queue',
    });
    expect(dead.messageId).toBe('poison-1');
    expect(dead.deadLetterReason).toBe('MaxDeliveryCountExceeded');
    await dlq.completeMessage(dead);
    await bus.close();
  });
});

describe('the local host', () => {
  // Linux keeps a nice value per thread (/proc/<pid>/task/<tid>/stat, field 19). The function host is
  // a process of its own: its main thread runs the Service Bus functions and timers at a lower
  // priority; its other threads (the HTTP functions, V8's and libuv's helpers) and every thread of
  // the stack's process (Azurite, Service Bus, ARM) keep the normal one.
  it.runIf(process.platform === 'linux')('runs the queue worker at a lower CPU priority than the HTTP functions and the emulators', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const niceOf = (pid: number, tid: string) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    };
    const stats = (await (await fetch(`${stack.env.ARM_ENDPOINT}/_local/stats`)).json()) as { functionHostPid: number };
    const host = stats.functionHostPid;
    expect(host).toBeGreaterThan(0);
    expect(host).not.toBe(stack.pid);
    const base = (await import('node:os')).getPriority(0);
    const hostOthers = readdirSync(`/proc/${host}/task`)
      .filter((t) => t !== String(host))
      .map((t) => niceOf(host, t));
    expect(hostOthers.length).toBeGreaterThanOrEqual(3);
    expect(new Set(hostOthers)).toEqual(new Set([base]));
    expect(niceOf(host, String(host))).toBe(Math.min(base + 10, 19));
    const emulators = readdirSync(`/proc/${stack.pid}/task`).map((t) => niceOf(stack.pid, t));
    expect(emulators.length).toBeGreaterThanOrEqual(4);
    expect(new Set(emulators)).toEqual(new Set([base]));
  });
});
