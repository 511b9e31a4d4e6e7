// The FAQ's story, healed from Event Grid: ARM's write event about the cluster has the worker read it
// again (the hub's ARM check is off here, and no one runs member create). Also the webhook as the
// Functions host serves it: either schema, batched, duplicated, out of order, unrelated events.
import { describe, expect, it } from 'vitest';
import { sub1 } from '../support/clients.js';
import type { Kubectl } from '../support/kubectl.js';
import { changeIdentity, conditionOf, joinedMember, memberCluster, untilAccepted } from '../support/members.js';
import { useStack } from '../support/stackProcess.js';

const fast3s = { FLEET_HEARTBEAT_PERIOD_SECONDS: '3' };

describe('from Event Grid: ARM events about the cluster', () => {
  const stack = useStack({ ...fast3s, FLEET_HUB_IDENTITY_CHECK_SECONDS: '0' });
  const webhook = (query = '?functionName=cluster-events') => `${stack.env.FLEET_API}/runtime/webhooks/eventgrid${query}`;
  let hub: Kubectl;
  const post = (body: unknown, headers: Record<string, string>) =>
    fetch(webhook(), { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(body) });

  it('heals the member when the cluster write event arrives, with no one running member create', async () => {
    ({ hub } = await joinedMember(stack.env, 'rg-events'));
    const started = Date.now();
    const principal = await changeIdentity(stack.env, 'rg-events', 'aks-1', 'id-new');
    await untilAccepted(hub, principal, started, 30_000);
    expect(stack.output()).toMatch(/cluster-events: cluster event [0-9a-f-]+: the member holding the cluster is read again/);
    console.log(`event grid: identity changed, accepted again ${((Date.now() - started) / 1000).toFixed(1)} s later`);
  }, 90_000);

  it('answers Event Grid as the Functions host does, and takes either schema, batched, duplicated and out of order', async () => {
    expect((await fetch(webhook('?functionName=nope'), { method: 'POST', body: '[]' })).status).toBe(404);
    expect((await post([], {})).status).toBe(400);
    const validation = await post([{ id: '1', eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent', subject: '', data: { validationCode: 'abc' } }], {
      'aeg-event-type': 'SubscriptionValidation',
    });
    expect(await validation.json()).toEqual({ validationResponse: 'abc' });
    const options = await fetch(webhook(), { method: 'OPTIONS', headers: { 'webhook-request-origin': 'eventgrid.azure.net' } });
    expect(options.headers.get('webhook-allowed-origin')).toBe('eventgrid.azure.net');

    const cluster = `/subscriptions/${sub1}/resourceGroups/rg-events/providers/Microsoft.ContainerService/managedClusters/aks-1`;
    const armEvent = (type: string, subject: string, operationName: string) => ({
      id: crypto.randomUUID(),
      topic: `/subscriptions/${sub1}`,
      subject,
      eventType: `Microsoft.Resources.${type}`,
      eventTime: new Date().toISOString(),
      data: { resourceUri: subject, operationName, status: 'Succeeded', subscriptionId: sub1 },
      dataVersion: '2',
      metadataVersion: '1',
    });
    const write = armEvent('ResourceWriteSuccess', cluster, 'Microsoft.ContainerService/managedClusters/write');
    // A delete event for a cluster that exists (late, out of order): ARM is read, and it says the cluster is there.
    const staleDelete = armEvent('ResourceDeleteSuccess', cluster, 'Microsoft.ContainerService/managedClusters/delete');
    const batch = [
      write,
      write,
      staleDelete,
      armEvent('ResourceWriteSuccess', `${cluster}/agentPools/pool1`, 'Microsoft.ContainerService/managedClusters/agentPools/write'),
      armEvent(
        'ResourceWriteSuccess',
        `/subscriptions/${sub1}/resourceGroups/rg-events/providers/Microsoft.Storage/storageAccounts/st1`,
        'Microsoft.Storage/storageAccounts/write',
      ),
      armEvent('ResourceActionSuccess', cluster, 'Microsoft.ContainerService/managedClusters/listClusterUserCredential/action'),
      armEvent(
        'ResourceWriteSuccess',
        `/subscriptions/${sub1}/resourceGroups/rg-events/providers/Microsoft.ContainerService/managedClusters/not-a-member`,
        'Microsoft.ContainerService/managedClusters/write',
      ),
    ];
    expect((await post(batch, { 'aeg-event-type': 'Notification', 'aeg-delivery-count': '0' })).status).toBe(202);
    const cloudEvent = {
      specversion: '1.0',
      type: write.eventType,
      source: write.topic,
      subject: cluster,
      id: crypto.randomUUID(),
      time: write.eventTime,
      data: write.data,
    };
    const ce = await fetch(webhook(), {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json; charset=utf-8', 'aeg-event-type': 'Notification', 'aeg-metadata-version': '1.0' },
      body: JSON.stringify(cloudEvent),
    });
    expect(ce.status).toBe(202);
    // Not an event at all: still answered (dropped), so Event Grid does not retry it for a day.
    expect((await post([{ hello: 'world' }], { 'aeg-event-type': 'Notification' })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 3000));
    const mc = await memberCluster(hub, 'm1');
    expect(conditionOf(mc, 'ClusterFound')?.status).not.toBe('False');
    expect(conditionOf(mc, 'AgentIdentityAccepted')?.status).toBe('True');
  }, 60_000);
});
