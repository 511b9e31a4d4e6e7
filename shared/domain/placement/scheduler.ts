// The scheduler: which members a placement goes to, and for every member why it was or was not
// picked. KubeFleet's default profile in one pure function: filters (eligibility, required cluster
// affinity, taints and tolerations, topology spread under DoNotSchedule), then a ranking by topology
// spread score, affinity score, whether the member already holds the placement, and name — so the
// same inputs always give the same decision, and a decision only moves when something it read did.
//
// "IgnoredDuringExecution": a member picked under the same policy stays picked when it stops
// matching (relabelled, unhealthy, newly tainted); only a member that leaves is let go. A new policy
// decides afresh, preferring the members that hold the placement on ties.
import { type ClusterFacts, matchesAnyTerm, matchesSelector, propertyNumber } from './selectors.js';
import type { PlacementPolicy, Toleration, TopologySpreadConstraint } from './spec.js';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface Candidate extends ClusterFacts {
  taints: Taint[];
  /** Joined and healthy, as the agent last reported (KubeFleet's eligibility); otherwise why not. */
  eligible: { ok: true } | { ok: false; why: string };
  /** Leaving the fleet (its member is being deleted): let go everywhere. */
  leaving?: boolean;
}

export interface ScheduleInput {
  policy: PlacementPolicy;
  candidates: Candidate[];
  /** Members the previous decision under this same policy picked: they stay (IgnoredDuringExecution). */
  kept: readonly string[];
  /** Members that hold the placement from an older policy: preferred when scores tie. */
  holders: readonly string[];
}

export interface ClusterScore {
  affinityScore: number;
  topologySpreadScore: number;
}

export interface Decision {
  clusterName: string;
  selected: boolean;
  reason: string;
  clusterScore?: ClusterScore;
}

export interface ScheduleResult {
  /** One per candidate, by name. */
  decisions: Decision[];
  selected: string[];
  /** The policy's requirement met in full (PickN found N, PickFixed found every name). */
  fulfilled: boolean;
  /** How many members the policy asks for (PickAll: those it found). */
  wanted: number;
  /** For the Scheduled condition: what was decided, or what is missing. */
  message: string;
}

const taintText = (t: Taint) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;

export function tolerates(tolerations: Toleration[] | undefined, taint: Taint): boolean {
  return (tolerations ?? []).some(
    (t) =>
      (t.effect === undefined || t.effect === taint.effect) &&
      (t.operator === 'Exists' ? t.key === undefined || t.key === taint.key : t.key === taint.key && (t.value ?? '') === (taint.value ?? '')),
  );
}

/** Why a member cannot take a new placement (undefined: it can). */
function filterOut(policy: PlacementPolicy, c: Candidate): string | undefined {
  if (!c.eligible.ok) return `not eligible: ${c.eligible.why}`;
  if (policy.placementType === 'PickFixed') return undefined;
  const required = policy.affinity?.clusterAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.clusterSelectorTerms;
  const match = matchesAnyTerm(required, c);
  if (!match.ok) return `does not match the required cluster affinity: ${match.why}`;
  const untolerated = c.taints.find((t) => t.effect === 'NoSchedule' && !tolerates(policy.tolerations, t));
  if (untolerated) return `has the taint ${taintText(untolerated)}, which the placement does not tolerate`;
  for (const s of policy.topologySpreadConstraints ?? [])
    if (s.whenUnsatisfiable === 'DoNotSchedule' && c.labels[s.topologyKey] === undefined)
      return `has no ${s.topologyKey} label, which the topology spread constraint needs`;
  return undefined;
}

/** Preferred-affinity score: the weights of the terms it matches, property sorters scaled over the candidates. */
function affinityScores(policy: PlacementPolicy, candidates: Candidate[]): Map<string, number> {
  const scores = new Map(candidates.map((c) => [c.name, 0]));
  for (const term of policy.affinity?.clusterAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []) {
    const matching = candidates.filter((c) => matchesSelector(term.preference.labelSelector, c.labels));
    const sorter = term.preference.propertySorter;
    if (!sorter) {
      for (const c of matching) scores.set(c.name, scores.get(c.name)! + term.weight);
      continue;
    }
    const values = matching.map((c) => ({ c, v: propertyNumber(c.properties[sorter.name]) })).filter((x) => x.v !== undefined) as { c: Candidate; v: number }[];
    if (!values.length) continue;
    const min = Math.min(...values.map((x) => x.v));
    const max = Math.max(...values.map((x) => x.v));
    for (const { c, v } of values) {
      const share = max === min ? 1 : sorter.sortOrder === 'Descending' ? (v - min) / (max - min) : (max - v) / (max - min);
      scores.set(c.name, scores.get(c.name)! + Math.round(term.weight * share));
    }
  }
  return scores;
}

/**
 * Picked members per domain of one constraint's topology key (domains: every value the candidates
 * carry), kept as picks are made so that the skew a candidate would cause costs O(1), not a recount:
 * the scheduler asks it of every candidate for every pick.
 */
class Spread {
  private counts = new Map<string, number>();
  private max = 0;
  private min = 0;
  private atMin = 0;
  constructor(
    readonly constraint: TopologySpreadConstraint,
    domains: string[],
  ) {
    for (const d of domains) this.counts.set(d, 0);
    this.atMin = domains.length;
  }
  get skew() {
    return this.counts.size ? this.max - this.min : 0;
  }
  /** The skew if `c` were picked too. */
  skewWith(c: Candidate): number {
    const n = this.counts.get(c.labels[this.constraint.topologyKey] ?? '');
    if (n === undefined) return this.skew;
    const max = Math.max(this.max, n + 1);
    // Only the last member at the minimum raises it.
    const min = n === this.min && this.atMin === 1 ? this.min + 1 : this.min;
    return max - min;
  }
  add(c: Candidate) {
    const d = c.labels[this.constraint.topologyKey];
    const n = d === undefined ? undefined : this.counts.get(d);
    if (n === undefined) return;
    this.counts.set(d!, n + 1);
    const values = [...this.counts.values()];
    this.max = Math.max(...values);
    this.min = Math.min(...values);
    this.atMin = values.filter((v) => v === this.min).length;
  }
}

export function schedule(input: ScheduleInput): ScheduleResult {
  const { policy } = input;
  const candidates = [...input.candidates].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const reasons = new Map<string, string>();
  const passing: Candidate[] = [];
  const kept: Candidate[] = [];
  const keptNames = new Set(input.kept);
  for (const c of candidates) {
    if (c.leaving) {
      reasons.set(c.name, 'not picked: the member is leaving the fleet');
      continue;
    }
    const why = filterOut(policy, c);
    if (keptNames.has(c.name) && (policy.placementType !== 'PickFixed' || policy.clusterNames?.includes(c.name))) {
      kept.push(c);
      reasons.set(
        c.name,
        why
          ? `kept: picked before under this policy; it now ${why.replace(/^not eligible: /, 'is not eligible: ')} (IgnoredDuringExecution)`
          : 'kept: picked before under this policy, and it still matches',
      );
    } else if (why) reasons.set(c.name, `not picked: ${why}`);
    else passing.push(c);
  }
  const affinity = affinityScores(policy, [...kept, ...passing]);
  const holders = new Set(input.holders);
  const scoreOf = new Map<string, ClusterScore>();
  const decide = (selected: Candidate[], wanted: number, fulfilled: boolean, message: string): ScheduleResult => {
    const picked = new Set(selected.map((c) => c.name));
    const decisions = candidates.map((c): Decision => {
      const score = scoreOf.get(c.name) ?? (affinity.has(c.name) ? { affinityScore: affinity.get(c.name)!, topologySpreadScore: 0 } : undefined);
      return { clusterName: c.name, selected: picked.has(c.name), reason: reasons.get(c.name) ?? '', ...(score ? { clusterScore: score } : {}) };
    });
    return { decisions, selected: [...picked].sort(), fulfilled, wanted, message };
  };

  if (policy.placementType === 'PickFixed') {
    const names = policy.clusterNames ?? [];
    const known = new Set(candidates.map((c) => c.name));
    for (const c of passing) reasons.set(c.name, names.includes(c.name) ? 'picked: named in clusterNames' : 'not picked: not named in clusterNames');
    const selected = [...kept, ...passing.filter((c) => names.includes(c.name))];
    const missing = names.filter((n) => !selected.some((c) => c.name === n));
    const unknown = missing.filter((n) => !known.has(n));
    const message = missing.length
      ? `picked ${selected.length} of the ${names.length} named clusters; ${missing.map((n) => (unknown.includes(n) ? `${n} is not a member of this fleet` : `${n} ${reasons.get(n)?.replace(/^not picked: /, 'is ') ?? 'cannot be picked'}`)).join('; ')}`
      : `picked all ${names.length} named clusters`;
    return decide(selected, names.length, missing.length === 0, message);
  }

  if (policy.placementType === 'PickAll') {
    for (const c of passing) reasons.set(c.name, 'picked: it matches the policy (PickAll)');
    const selected = [...kept, ...passing];
    return decide(selected, selected.length, true, `picked all ${selected.length} members that match the policy`);
  }

  // PickN: the kept first, then one at a time the best ranked that keeps every DoNotSchedule spread within its skew.
  const wanted = policy.numberOfClusters ?? 0;
  const constraints = policy.topologySpreadConstraints ?? [];
  const spreads = constraints.map((s) => new Spread(s, [...new Set([...kept, ...passing].map((c) => c.labels[s.topologyKey]).filter((d) => d !== undefined))]));
  const rank = (a: Candidate, b: Candidate) => {
    const sa = scoreOf.get(a.name)!;
    const sb = scoreOf.get(b.name)!;
    return (
      sb.topologySpreadScore - sa.topologySpreadScore ||
      sb.affinityScore - sa.affinityScore ||
      Number(holders.has(b.name)) - Number(holders.has(a.name)) ||
      (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    );
  };
  const selected: Candidate[] = [];
  for (const c of kept) scoreOf.set(c.name, { affinityScore: affinity.get(c.name) ?? 0, topologySpreadScore: 0 });
  selected.push(...[...kept].sort(rank).slice(0, wanted));
  for (const c of selected) for (const sp of spreads) sp.add(c);
  for (const c of kept.filter((k) => !selected.includes(k))) reasons.set(c.name, `not picked: ${wanted} members ranked higher`);
  // Members in the same topology domains score the same on spread, so they wait in one queue in their
  // static order (affinity, holding it, name); each pick compares only the queues' heads — a decision
  // over thousands of members costs picks × domains, not picks × members.
  const staticRank = (a: Candidate, b: Candidate) =>
    (affinity.get(b.name) ?? 0) - (affinity.get(a.name) ?? 0) || Number(holders.has(b.name)) - Number(holders.has(a.name)) || (a.name < b.name ? -1 : 1);
  const queues = new Map<string, Candidate[]>();
  for (const c of passing) {
    const key = spreads.map((sp) => c.labels[sp.constraint.topologyKey] ?? '').join('\u0000');
    const q = queues.get(key);
    if (q) q.push(c);
    else queues.set(key, [c]);
  }
  const heads = [...queues.values()].map((q) => ({ q: q.sort(staticRank), next: 0 }));
  const spreadOf = (c: Candidate) => {
    let score = 0;
    let violation: string | undefined;
    for (const sp of spreads) {
      const after = sp.skewWith(c);
      score -= after - sp.skew;
      if (sp.constraint.whenUnsatisfiable === 'DoNotSchedule' && after > sp.constraint.maxSkew && !violation)
        violation = `picking it would skew the spread over ${sp.constraint.topologyKey} to ${after}, over maxSkew ${sp.constraint.maxSkew}`;
    }
    return { score, violation };
  };
  while (selected.length < wanted) {
    let best: { head: (typeof heads)[number]; c: Candidate; score: number } | undefined;
    for (const head of heads) {
      const c = head.q[head.next];
      if (!c) continue;
      const { score, violation } = spreadOf(c);
      if (violation) continue;
      if (!best || score > best.score || (score === best.score && staticRank(c, best.c) < 0)) best = { head, c, score };
    }
    if (!best) break;
    best.head.next++;
    selected.push(best.c);
    scoreOf.set(best.c.name, { affinityScore: affinity.get(best.c.name) ?? 0, topologySpreadScore: best.score });
    for (const sp of spreads) sp.add(best.c);
    reasons.set(
      best.c.name,
      `picked: ranked ${selected.length} of the candidates (topology spread score ${best.score}, affinity score ${affinity.get(best.c.name) ?? 0}${holders.has(best.c.name) ? ', already holds the placement' : ''})`,
    );
  }
  // What was left: scored against the final pick, so its reason holds for the decision as made.
  let skewed = 0;
  for (const head of heads)
    for (const c of head.q.slice(head.next)) {
      const { score, violation } = spreadOf(c);
      const s = { affinityScore: affinity.get(c.name) ?? 0, topologySpreadScore: score };
      scoreOf.set(c.name, s);
      if (violation) skewed++;
      reasons.set(
        c.name,
        violation
          ? `not picked: ${violation}`
          : `not picked: numberOfClusters (${wanted}) is met by members ranked higher (its topology spread score ${s.topologySpreadScore}, affinity score ${s.affinityScore})`,
      );
    }
  const fulfilled = selected.length >= wanted;
  const message = fulfilled
    ? `picked ${wanted} of ${kept.length + passing.length} matching members, as numberOfClusters asks`
    : `found only ${selected.length} of the ${wanted} members numberOfClusters asks for: ${candidates.length - kept.length - passing.length} of ${candidates.length} members do not match the policy${skewed ? ` and ${skewed} would break a topology spread constraint` : ''}; see the scheduling policy snapshot for each member's reason`;
  return decide(selected, wanted, fulfilled, message);
}
