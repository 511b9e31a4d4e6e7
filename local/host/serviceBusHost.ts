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

  // The Functions host counts deliveries from 1; AMQP (and this client) from 0.
  const deliveryCount = (m: ServiceBusReceivedMessage) => (m.deliveryCount ?? 0) + 1;
  /** One invocation: a message, or (cardinality 'many') a batch with its metadata in arrays, settled as one. */
  const invoke = async (def: QueueDefinition, receiver: ServiceBusReceiver | ServiceBusSessionReceiver, messages: ServiceBusReceivedMessage[]) => {
    const [first] = messages;
    const triggerMetadata =
      def.cardinality === 'many'
        ? {
            messageIdArray: messages.map((m) => m.messageId),
            deliveryCountArray: messages.map(deliveryCount),
            enqueuedTimeUtcArray: messages.map((m) => m.enqueuedTimeUtc?.toISOString()),
            sequenceNumberArray: messages.map((m) => m.sequenceNumber?.toString()),
            applicationPropertiesArray: messages.map((m) => m.applicationProperties ?? {}),
            sessionId: first.sessionId,
          }
        : {
            messageId: first.messageId,
            sessionId: first.sessionId,
            deliveryCount: deliveryCount(first),
            enqueuedTimeUtc: first.enqueuedTimeUtc?.toISOString(),
            sequenceNumber: first.sequenceNumber?.toString(),
            applicationProperties: first.applicationProperties ?? {},
          };
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: def.name,
      triggerMetadata,
      logHandler: (level, ...args) =>
        options.log(level, def.name, args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(' ')),
    });
    try {
      await def.handler(def.cardinality === 'many' ? messages.map((m) => m.body) : first.body, context);
      if (sb.autoCompleteMessages) for (const m of messages) await receiver.completeMessage(m);
    } catch (e) {
      const what = messages.length === 1 ? `message ${String(first.messageId)}` : `a batch of ${messages.length} from message ${String(first.messageId)}`;
      options.log('warning', def.name, `${what} failed (delivery ${deliveryCount(first)}): ${(e as Error).message}`);
      for (const m of messages) await receiver.abandonMessage(m).catch(() => undefined);
    }
  };

  // Like the Functions host, stream each accepted session (no receive/drain cycles) and let it go
  // after sessionIdleTimeout without a message, so another fleet's session can be taken. Messages
  // are taken as they arrive and handed to the function in order, one invocation at a time: for
  // cardinality 'many', everything that arrived while the last invocation ran (up to
  // maxMessageBatchSize) is the next batch.
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
          let running = false;
          let ended = false;
          const waiting: ServiceBusReceivedMessage[] = [];
          const resolve = () => {
            ended = true;
            clearTimeout(idle);
            stop.signal.removeEventListener('abort', resolve);
            done();
          };
          const armIdle = () => {
            clearTimeout(idle);
            idle = setTimeout(() => !running && waiting.length === 0 && resolve(), sb.sessionIdleTimeout);
          };
          const drain = async () => {
            if (running) return;
            running = true;
            clearTimeout(idle);
            try {
              while (waiting.length && !ended) {
                const batch = waiting.splice(0, def.cardinality === 'many' ? sb.maxMessageBatchSize : 1);
                await invoke(def, session, batch);
              }
            } finally {
              running = false;
              armIdle();
            }
          };
          stop.signal.addEventListener('abort', resolve, { once: true });
          armIdle();
          session.subscribe(
            {
              processMessage: async (message) => {
                waiting.push(message);
                void drain();
              },
              processError: async (args) => {
                options.log('warning', def.name, `session ${session.sessionId}: ${args.error.message}`);
                if ((args.error as { code?: string }).code === 'SessionLockLost') resolve();
              },
            },
            // Settled by invoke, after the function returns; the client takes the next message meanwhile.
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
        const messages = await receiver.receiveMessages(def.cardinality === 'many' ? sb.maxMessageBatchSize : 16, {
          maxWaitTimeInMs: 1000,
          abortSignal: stop.signal,
        });
        if (def.cardinality === 'many') {
          if (messages.length) await invoke(def, receiver, messages);
        } else await Promise.all(messages.map((m) => invoke(def, receiver, [m])));
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
