// Drives the Service Bus-triggered functions with real @azure/service-bus receivers, with the
// settings host.json declares: sessions accepted up to maxConcurrentSessions at a time, a session
// released after sessionIdleTimeout without messages, messages completed when the function
// returns and abandoned when it throws (so Service Bus counts deliveries and dead-letters).
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver, ServiceBusSessionReceiver } from '@azure/service-bus';
import { InvocationContext } from '../../functions/azfn.js';
import type { FunctionDefinition } from '../../functions/definitions.js';
import type { HostSettings } from './hostJson.js';
import type { LogSink } from './httpHost.js';

type QueueDefinition = Extract<FunctionDefinition, { kind: 'serviceBusQueue' }>;

export interface ServiceBusHost {
  close(): Promise<void>;
}

const isAbort = (e: unknown) => (e as Error)?.name === 'AbortError';

export function startServiceBusHost(options: {
  definitions: FunctionDefinition[];
  client: ServiceBusClient;
  settings: HostSettings['extensions']['serviceBus'];
  log: LogSink;
}): ServiceBusHost {
  const stop = new AbortController();
  // Every concurrent session receiver listens to this one signal.
  setMaxListeners(4 * options.settings.maxConcurrentSessions + 16, stop.signal);
  const loops: Promise<void>[] = [];
  const sb = options.settings;

  const invoke = async (def: QueueDefinition, receiver: ServiceBusReceiver | ServiceBusSessionReceiver, message: ServiceBusReceivedMessage) => {
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: def.name,
      // The Functions host counts deliveries from 1; AMQP (and this client) from 0.
      triggerMetadata: {
        messageId: message.messageId,
        sessionId: message.sessionId,
        deliveryCount: (message.deliveryCount ?? 0) + 1,
        enqueuedTimeUtc: message.enqueuedTimeUtc?.toISOString(),
        sequenceNumber: message.sequenceNumber?.toString(),
        applicationProperties: message.applicationProperties ?? {},
      },
      logHandler: (level, ...args) =>
        options.log(level, def.name, args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' ')),
    });
    try {
      await def.handler(message.body, context);
      if (sb.autoCompleteMessages) await receiver.completeMessage(message);
    } catch (e) {
      options.log('warning', def.name, `message ${String(message.messageId)} failed (delivery ${(message.deliveryCount ?? 0) + 1}): ${(e as Error).message}`);
      await receiver.abandonMessage(message).catch(() => undefined);
    }
  };

  // Like the Functions host, stream each accepted session (no receive/drain cycles) and let it go
  // after sessionIdleTimeout without a message, so another fleet's session can be taken.
  const sessionLoop = async (def: QueueDefinition) => {
    while (!stop.signal.aborted) {
      let receiver: ServiceBusSessionReceiver | undefined;
      try {
        receiver = await options.client.acceptNextSession(def.queueName, {
          maxAutoLockRenewalDurationInMs: sb.maxAutoLockRenewalDuration,
          abortSignal: stop.signal,
        });
        const session = receiver;
        await new Promise<void>((done) => {
          let idle: NodeJS.Timeout;
          let busy = 0;
          const resolve = () => {
            clearTimeout(idle);
            stop.signal.removeEventListener('abort', resolve);
            done();
          };
          const armIdle = () => {
            clearTimeout(idle);
            idle = setTimeout(() => busy === 0 && resolve(), sb.sessionIdleTimeout);
          };
          stop.signal.addEventListener('abort', resolve, { once: true });
          armIdle();
          session.subscribe(
            {
              processMessage: async (message) => {
                busy++;
                clearTimeout(idle);
                try {
                  await invoke(def, session, message);
                } finally {
                  busy--;
                  armIdle();
                }
              },
              processError: async (args) => {
                options.log('warning', def.name, `session ${session.sessionId}: ${args.error.message}`);
                if ((args.error as { code?: string }).code === 'SessionLockLost') resolve();
              },
            },
            { autoCompleteMessages: false, maxConcurrentCalls: 1 },
          );
        });
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (!isAbort(e) && code !== 'ServiceTimeout' && code !== 'SessionCannotBeLocked' && !stop.signal.aborted) {
          options.log('warning', def.name, `session receiver: ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      } finally {
        await receiver?.close().catch(() => undefined);
      }
    }
  };

  const queueLoop = async (def: QueueDefinition) => {
    const receiver = options.client.createReceiver(def.queueName, { maxAutoLockRenewalDurationInMs: sb.maxAutoLockRenewalDuration });
    while (!stop.signal.aborted) {
      try {
        const messages = await receiver.receiveMessages(16, { maxWaitTimeInMs: 1000, abortSignal: stop.signal });
        await Promise.all(messages.map((m) => invoke(def, receiver, m)));
      } catch (e) {
        if (!isAbort(e) && !stop.signal.aborted) options.log('warning', def.name, `receiver: ${(e as Error).message}`);
      }
    }
    await receiver.close().catch(() => undefined);
  };

  for (const def of options.definitions) {
    if (def.kind !== 'serviceBusQueue') continue;
    if (def.isSessionsEnabled) for (let i = 0; i < sb.maxConcurrentSessions; i++) loops.push(sessionLoop(def));
    else loops.push(queueLoop(def));
  }

  return {
    async close() {
      stop.abort();
      // A receiver waiting in acceptNextSession does not notice the abort until the service answers;
      // give in-flight messages a moment to finish, then let the caller close the client under it.
      await Promise.race([Promise.allSettled(loops), new Promise((r) => setTimeout(r, 1000).unref())]);
    },
  };
}
