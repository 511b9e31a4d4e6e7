// The local Service Bus endpoint, driven by the real @azure/service-bus client.
import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceBusEmulator, startServiceBusEmulator } from '../../local/servicebus/server.js';
import { queues } from '../../shared/config.js';
import { until } from '../support/until.js';

let emulator: ServiceBusEmulator;
let client: ServiceBusClient;

beforeAll(async () => {
  emulator = await startServiceBusEmulator({
    queues: [
      queues.fleetCommands,
      {
        name: 'short-lock',
        requiresSession: false,
        lockDurationSeconds: 3,
        maxDeliveryCount: 3,
        duplicateDetectionWindowSeconds: 0,
        defaultMessageTimeToLiveSeconds: 3600,
        deadLetteringOnMessageExpiration: true,
      },
      {
        name: 'short-sessions',
        requiresSession: true,
        lockDurationSeconds: 3,
        maxDeliveryCount: 3,
        duplicateDetectionWindowSeconds: 0,
        defaultMessageTimeToLiveSeconds: 3600,
        deadLetteringOnMessageExpiration: true,
      },
    ],
  });
  client = new ServiceBusClient(emulator.connectionString, { retryOptions: { maxRetries: 1, timeoutInMs: 5000 } });
});
afterAll(async () => {
  await client?.close();
  await emulator?.close();
});

describe('the local Service Bus', () => {
  it('keeps each session in order while sessions are processed in parallel', async () => {
    const sender = client.createSender('fleet-commands');
    const sent = Array.from({ length: 60 }, (_, i) => ({ body: { i }, sessionId: `s${i % 3}`, messageId: `order-${i}` }));
    await sender.sendMessages(sent);
    const seen: Record<string, number[]> = {};
    await Promise.all(
      [0, 1, 2].map(async () => {
        const r = await client.acceptNextSession('fleet-commands');
        for (;;) {
          const batch = await r.receiveMessages(7, { maxWaitTimeInMs: 300 });
          if (batch.length === 0) break;
          for (const m of batch) {
            seen[r.sessionId] ??= [];
            seen[r.sessionId].push((m.body as { i: number }).i);
            await r.completeMessage(m);
          }
        }
        await r.close();
      }),
    );
    expect(Object.keys(seen).sort()).toEqual(['s0', 's1', 's2']);
    for (const [s, order] of Object.entries(seen)) {
      const expected = sent.filter((m) => m.sessionId === s).map((m) => m.body.i);
      expect(order).toEqual(expected);
    }
  });

  it('drops a message whose id it has seen within the duplicate-detection window', async () => {
    const sender = client.createSender('fleet-commands');
    await sender.sendMessages({ body: 'one', sessionId: 'dup', messageId: 'same-id' });
    await sender.sendMessages({ body: 'two', sessionId: 'dup', messageId: 'same-id' });
    expect(
      emulator
        .peek('fleet-commands')
        .filter((m) => m.sessionId === 'dup')
        .map((m) => m.body),
    ).toEqual(['one']);
    const r = await client.acceptSession('fleet-commands', 'dup');
    const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 500 });
    await r.completeMessage(m);
    await r.close();
  });

  it('refuses a message without a session id on a session queue', async () => {
    await expect(client.createSender('fleet-commands').sendMessages({ body: 'x' })).rejects.toThrow();
  });

  it('dead-letters after the maximum delivery count, with the reason', async () => {
    await client.createSender('short-lock').sendMessages({ body: 'poison', messageId: 'p' });
    const r = client.createReceiver('short-lock');
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 1000 });
      counts.push(m.deliveryCount!);
      await r.abandonMessage(m);
    }
    expect(counts).toEqual([0, 1, 2]);
    const dlq = client.createReceiver('short-lock', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    expect(dead).toMatchObject({ messageId: 'p', deadLetterReason: 'MaxDeliveryCountExceeded' });
    await dlq.completeMessage(dead);
  });

  it('redelivers a message whose lock expired, and keeps a renewed lock', async () => {
    const sender = client.createSender('short-lock');
    await sender.sendMessages({ body: 'slow', messageId: 'slow' });
    const noRenew = client.createReceiver('short-lock', { maxAutoLockRenewalDurationInMs: 0 });
    const [first] = await noRenew.receiveMessages(1, { maxWaitTimeInMs: 1000 });
    // Locks are 3 s here: long enough that renewal keeps up on a busy machine.
    await new Promise((r) => setTimeout(r, 3600));
    await expect(noRenew.completeMessage(first)).rejects.toMatchObject({ code: 'MessageLockLost' });
    const renewing = client.createReceiver('short-lock', { maxAutoLockRenewalDurationInMs: 10_000 });
    const [second] = await renewing.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    expect(second.deliveryCount).toBe(1);
    await new Promise((r) => setTimeout(r, 3600));
    await renewing.completeMessage(second);
    expect(emulator.peek('short-lock')).toEqual([]);
  });

  it('holds a scheduled message until its time', async () => {
    const sender = client.createSender('fleet-commands');
    const at = Date.now() + 1500;
    await sender.scheduleMessages({ body: 'later', sessionId: 'sched' }, new Date(at));
    const r = await client.acceptSession('fleet-commands', 'sched');
    const early = await r.receiveMessages(1, { maxWaitTimeInMs: 200 });
    expect(early).toEqual([]);
    const [m] = await r.receiveMessages(1, { maxWaitTimeInMs: 3000 });
    expect(Date.now()).toBeGreaterThanOrEqual(at);
    expect(m.body).toBe('later');
    await r.completeMessage(m);
    await r.close();
  });

  it('renews a session lock while its receiver holds the session, and loses it when renewal stops', async () => {
    await client.createSender('short-sessions').sendMessages([
      { body: 1, sessionId: 'held' },
      { body: 2, sessionId: 'lapsed' },
    ]);
    const renewing = await client.acceptSession('short-sessions', 'held', { maxAutoLockRenewalDurationInMs: 10_000 });
    const first = renewing.sessionLockedUntilUtc!.getTime();
    await new Promise((r) => setTimeout(r, 4000));
    expect(renewing.sessionLockedUntilUtc!.getTime()).toBeGreaterThan(first + 1000);
    const [m] = await renewing.receiveMessages(1, { maxWaitTimeInMs: 500 });
    await renewing.completeMessage(m);
    await renewing.close();

    const idle = await client.acceptSession('short-sessions', 'lapsed', { maxAutoLockRenewalDurationInMs: 0 });
    await new Promise((r) => setTimeout(r, 3600));
    // The lock lapsed, so another receiver may take the session and gets its message.
    const taker = await client.acceptSession('short-sessions', 'lapsed');
    const [again] = await taker.receiveMessages(1, { maxWaitTimeInMs: 500 });
    expect(again.body).toBe(2);
    await taker.completeMessage(again);
    await taker.close();
    await idle.close().catch(() => undefined);
  });

  it('dead-letters a message whose time to live runs out', async () => {
    await client.createSender('short-lock').sendMessages({ body: 'stale', messageId: 'ttl', timeToLive: 300 });
    const dead = await until(() => emulator.peek('short-lock/$deadletterqueue').find((m) => m.messageId === 'ttl'), {
      within: 5000,
      what: 'the expired message in the dead-letter queue',
    });
    expect(dead.applicationProperties.DeadLetterReason).toBe('TTLExpiredException');
    expect(emulator.peek('short-lock').map((m) => m.messageId)).not.toContain('ttl');
  });

  it('lets one receiver hold a session at a time', async () => {
    await client.createSender('fleet-commands').sendMessages({ body: 1, sessionId: 'locked' });
    const holder = await client.acceptSession('fleet-commands', 'locked');
    await expect(client.acceptSession('fleet-commands', 'locked')).rejects.toMatchObject({ code: 'SessionCannotBeLocked' });
    const [m] = await holder.receiveMessages(1, { maxWaitTimeInMs: 500 });
    await holder.completeMessage(m);
    await holder.close();
  });
});
