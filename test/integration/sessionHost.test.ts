// The local host's Service Bus trigger, against the local Service Bus: what it hands a function,
// and how long it holds a busy session.
import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FunctionDefinition } from '../../functions/definitions.js';
import { startServiceBusHost } from '../../local/host/serviceBusHost.js';
import { type ServiceBusEmulator, startServiceBusEmulator } from '../../local/servicebus/server.js';
import { until } from '../support/until.js';

let emulator: ServiceBusEmulator;
let client: ServiceBusClient;
const queue = (name: string) => ({
  name,
  requiresSession: true,
  lockDurationSeconds: 2,
  maxDeliveryCount: 10,
  duplicateDetectionWindowSeconds: 0,
  defaultMessageTimeToLiveSeconds: 3600,
  deadLetteringOnMessageExpiration: true,
});
beforeAll(async () => {
  emulator = await startServiceBusEmulator({ queues: [queue('busy-day'), queue('busy-short'), queue('batches')] });
  client = new ServiceBusClient(emulator.connectionString);
});
afterAll(async () => {
  await client?.close();
  await emulator?.close();
});

const settings = (maxAutoLockRenewalDuration: number) => ({
  maxConcurrentSessions: 4,
  maxMessageBatchSize: 10,
  maxAutoLockRenewalDuration,
  autoCompleteMessages: true,
  sessionIdleTimeout: 1000,
});

/** Runs a worker on `queueName` while `count` messages of one session keep it busy ~5 s (the lock is 2 s). */
async function busySession(queueName: string, renewalMs: number, count = 16) {
  const deliveries: { i: number; deliveryCount: number }[] = [];
  const def: FunctionDefinition = {
    kind: 'serviceBusQueue',
    name: 'worker',
    queueName,
    connection: 'x',
    isSessionsEnabled: true,
    cardinality: 'one',
    handler: async (body, context) => {
      deliveries.push({ i: (body as { i: number }).i, deliveryCount: Number(context.triggerMetadata?.deliveryCount) });
      await new Promise((r) => setTimeout(r, 300));
    },
  };
  const host = startServiceBusHost({ definitions: [def], client, settings: settings(renewalMs), log: () => undefined });
  await client.createSender(queueName).sendMessages(Array.from({ length: count }, (_, i) => ({ body: { i }, sessionId: 'fleet-a' })));
  try {
    await until(() => new Set(deliveries.map((d) => d.i)).size === count && emulator.peek(queueName).length === 0, {
      within: 30_000,
      what: 'every message done',
    });
  } finally {
    await host.close();
  }
  return deliveries;
}

it('keeps a busy session for as long as it is busy, each message delivered once', async () => {
  const deliveries = await busySession('busy-day', 24 * 3600_000);
  expect(deliveries.map((d) => d.i)).toEqual(Array.from({ length: 16 }, (_, i) => i));
  expect(deliveries.every((d) => d.deliveryCount === 1)).toBe(true);
});

it('loses a busy session when renewal stops before the work does (what the 5-minute default did)', async () => {
  const deliveries = await busySession('busy-short', 2500);
  expect(deliveries.some((d) => d.deliveryCount > 1)).toBe(true);
});

it("hands a function with cardinality 'many' what waits in the session, in order, with each message's delivery count", async () => {
  const batches: { bodies: number[]; counts: number[] }[] = [];
  const def: FunctionDefinition = {
    kind: 'serviceBusQueue',
    name: 'batch-worker',
    queueName: 'batches',
    connection: 'x',
    isSessionsEnabled: true,
    cardinality: 'many',
    handler: async (bodies, context) => {
      batches.push({ bodies: (bodies as { i: number }[]).map((b) => b.i), counts: context.triggerMetadata?.deliveryCountArray as number[] });
      await new Promise((r) => setTimeout(r, 200));
    },
  };
  await client.createSender('batches').sendMessages(Array.from({ length: 25 }, (_, i) => ({ body: { i }, sessionId: 'fleet-b' })));
  const host = startServiceBusHost({ definitions: [def], client, settings: settings(60_000), log: () => undefined });
  try {
    await until(() => batches.flatMap((b) => b.bodies).length === 25 && emulator.peek('batches').length === 0, { within: 20_000, what: 'every message done' });
  } finally {
    await host.close();
  }
  expect(batches.flatMap((b) => b.bodies)).toEqual(Array.from({ length: 25 }, (_, i) => i));
  // More than one at a time, never more than maxMessageBatchSize.
  expect(batches.length).toBeLessThan(25);
  expect(Math.max(...batches.map((b) => b.bodies.length))).toBeLessThanOrEqual(10);
  expect(batches.flatMap((b) => b.counts)).toEqual(Array(25).fill(1));
});
