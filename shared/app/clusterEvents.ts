// Azure Resource Manager events about AKS clusters (Event Grid system topics of type
// Microsoft.Resources.Subscriptions), in the Event Grid schema or CloudEvents 1.0. An event names a
// cluster, not what changed (ARM events carry no body), so the handler only finds the member that
// holds the cluster (the cluster-claims table, one point read) and asks the worker to read the
// cluster again: `member.refresh` on the fleet's session. Duplicates and events out of order cost a
// read each and change nothing, since the worker reads ARM's truth, not the event. Anything else —
// other event types, other resource types, a cluster in no fleet — is dropped after that read, or
// before it.
import { z } from 'zod';
import { canonicalId, parseResourceId } from '../domain/armIds.js';
import type { AppDeps } from './context.js';

const handled = new Set(['Microsoft.Resources.ResourceWriteSuccess', 'Microsoft.Resources.ResourceDeleteSuccess']);
const operations = new Set(['microsoft.containerservice/managedclusters/write', 'microsoft.containerservice/managedclusters/delete']);

const data = z.object({ resourceUri: z.string().optional(), operationName: z.string().optional() }).loose();
const eventGridEvent = z.object({ id: z.string(), eventType: z.string(), subject: z.string(), data: data.optional() }).loose();
const cloudEvent = z.object({ id: z.string(), type: z.string(), specversion: z.literal('1.0'), subject: z.string().optional(), data: data.optional() }).loose();

export type ClusterEventOutcome = 'ignored' | 'not-a-member' | 'refresh-sent';

/** The event's id, type and resource, whichever schema it came in. */
export function readClusterEvent(event: unknown): { id: string; type: string; resourceId: string; operation?: string } | undefined {
  const eg = eventGridEvent.safeParse(event);
  if (eg.success)
    return { id: eg.data.id, type: eg.data.eventType, resourceId: eg.data.data?.resourceUri ?? eg.data.subject, operation: eg.data.data?.operationName };
  const ce = cloudEvent.safeParse(event);
  if (ce.success)
    return { id: ce.data.id, type: ce.data.type, resourceId: ce.data.data?.resourceUri ?? ce.data.subject ?? '', operation: ce.data.data?.operationName };
  return undefined;
}

export async function handleClusterEvent(deps: AppDeps, event: unknown): Promise<ClusterEventOutcome> {
  const e = readClusterEvent(event);
  if (!e || !handled.has(e.type)) return 'ignored';
  // A write of a node pool or an extension names a child of the cluster: not the cluster's identity.
  if (e.operation && !operations.has(e.operation.toLowerCase())) return 'ignored';
  const id = parseResourceId(e.resourceId);
  if (!id || `${id.provider}/${id.type}`.toLowerCase() !== 'microsoft.containerservice/managedclusters') return 'ignored';
  const owner = await deps.claims.ownerOf(canonicalId(e.resourceId));
  if (!owner) return 'not-a-member';
  // The event id names the message: Event Grid's redelivery of the same event is dropped by duplicate detection.
  await deps.queue.send({
    operationId: `refresh.${owner.memberName}.${e.id}`.slice(0, 128),
    kind: 'member.refresh',
    fleet: { subscriptionId: owner.subscriptionId, resourceGroup: owner.resourceGroup, fleetName: owner.fleetName },
    memberName: owner.memberName,
  });
  return 'refresh-sent';
}
