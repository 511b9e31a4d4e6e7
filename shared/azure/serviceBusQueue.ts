import { createHash } from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { ServiceBusClient } from '@azure/service-bus';
import { queues } from '../config.js';
import type { FleetRef } from '../domain/armIds.js';
import type { CommandQueue } from '../ports.js';
import { fleetPartitionKey } from './tableStore.js';

/** Session ids are at most 128 characters; a fleet key longer than that is hashed. */
export function sessionIdOf(fleet: FleetRef): string {
  const key = fleetPartitionKey(fleet);
  return key.length <= 128 ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

export type ServiceBusConnection = { connectionString: string } | { fullyQualifiedNamespace: string; credential: TokenCredential };

export function createServiceBusClient(connection: ServiceBusConnection): ServiceBusClient {
  return 'connectionString' in connection
    ? new ServiceBusClient(connection.connectionString)
    : new ServiceBusClient(connection.fullyQualifiedNamespace, connection.credential);
}

export function createCommandQueue(client: ServiceBusClient): CommandQueue & { close(): Promise<void> } {
  const sender = client.createSender(queues.fleetCommands.name);
  return {
    async send(command, options = {}) {
      // Message id = operation id: duplicate detection drops a resend of the same operation.
      await sender.sendMessages(
        {
          body: command,
          messageId: options.resend ? `${command.operationId}.${options.resend}` : command.operationId,
          sessionId: sessionIdOf(command.fleet),
          contentType: 'application/json',
          subject: command.kind,
          ...(options.notBefore ? { scheduledEnqueueTimeUtc: options.notBefore } : {}),
        },
        { abortSignal: options.abortSignal },
      );
    },
    close: () => sender.close(),
  };
}
