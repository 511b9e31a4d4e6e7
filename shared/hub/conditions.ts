// Kubernetes-style status conditions (metav1.Condition): one entry per type; the transition time
// moves only when the status does, so "since when" stays true across repeated reports.

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** `conditions` with `next` in place of its type's entry; `now` becomes its transition time only when its status changed. */
export function setCondition(conditions: Condition[] | undefined, next: Omit<Condition, 'lastTransitionTime'>, now: string): Condition[] {
  const list = conditions ?? [];
  const previous = list.find((c) => c.type === next.type);
  const entry: Condition = { ...next, lastTransitionTime: previous && previous.status === next.status ? previous.lastTransitionTime : now };
  return previous ? list.map((c) => (c.type === next.type ? entry : c)) : [...list, entry];
}

export const findCondition = (conditions: Condition[] | undefined, type: string) => conditions?.find((c) => c.type === type);

/** The second of a time, as Kubernetes writes times (RFC 3339, no fraction). */
export const timestamp = (at: Date) => at.toISOString().replace(/\.\d+Z$/, 'Z');
