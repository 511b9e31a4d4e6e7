// Selectors over member clusters and hub objects: metav1.LabelSelector (matchLabels and
// matchExpressions, all ANDed; an empty selector matches everything), and KubeFleet's property
// selectors over what the agents report (quantities compared as numbers, anything else as text).
import { parseQuantity } from '../quantity.js';
import type { ClusterSelectorTerm, LabelSelector, propertyOperators } from './spec.js';

export function matchesSelector(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const values = e.values ?? [];
    const ok =
      e.operator === 'In'
        ? has && values.includes(l[e.key])
        : e.operator === 'NotIn'
          ? !has || !values.includes(l[e.key])
          : e.operator === 'Exists'
            ? has
            : !has;
    if (!ok) return false;
  }
  return true;
}

/** A property's value as a number: quantities (`4`, `3800m`, `16Gi`) in base units; undefined if it is not one. */
export function propertyNumber(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[0-9.]+(m|k|Ki|M|Mi|G|Gi|T|Ti|E|Ei|P|Pi)?$/.test(value.trim())) return undefined;
  return parseQuantity(value);
}

function compare(op: (typeof propertyOperators)[number], have: string, want: string): boolean {
  const a = propertyNumber(have);
  const b = propertyNumber(want);
  const order = a !== undefined && b !== undefined ? Math.sign(a - b) : have < want ? -1 : have > want ? 1 : 0;
  switch (op) {
    case 'Gt':
      return order > 0;
    case 'Ge':
      return order >= 0;
    case 'Eq':
      return order === 0;
    case 'Ne':
      return order !== 0;
    case 'Lt':
      return order < 0;
    default:
      return order <= 0;
  }
}

export interface ClusterFacts {
  name: string;
  labels: Record<string, string>;
  /** Property name → value, as the agent reported it (`kubernetes-fleet.io/node-count` → "3"). */
  properties: Record<string, string>;
}

/** Why a term does not match (undefined: it does). A missing property never matches, as in KubeFleet. */
export function termMismatch(term: ClusterSelectorTerm, c: ClusterFacts): string | undefined {
  if (!matchesSelector(term.labelSelector, c.labels)) return 'its labels do not match the labelSelector';
  for (const e of term.propertySelector?.matchExpressions ?? []) {
    const have = c.properties[e.name];
    if (have === undefined) return `it reports no property ${e.name}`;
    if (!compare(e.operator, have, e.values[0])) return `its ${e.name} is ${have}, not ${e.operator} ${e.values[0]}`;
  }
  return undefined;
}

/** Whether any term matches (no terms: all do), and when none does, why the first one did not. */
export function matchesAnyTerm(terms: ClusterSelectorTerm[] | undefined, c: ClusterFacts): { ok: true } | { ok: false; why: string } {
  if (!terms?.length) return { ok: true };
  const reasons: string[] = [];
  for (const t of terms) {
    const why = termMismatch(t, c);
    if (why === undefined) return { ok: true };
    reasons.push(why);
  }
  return { ok: false, why: terms.length === 1 ? reasons[0] : `no required term matches (first: ${reasons[0]})` };
}
