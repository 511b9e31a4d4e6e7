// Events for `kubectl describe`: the fleet's own objects (MemberClusters, ClusterResourcePlacements)
// say what happened to them as their conditions change, as a controller records an Event each time
// it moves a condition. Derived, not written by hand at each call site: a status write that moves
// a condition (status or reason) records one Event for it, whoever wrote it. An Event's name is
// fixed by the object and the condition's new state, so a state reached again counts up the same
// Event (as kube's event correlator) and each object holds a bounded few.
import { createHash } from 'node:crypto';
import { groupVersion, type KubeObject, type ResourceType } from './kinds.js';

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

const conditionsOf = (o: KubeObject | undefined): Condition[] => {
  const c = (o?.status as { conditions?: unknown } | undefined)?.conditions;
  return Array.isArray(c) ? (c as Condition[]).filter((x) => x && typeof x.type === 'string') : [];
};

/** The Events a write from `before` to `after` calls for: one per condition whose status or reason moved. */
export function conditionEvents(t: ResourceType, before: KubeObject | undefined, after: KubeObject, now: string): KubeObject[] {
  if (!t.events) return [];
  const old = new Map(conditionsOf(before).map((c) => [c.type, c]));
  const events: KubeObject[] = [];
  for (const c of conditionsOf(after)) {
    const was = old.get(c.type);
    if (was && was.status === c.status && was.reason === c.reason) continue;
    // Every condition of the fleet's kinds is good when True (Joined, Healthy, Scheduled, Applied…).
    const healthy = c.status === 'True';
    const reason = c.reason || `${c.type}${c.status}`;
    const id = createHash('sha256').update(`${after.metadata.uid}\n${c.type}\n${c.status}\n${reason}`).digest('hex').slice(0, 16);
    events.push({
      apiVersion: 'v1',
      kind: 'Event',
      // Cluster-scoped objects' Events live in default, as kube-apiserver keeps them.
      metadata: { name: `${after.metadata.name}.${id}`, namespace: after.metadata.namespace ?? 'default' },
      involvedObject: {
        apiVersion: groupVersion(t),
        kind: t.kind,
        name: after.metadata.name,
        ...(after.metadata.namespace ? { namespace: after.metadata.namespace } : {}),
        uid: after.metadata.uid,
        resourceVersion: after.metadata.resourceVersion,
      },
      reason,
      message: c.message ? `${c.type} is ${c.status}: ${c.message}` : `${c.type} is ${c.status}`,
      type: healthy ? 'Normal' : 'Warning',
      source: { component: t.events },
      reportingComponent: t.events,
      reportingInstance: '',
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }
  return events;
}

/** An Event recorded again: counted up, with the newer message and time. */
export function recurred(stored: KubeObject, event: KubeObject): KubeObject {
  return {
    ...stored,
    involvedObject: event.involvedObject,
    message: event.message,
    lastTimestamp: event.lastTimestamp,
    count: (typeof stored.count === 'number' ? stored.count : 1) + 1,
  };
}
