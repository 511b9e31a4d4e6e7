// The emulator's Event Grid: a system topic of type Microsoft.Resources.Subscriptions with one
// subscription, filtered as infra/ files it (ResourceWriteSuccess and ResourceDeleteSuccess of
// managedClusters), delivering to the function host's webhook the way Event Grid delivers to an
// Event Grid–triggered function: the Event Grid schema, an array of one event, the aeg-* headers;
// 200–204 is delivered, 400/401/403/413 is dropped (dead-lettered), anything else and no answer are
// tried again with backoff (Event Grid's ladder from 10 s, compressed here to 1 s, 2 s, 4 s, …), up
// to maxDeliveryAttempts.
import { randomUUID } from 'node:crypto';

export interface ArmEvent {
  type: 'Microsoft.Resources.ResourceWriteSuccess' | 'Microsoft.Resources.ResourceDeleteSuccess';
  resourceId: string;
  subscriptionId: string;
  tenantId: string;
  method: 'PUT' | 'DELETE';
  url: string;
  callerObjectId?: string;
}

export interface EventDeliveryOptions {
  /** The webhook (none: no subscription, events are dropped as a topic without subscriptions drops them). */
  webhook?: string;
  subscriptionName?: string;
  maxDeliveryAttempts?: number;
  firstRetryMs?: number;
  log?: (line: string) => void;
}

/** Event Grid writes times with seven fractional digits. */
const eventTime = (at: Date) => at.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');

export function armEventBody(e: ArmEvent, at = new Date()) {
  const operation = `Microsoft.ContainerService/managedClusters/${e.method === 'DELETE' ? 'delete' : 'write'}`;
  return {
    id: randomUUID(),
    topic: `/subscriptions/${e.subscriptionId}`,
    subject: e.resourceId,
    eventType: e.type,
    eventTime: eventTime(at),
    data: {
      authorization: { scope: e.resourceId, action: operation, evidence: { role: 'Contributor' } },
      claims: e.callerObjectId ? { 'http://schemas.microsoft.com/identity/claims/objectidentifier': e.callerObjectId } : {},
      correlationId: randomUUID(),
      httpRequest: { clientRequestId: randomUUID(), clientIpAddress: '127.0.0.1', method: e.method, url: e.url },
      resourceProvider: 'Microsoft.ContainerService',
      resourceUri: e.resourceId,
      operationName: operation,
      status: 'Succeeded',
      subscriptionId: e.subscriptionId,
      tenantId: e.tenantId,
    },
    dataVersion: '2',
    metadataVersion: '1',
  };
}

export function createEventDelivery(options: EventDeliveryOptions) {
  const log = options.log ?? ((line: string) => console.error(line));
  const maxAttempts = options.maxDeliveryAttempts ?? 10;
  const firstRetryMs = options.firstRetryMs ?? 1000;
  let closed = false;
  const timers = new Set<NodeJS.Timeout>();

  async function attempt(body: ReturnType<typeof armEventBody>, count: number): Promise<void> {
    if (closed || !options.webhook) return;
    let outcome: string;
    try {
      const res = await fetch(options.webhook, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'aeg-event-type': 'Notification',
          'aeg-subscription-name': (options.subscriptionName ?? 'fleet-manager-cluster-events').toUpperCase(),
          'aeg-delivery-count': String(count),
          'aeg-data-version': body.dataVersion,
          'aeg-metadata-version': body.metadataVersion,
        },
        body: JSON.stringify([body]),
        signal: AbortSignal.timeout(30_000),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status >= 200 && res.status <= 204) return;
      if ([400, 401, 403, 413].includes(res.status)) {
        log(`[event grid] ${body.eventType} for ${body.subject}: dead-lettered, the endpoint answered ${res.status}`);
        return;
      }
      outcome = `answered ${res.status}`;
    } catch (e) {
      outcome = `could not be reached (${(e as Error).message})`;
    }
    if (count + 1 >= maxAttempts) {
      log(`[event grid] ${body.eventType} for ${body.subject}: dead-lettered after ${maxAttempts} attempts; the endpoint ${outcome}`);
      return;
    }
    const t = setTimeout(
      () => {
        timers.delete(t);
        void attempt(body, count + 1);
      },
      Math.min(30_000, firstRetryMs * 2 ** count),
    );
    timers.add(t);
  }

  return {
    publish(e: ArmEvent) {
      if (!options.webhook) return;
      void attempt(armEventBody(e), 0);
    },
    close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
    },
  };
}
