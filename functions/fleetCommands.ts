import type { InvocationContext } from '@azure/functions';
import { handleFleetCommands } from '../shared/app/reconcile.js';
import { queues, settings } from '../shared/config.js';
import { runtime } from '../shared/runtime.js';
import type { FunctionDefinition } from './definitions.js';

export const commandFunctions: FunctionDefinition[] = [
  {
    kind: 'serviceBusQueue',
    name: 'fleet-commands-worker',
    queueName: queues.fleetCommands.name,
    connection: settings.serviceBusConnection.name,
    isSessionsEnabled: queues.fleetCommands.requiresSession,
    // What waits in one fleet's session comes as one batch, converged in as few transactions as it can be.
    cardinality: 'many',
    handler: async (messages: unknown, context: InvocationContext) => {
      const rt = await runtime();
      const bodies = Array.isArray(messages) ? messages : [messages];
      // With cardinality 'many' the host passes each message's metadata in arrays, in the batch's order.
      const counts = (context.triggerMetadata?.deliveryCountArray as unknown[] | undefined) ?? [];
      const batch = bodies.map((body, i) => ({ body, deliveryCount: Number(counts[i] ?? 1) }));
      try {
        await handleFleetCommands(rt.app, batch, { maxDeliveryCount: rt.maxDeliveryCount });
      } catch (e) {
        const ids = (context.triggerMetadata?.messageIdArray as unknown[] | undefined) ?? [];
        context.warn(
          `a batch of ${batch.length} fleet command(s) (${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''}) failed: ${(e as Error).message}`,
        );
        throw e;
      }
    },
  },
];
