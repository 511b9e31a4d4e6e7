// The rolling update: which members' Works change now. A member that has no Work yet gets it at
// once (nothing of the placement runs there to break). A member whose Work holds an older revision
// is updated only while the number of picked members that are not available stays within
// maxUnavailable — so a revision that never becomes available stops after that many members instead
// of reaching them all. Members that are already unavailable are updated first (updating them costs
// nothing). A member counts as available when its agent reports Available for the Work's current
// generation; one whose objects the agent cannot track only after unavailablePeriodSeconds more.
//
// maxSurge bounds extra members during a move in KubeFleet; here a deselected member's Work is
// removed at once and its replacement gets its Work at once, so there is no surge to bound.

export interface MemberWork {
  /** The hash of what the Work holds (annotation fleet.azure.com/work-hash). */
  hash: string;
  generation: number;
  /** When the fleet last wrote it (ms). */
  writtenAt: number;
  available?: { status: string; reason: string; observedGeneration?: number };
}

export interface RolloutInput {
  /** The picked members. */
  selected: readonly string[];
  /** What each picked member should hold (a member missing here, whose overrides fail, is left as it is). */
  desired: ReadonlyMap<string, string>;
  /** The Works of this placement, by member. */
  current: ReadonlyMap<string, MemberWork>;
  maxUnavailable: number | string;
  unavailablePeriodSeconds: number;
  /** How many members the policy wants (percentages are of this). */
  wanted: number;
  now: number;
}

export interface RolloutPlan {
  /** Members whose Work is written now (created or updated). */
  write: string[];
  /** Members whose Work goes (no longer picked). */
  remove: string[];
  /** Members with an older revision held back by maxUnavailable. */
  waiting: string[];
  /** The most members that may be unavailable at once. */
  maxUnavailable: number;
  /** Picked members not available now. */
  unavailable: string[];
  /** When to look again without an event (an untrackable member's period ends), ms. */
  recheckAt?: number;
}

/** An int-or-percent of `total`, percentages rounded up (as KubeFleet does for maxUnavailable); at least 1, or nothing could move. */
export function resolveCount(value: number | string, total: number): number {
  const n = typeof value === 'number' ? value : Math.ceil((Number(value.replace('%', '')) / 100) * total);
  return Math.max(1, n);
}

/** Available for what the Work holds now; `until`: when an untrackable Work will count. */
export function availability(w: MemberWork, periodSeconds: number, now: number): { ok: boolean; until?: number } {
  const a = w.available;
  if (a?.status !== 'True' || (a.observedGeneration ?? 0) < w.generation) return { ok: false };
  if (a.reason !== 'WorkNotAllManifestsTrackable') return { ok: true };
  const until = w.writtenAt + periodSeconds * 1000;
  return now >= until ? { ok: true } : { ok: false, until };
}

export function planRollout(input: RolloutInput): RolloutPlan {
  const selected = new Set(input.selected);
  const max = resolveCount(input.maxUnavailable, Math.max(input.wanted, input.selected.length));
  const remove = [...input.current.keys()].filter((m) => !selected.has(m)).sort();
  const write: string[] = [];
  const unavailable: string[] = [];
  const staleAvailable: string[] = [];
  let recheckAt: number | undefined;
  for (const m of [...input.selected].sort()) {
    const want = input.desired.get(m);
    const have = input.current.get(m);
    if (!have) {
      if (want !== undefined) write.push(m);
      unavailable.push(m);
      continue;
    }
    const a = availability(have, input.unavailablePeriodSeconds, input.now);
    if (a.until !== undefined) recheckAt = Math.min(recheckAt ?? a.until, a.until);
    if (!a.ok) unavailable.push(m);
    if (want === undefined || want === have.hash) continue;
    if (!a.ok) write.push(m);
    else staleAvailable.push(m);
  }
  // Members without a Work are not counted against the budget: the placement is not running there to be disrupted.
  const disrupted = unavailable.filter((m) => input.current.has(m)).length;
  const budget = Math.max(0, max - disrupted);
  const updating = staleAvailable.slice(0, budget);
  write.push(...updating);
  // Those given the new revision now are out of the budget until they are available again: they
  // hold the others back as much as an unavailable member does, and the status names them so.
  return {
    write,
    remove,
    waiting: staleAvailable.slice(budget),
    maxUnavailable: max,
    unavailable: [...unavailable, ...updating],
    ...(recheckAt !== undefined ? { recheckAt } : {}),
  };
}
