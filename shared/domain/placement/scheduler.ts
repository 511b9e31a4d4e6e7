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

/** The skew over one constraint's domains if `extra` joined `picked` (domains: every value the candidates carry). */
function skewWith(constraint: TopologySpreadConstraint, domains: string[], picked: Candidate[], extra: Candidate | undefined): number {
  if (!domains.length) return 0;
  const counts = new Map(domains.map((d) => [d, 0]));
  for (const c of extra ? [...picked, extra] : picked) {
    const d = c.labels[constraint.topologyKey];
    if (d !== undefined) counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  const n = [...counts.values()];
  return Math.max(...n) - Math.min(...n);
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
  const domains = constraints.map((s) => [...new Set([...kept, ...passing].map((c) => c.labels[s.topologyKey]).filter((d) => d !== undefined))]);
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
  for (const c of kept.filter((k) => !selected.includes(k))) reasons.set(c.name, `not picked: ${wanted} members ranked higher`);
  let pool = [...passing];
  const tooSkewed = new Map<string, string>();
  while (selected.length < wanted && pool.length) {
    const fits: Candidate[] = [];
    for (const c of pool) {
      let score = 0;
      let violation: string | undefined;
      constraints.forEach((s, i) => {
        const before = skewWith(s, domains[i], selected, undefined);
        const after = skewWith(s, domains[i], selected, c);
        score -= after - before;
        if (s.whenUnsatisfiable === 'DoNotSchedule' && after > s.maxSkew && !violation)
          violation = `picking it would skew the spread over ${s.topologyKey} to ${after}, over maxSkew ${s.maxSkew}`;
      });
      scoreOf.set(c.name, { affinityScore: affinity.get(c.name) ?? 0, topologySpreadScore: score });
      if (violation) tooSkewed.set(c.name, violation);
      else {
        tooSkewed.delete(c.name);
        fits.push(c);
      }
    }
    if (!fits.length) break;
    const best = fits.sort(rank)[0];
    selected.push(best);
    const s = scoreOf.get(best.name)!;
    reasons.set(
      best.name,
      `picked: ranked ${selected.length} of the candidates (topology spread score ${s.topologySpreadScore}, affinity score ${s.affinityScore}${holders.has(best.name) ? ', already holds the placement' : ''})`,
    );
    pool = pool.filter((c) => c !== best);
  }
  // What was left: scored against the final pick, so its reason holds for the decision as made.
  for (const c of pool) {
    let score = 0;
    constraints.forEach((s, i) => {
      score -= skewWith(s, domains[i], selected, c) - skewWith(s, domains[i], selected, undefined);
    });
    const s = { affinityScore: affinity.get(c.name) ?? 0, topologySpreadScore: score };
    scoreOf.set(c.name, s);
    reasons.set(
      c.name,
      tooSkewed.has(c.name)
        ? `not picked: ${tooSkewed.get(c.name)}`
        : `not picked: numberOfClusters (${wanted}) is met by members ranked higher (its topology spread score ${s.topologySpreadScore}, affinity score ${s.affinityScore})`,
    );
  }
  const fulfilled = selected.length >= wanted;
  const message = fulfilled
    ? `picked ${wanted} of ${kept.length + passing.length} matching members, as numberOfClusters asks`
    : `found only ${selected.length} of the ${wanted} members numberOfClusters asks for: ${candidates.length - kept.length - passing.length} of ${candidates.length} members do not match the policy${tooSkewed.size ? ` and ${tooSkewed.size} would break a topology spread constraint` : ''}; see the scheduling policy snapshot for each member's reason`;
  return decide(selected, wanted, fulfilled, message);
}
