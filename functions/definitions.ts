import type { EventGridHandler, HttpHandler, HttpMethod, ServiceBusQueueHandler, TimerHandler } from '@azure/functions';

/** One trigger. The Azure entry point (register.ts) and the local host (local/host) both read these. */
export type FunctionDefinition =
  // maxRequestBytes: what the local host reads of a body before it refuses it (the Functions host's limit is far larger).
  | { kind: 'http'; name: string; route: string; methods: HttpMethod[]; handler: HttpHandler; maxRequestBytes?: number }
  // cardinality 'many': the handler gets a batch (an array of bodies), as many as wait in one session.
  | {
      kind: 'serviceBusQueue';
      name: string;
      queueName: string;
      connection: string;
      isSessionsEnabled: boolean;
      cardinality: 'one' | 'many';
      handler: ServiceBusQueueHandler;
    }
  // schedule: NCRONTAB, or %SETTING% to read it from an app setting as the Functions host does.
  | { kind: 'timer'; name: string; schedule: string; handler: TimerHandler }
  // One event per invocation, in either schema (the Functions host parses the body and dispatches each event).
  | { kind: 'eventGrid'; name: string; handler: EventGridHandler<unknown> };

export const armPrefix = 'subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.ContainerService';
export const fleetRoute = `${armPrefix}/fleets/{fleetName}`;
export const memberRoute = `${fleetRoute}/members/{memberName}`;
