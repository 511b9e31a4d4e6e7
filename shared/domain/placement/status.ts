// ClusterResourcePlacement.status as KubeFleet writes it: six conditions in pipeline order
// (Scheduled, RolloutStarted, Overridden, WorkSynchronized, Applied, Available), one
// placementStatuses[] entry per picked member (and one per member PickN could not find), with the
// objects that failed and the agent's reason. Every message says what is wrong and what it waits on,
// so `kubectl describe crp` answers "why did it not land?" without reading the fleet's logs.
import { type Condition, type ConditionStatus, setCondition } from '../../hub/conditions.js';

export interface ResourceId {
  group: string;
  version: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface WorkReport {
  /** The Work holds what the member should have now. */
  synced: boolean;
  generation: number;
  resourceIndex?: string;
  conditions: Condition[];
  manifestConditions: { identifier: ResourceId & { ordinal?: number }; conditions: Condition[] }[];
  /** Available, counting unavailablePeriodSeconds for what the agent cannot track. */
  availableNow: boolean;
}

export interface MemberReport {
  name: string;
  scheduledReason: string;
  overrides: { cluster: string[]; namespaced: string[]; error?: string };
  /** Held back by maxUnavailable. */
  waiting: boolean;
  work?: WorkReport;
}

export interface StatusInput {
  generation: number;
  now: string;
  previous?: { conditions?: Condition[]; placementStatuses?: { clusterName?: string; conditions?: Condition[] }[] };
  scheduling: { fulfilled: boolean; message: string; wanted: number; placementType: string } | { invalid: string[] };
  resourceIndex?: string;
  selectedResources: ResourceId[];
  members: MemberReport[];
  maxUnavailable: number;
  /** Members whose agents have not reported available: what the rollout waits on. */
  unavailable: string[];
  anyOverrides: boolean;
}

const prefix = 'ClusterResourcePlacement';
const conditionOf = (w: WorkReport | undefined, type: string) => {
  const c = w?.conditions.find((x) => x.type === type);
  return c && (c.observedGeneration ?? 0) >= (w?.generation ?? 0) ? c : undefined;
};
const idText = (r: ResourceId) => `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
const list = (names: string[], max = 5) => `${names.slice(0, max).join(', ')}${names.length > max ? ` and ${names.length - max} more` : ''}`;

interface Cond {
  status: ConditionStatus;
  reason: string;
  message: string;
}

function memberConditions(m: MemberReport, resourceIndex: string | undefined): Record<string, Cond> {
  const w = m.work;
  const out: Record<string, Cond> = { Scheduled: { status: 'True', reason: 'Scheduled', message: m.scheduledReason } };
  if (m.overrides.error) {
    out.RolloutStarted = { status: 'True', reason: 'RolloutStarted', message: 'the member is picked for the latest resources' };
    out.Overridden = { status: 'False', reason: 'OverriddenFailed', message: `${m.overrides.error}; the member keeps what it has until the override is fixed` };
    return out;
  }
  if (m.waiting) {
    out.RolloutStarted = {
      status: 'False',
      reason: 'RolloutNotStartedYet',
      message: `waiting for its turn in the rolling update: it keeps resource index ${w?.resourceIndex ?? '?'} until fewer members are unavailable (see the placement's RolloutStarted condition)`,
    };
    return out;
  }
  out.RolloutStarted = { status: 'True', reason: 'RolloutStarted', message: `the member gets resource index ${resourceIndex ?? '?'}` };
  const applied = [...m.overrides.cluster, ...m.overrides.namespaced];
  out.Overridden = applied.length
    ? { status: 'True', reason: 'OverriddenSucceeded', message: `applied ${list(applied)}` }
    : { status: 'True', reason: 'NoOverrideSpecified', message: 'no override applies to this member' };
  if (!w?.synced) {
    out.WorkSynchronized = { status: 'False', reason: 'WorkNotSynchronizedYet', message: 'the Work for this member is being written' };
    return out;
  }
  out.WorkSynchronized = { status: 'True', reason: 'AllWorkSynced', message: `the Work holds resource index ${w.resourceIndex ?? '?'}` };
  const a = conditionOf(w, 'Applied');
  if (!a) {
    out.Applied = { status: 'Unknown', reason: 'ApplyPending', message: `waiting for the member agent to apply generation ${w.generation} of the Work` };
    return out;
  }
  out.Applied =
    a.status === 'True'
      ? { status: 'True', reason: 'AllWorkHaveBeenApplied', message: a.message }
      : { status: 'False', reason: 'NotAllWorkHaveBeenApplied', message: a.message };
  if (a.status !== 'True') return out;
  const v = conditionOf(w, 'Available');
  if (!v || v.status === 'Unknown')
    out.Available = { status: 'Unknown', reason: 'AvailablePending', message: 'waiting for the member agent to report availability' };
  else if (v.status !== 'True') out.Available = { status: 'False', reason: 'NotAllWorkAreAvailable', message: v.message };
  else if (!w.availableNow)
    out.Available = { status: 'False', reason: 'NotAvailableYet', message: `${v.message}; counted available after unavailablePeriodSeconds` };
  else out.Available = { status: 'True', reason: 'AllWorkAreAvailable', message: v.message };
  return out;
}

function failedPlacements(w: WorkReport | undefined) {
  if (!w?.synced) return [];
  const out: (ResourceId & { condition: Condition })[] = [];
  for (const mc of w.manifestConditions) {
    const applied = mc.conditions.find((c) => c.type === 'Applied');
    const available = mc.conditions.find((c) => c.type === 'Available');
    const failing = applied?.status === 'False' ? applied : available?.status === 'False' ? available : undefined;
    if (!failing || (failing.observedGeneration ?? 0) < w.generation) continue;
    const { ordinal: _o, ...id } = mc.identifier;
    out.push({ ...id, condition: failing });
    if (out.length >= 100) break;
  }
  return out;
}

const types = ['Scheduled', 'RolloutStarted', 'Overridden', 'WorkSynchronized', 'Applied', 'Available'] as const;

export function placementStatus(input: StatusInput) {
  const { now, generation } = input;
  const placementStatuses: Record<string, unknown>[] = input.members.map((m) => {
    const previous = input.previous?.placementStatuses?.find((p) => p.clusterName === m.name)?.conditions;
    const wanted = memberConditions(m, input.resourceIndex);
    let conditions: Condition[] = [];
    for (const t of types) {
      const c = wanted[t];
      if (c)
        conditions = setCondition(
          conditions,
          { type: t, ...c, observedGeneration: generation },
          previous?.find((p) => p.type === t && p.status === c.status)?.lastTransitionTime ?? now,
        );
    }
    return {
      clusterName: m.name,
      ...(m.work?.resourceIndex !== undefined ? { observedResourceIndex: m.work.resourceIndex } : {}),
      ...(m.overrides.namespaced.length
        ? { applicableResourceOverrides: m.overrides.namespaced.map((n) => ({ name: n.split('/')[1], namespace: n.split('/')[0] })) }
        : {}),
      ...(m.overrides.cluster.length ? { applicableClusterResourceOverrides: m.overrides.cluster } : {}),
      failedPlacements: failedPlacements(m.work),
      conditions,
    };
  });
  const top: Record<string, Cond> = {};
  const s = input.scheduling;
  if ('invalid' in s) {
    top.Scheduled = { status: 'False', reason: 'InvalidResourceSelectors', message: s.invalid.join('; ') };
  } else {
    top.Scheduled = s.fulfilled
      ? { status: 'True', reason: 'SchedulingPolicyFulfilled', message: s.message }
      : { status: 'False', reason: 'SchedulingPolicyUnfulfilled', message: s.message };
    // PickN that found fewer: one entry per missing member, as KubeFleet writes them.
    if (s.placementType === 'PickN')
      for (let i = input.members.length; i < s.wanted; i++)
        placementStatuses.push({
          conditions: [
            { type: 'Scheduled', status: 'False', reason: 'ScheduleFailed', message: s.message, observedGeneration: generation, lastTransitionTime: now },
          ],
        });
    const members = input.members;
    const named = (pred: (m: MemberReport) => boolean) => members.filter(pred).map((m) => m.name);
    const waiting = named((m) => m.waiting);
    const overrideFailed = members.filter((m) => m.overrides.error);
    const rolling = members.filter((m) => !m.waiting && !m.overrides.error);
    if (!members.length) {
      top.RolloutStarted = { status: 'Unknown', reason: 'NoMemberPicked', message: 'no member is picked, so nothing rolls out: see the Scheduled condition' };
    } else if (waiting.length) {
      const held = new Set(waiting);
      const unavailable = input.unavailable.filter((n) => !held.has(n));
      top.RolloutStarted = {
        status: 'False',
        reason: 'RolloutNotStartedYet',
        message: `${waiting.length} of ${members.length} members wait for their turn (${list(waiting)}): at most ${input.maxUnavailable} member(s) may be unavailable at once (strategy.rollingUpdate.maxUnavailable) and ${unavailable.length} ${unavailable.length === 1 ? 'is' : 'are'} not available (or being updated): ${list(unavailable)}. Look at those members' placementStatuses (failedPlacements) for why`,
      };
    } else top.RolloutStarted = { status: 'True', reason: 'RolloutStarted', message: `every picked member gets resource index ${input.resourceIndex}` };
    if (members.length && !waiting.length) {
      top.Overridden = overrideFailed.length
        ? {
            status: 'False',
            reason: 'OverriddenFailed',
            message: `overrides fail for ${overrideFailed.length} member(s): ${overrideFailed
              .slice(0, 3)
              .map((m) => `${m.name}: ${m.overrides.error}`)
              .join('; ')}`,
          }
        : input.anyOverrides && members.some((m) => m.overrides.cluster.length + m.overrides.namespaced.length)
          ? { status: 'True', reason: 'OverriddenSucceeded', message: 'the overrides are applied' }
          : { status: 'True', reason: 'NoOverrideSpecified', message: 'no override applies to the picked members' };
      if (!overrideFailed.length) {
        const unsynced = named((m) => !m.work?.synced);
        top.WorkSynchronized = unsynced.length
          ? { status: 'False', reason: 'WorkNotSynchronizedYet', message: `the Works of ${list(unsynced)} are being written` }
          : { status: 'True', reason: 'WorkSynchronized', message: `the ${members.length} members' Works hold resource index ${input.resourceIndex}` };
        if (!unsynced.length) {
          const failed = rolling.filter((m) => conditionOf(m.work, 'Applied')?.status === 'False');
          const pending = rolling.filter((m) => !conditionOf(m.work, 'Applied'));
          const describe = (m: MemberReport, type: 'Applied' | 'Available') => {
            const f = failedPlacements(m.work)[0];
            return f ? `${m.name} (${idText(f)}: ${f.condition.reason}: ${f.condition.message})` : `${m.name} (${conditionOf(m.work, type)?.message ?? ''})`;
          };
          top.Applied = failed.length
            ? {
                status: 'False',
                reason: 'ApplyFailed',
                message: `${failed.length} of ${members.length} members failed to apply the resources: ${failed
                  .slice(0, 3)
                  .map((m) => describe(m, 'Applied'))
                  .join('; ')}. Each member's failedPlacements names the objects`,
              }
            : pending.length
              ? {
                  status: 'Unknown',
                  reason: 'ApplyPending',
                  message: `waiting for the member agents of ${list(pending.map((m) => m.name))} to apply the resources`,
                }
              : { status: 'True', reason: 'ApplySucceeded', message: `the resources are applied on all ${members.length} members` };
          if (top.Applied.status === 'True') {
            const notAvailable = rolling.filter((m) => !m.work?.availableNow);
            const reported = notAvailable.filter((m) => conditionOf(m.work, 'Available')?.status === 'False');
            top.Available = !notAvailable.length
              ? { status: 'True', reason: 'ResourceAvailable', message: `the resources are available on all ${members.length} members` }
              : reported.length
                ? {
                    status: 'False',
                    reason: 'ResourceNotAvailableYet',
                    message: `${notAvailable.length} of ${members.length} members are not available yet: ${reported
                      .slice(0, 3)
                      .map((m) => describe(m, 'Available'))
                      .join('; ')}`,
                  }
                : { status: 'Unknown', reason: 'AvailablePending', message: `waiting on the availability of ${list(notAvailable.map((m) => m.name))}` };
          }
        }
      }
    }
  }
  let conditions: Condition[] = [];
  for (const t of types) {
    const c = top[t];
    if (!c) continue;
    const type = `${prefix}${t}`;
    const before = input.previous?.conditions?.find((p) => p.type === type && p.status === c.status);
    conditions = setCondition(conditions, { type, ...c, observedGeneration: generation }, before?.lastTransitionTime ?? now);
  }
  return {
    selectedResources: input.selectedResources,
    ...(input.resourceIndex !== undefined ? { observedResourceIndex: input.resourceIndex } : {}),
    placementStatuses,
    conditions,
  };
}

/** What a hub object may hold, leaving room for its metadata and spec (objects stop at 1.5 MiB). */
export const maxStatusBytes = 1_000_000;

/**
 * A status small enough to store, for the largest fleets (10,000 members do not fit one object
 * with six conditions each), in steps until it fits: the messages of conditions that are True go;
 * then members where every condition is True keep only their name and resource index (the
 * placement's own conditions say they are fine); then at most 500 members with a problem are
 * listed, first by name. What is wrong is the last thing dropped.
 */
export function fitStatus<T extends { placementStatuses: Record<string, unknown>[] }>(status: T, maxBytes = maxStatusBytes): T {
  const fits = (s: T) => JSON.stringify(s).length <= maxBytes;
  if (fits(status)) return status;
  const conditionsOf = (p: Record<string, unknown>) => (p.conditions as Condition[] | undefined) ?? [];
  const fine = (p: Record<string, unknown>) => conditionsOf(p).length > 0 && conditionsOf(p).every((c) => c.status === 'True');
  const quiet = {
    ...status,
    placementStatuses: status.placementStatuses.map((p) => ({
      ...p,
      conditions: conditionsOf(p).map((c) => (c.status === 'True' ? { ...c, message: '' } : c)),
    })),
  };
  if (fits(quiet)) return quiet;
  const brief = {
    ...quiet,
    placementStatuses: quiet.placementStatuses.map((p) =>
      fine(p) ? { clusterName: p.clusterName, ...(p.observedResourceIndex !== undefined ? { observedResourceIndex: p.observedResourceIndex } : {}) } : p,
    ),
  };
  if (fits(brief)) return brief;
  let shown = 0;
  return { ...brief, placementStatuses: brief.placementStatuses.filter((p) => !(p.conditions as unknown[] | undefined)?.length || ++shown <= 500) };
}

/**
 * The scheduler's decisions as a policy snapshot holds them: every picked member, and the members
 * not picked up to `maxUnpicked` (by name); the rest are counted by reason in `summary`, so a
 * fleet of 10,000 still fits one object.
 */
export function fitDecisions<D extends { selected: boolean; reason: string }>(decisions: D[], maxUnpicked = 1000): { kept: D[]; summary?: string } {
  const unpicked = decisions.filter((d) => !d.selected);
  if (unpicked.length <= maxUnpicked) return { kept: decisions };
  const shown = new Set(unpicked.slice(0, maxUnpicked));
  const rest = unpicked.slice(maxUnpicked);
  const byReason = new Map<string, number>();
  for (const d of rest) {
    const why = d.reason
      .replace(/\(.*\)$/, '')
      .replace(/\d+(\.\d+)?/g, 'N')
      .trim();
    byReason.set(why, (byReason.get(why) ?? 0) + 1);
  }
  const summary = `${rest.length} more members not picked, not listed: ${[...byReason]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([why, n]) => `${n} × "${why}"`)
    .join('; ')}`;
  return { kept: decisions.filter((d) => d.selected || shown.has(d)), summary };
}
