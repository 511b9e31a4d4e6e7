import type { InvocationContext } from '@azure/functions';
import { handleFleetCommand } from '../shared/app/reconcile.js';
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
    handler: async (message: unknown, context: InvocationContext) => {
      const rt = await runtime();
      const deliveryCount = Number(context.triggerMetadata?.deliveryCount ?? 1);
      try {
        await handleFleetCommand(rt.app, message, { deliveryCount, maxDeliveryCount: rt.maxDeliveryCount });
      } catch (e) {
        context.warn(`fleet command ${String(context.triggerMetadata?.messageId)} attempt ${deliveryCount} failed: ${(e as Error).message}`);
        throw e;
      }
    },
  },
];
