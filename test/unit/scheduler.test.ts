// The scheduler's rules, one table each: what a member must be to be picked, how PickN ranks, how
// topology spread and taints filter, and what "IgnoredDuringExecution" keeps.
import { describe, expect, it } from 'vitest';
import { type Candidate, type ScheduleInput, schedule } from '../../shared/domain/placement/scheduler.js';
import { type PlacementPolicy, parsePlacementSpec } from '../../shared/domain/placement/spec.js';

const member = (name: string, more: Partial<Candidate> = {}): Candidate => ({
  name,
  labels: {},
  properties: {},
  taints: [],
  eligible: { ok: true },
  ...more,
});

const policyOf = (policy: unknown): PlacementPolicy => {
  const r = parsePlacementSpec({ resourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: 'app' }], policy });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value.policy;
};

const run = (policy: unknown, candidates: Candidate[], more: Partial<ScheduleInput> = {}) =>
  schedule({ policy: policyOf(policy), candidates, kept: [], holders: [], ...more });

const east = (name: string, more: Partial<Candidate> = {}) => member(name, { labels: { region: 'east', ...(more.labels ?? {}) }, ...more });
const west = (name: string, more: Partial<Candidate> = {}) => member(name, { ...more, labels: { region: 'west', ...(more.labels ?? {}) } });

describe('eligibility: only joined, healthy members that are not leaving are picked', () => {
  it.each([
    ['joined and healthy', member('a'), true, /picked/],
    ['not joined', member('a', { eligible: { ok: false, why: 'the member agent has not joined' } }), false, /not eligible: the member agent has not joined/],
    ['unhealthy', member('a', { eligible: { ok: false, why: 'Healthy is Unknown' } }), false, /not eligible: Healthy is Unknown/],
    ['leaving', member('a', { leaving: true }), false, /leaving the fleet/],
  ])('%s', (_case, candidate, selected, reason) => {
    for (const policy of [{ placementType: 'PickAll' }, { placementType: 'PickN', numberOfClusters: 1 }, { placementType: 'PickFixed', clusterNames: ['a'] }]) {
      const d = run(policy, [candidate]).decisions[0];
      expect(d.selected).toBe(selected);
      expect(d.reason).toMatch(reason);
    }
  });
});

describe('required cluster affinity: a member must match one term (labels and properties)', () => {
  const required = (terms: unknown[]) => ({
    placementType: 'PickAll',
    affinity: { clusterAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { clusterSelectorTerms: terms } } },
  });
  const big = member('big', {
    labels: { env: 'prod' },
    properties: { 'kubernetes-fleet.io/node-count': '5', 'resources.kubernetes-fleet.io/available-cpu': '3800m' },
  });
  const small = member('small', { labels: { env: 'dev' }, properties: { 'kubernetes-fleet.io/node-count': '1' } });
  it.each([
    ['matchLabels', [{ labelSelector: { matchLabels: { env: 'prod' } } }], ['big']],
    ['matchExpressions NotIn', [{ labelSelector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] } }], ['small']],
    ['either of two terms', [{ labelSelector: { matchLabels: { env: 'prod' } } }, { labelSelector: { matchLabels: { env: 'dev' } } }], ['big', 'small']],
    ['a property Ge', [{ propertySelector: { matchExpressions: [{ name: 'kubernetes-fleet.io/node-count', operator: 'Ge', values: ['3'] }] } }], ['big']],
    [
      'a quantity Gt (millicores against cores)',
      [{ propertySelector: { matchExpressions: [{ name: 'resources.kubernetes-fleet.io/available-cpu', operator: 'Gt', values: ['2'] }] } }],
      ['big'],
    ],
    ['a property no member reports', [{ propertySelector: { matchExpressions: [{ name: 'example.com/gpu', operator: 'Eq', values: ['1'] }] } }], []],
    [
      'labels and properties in one term',
      [
        {
          labelSelector: { matchLabels: { env: 'dev' } },
          propertySelector: { matchExpressions: [{ name: 'kubernetes-fleet.io/node-count', operator: 'Lt', values: ['2'] }] },
        },
      ],
      ['small'],
    ],
  ])('%s', (_case, terms, picked) => {
    const r = run(required(terms), [big, small]);
    expect(r.selected).toEqual(picked);
    for (const d of r.decisions.filter((x) => !x.selected)) expect(d.reason).toMatch(/does not match the required cluster affinity/);
  });
  it('says which property kept a member out', () => {
    const r = run(required([{ propertySelector: { matchExpressions: [{ name: 'kubernetes-fleet.io/node-count', operator: 'Ge', values: ['3'] }] } }]), [small]);
    expect(r.decisions[0].reason).toContain('its kubernetes-fleet.io/node-count is 1, not Ge 3');
  });
});

describe('taints and tolerations: a NoSchedule taint keeps new placements away unless tolerated', () => {
  const tainted = member('t', { taints: [{ key: 'maintenance', value: 'true', effect: 'NoSchedule' }] });
  it.each([
    ['no toleration', undefined, false],
    ['Equal with the value', [{ key: 'maintenance', value: 'true' }], true],
    ['Equal with another value', [{ key: 'maintenance', value: 'false' }], false],
    ['Exists on the key', [{ key: 'maintenance', operator: 'Exists' }], true],
    ['Exists on every key', [{ operator: 'Exists' }], true],
    ['another key', [{ key: 'gpu', operator: 'Exists' }], false],
  ])('%s', (_case, tolerations, selected) => {
    const d = run({ placementType: 'PickAll', tolerations }, [tainted]).decisions[0];
    expect(d.selected).toBe(selected);
    if (!selected) expect(d.reason).toContain('has the taint maintenance=true:NoSchedule');
  });
  it('PickFixed ignores taints', () => {
    expect(run({ placementType: 'PickFixed', clusterNames: ['t'] }, [tainted]).selected).toEqual(['t']);
  });
});

describe('PickFixed: exactly the named members', () => {
  it.each([
    ['all named exist', ['a', 'b'], ['a', 'b'], true],
    ['one is not a member', ['a', 'z'], ['a'], false],
    ['one is not eligible', ['a', 'c'], ['a'], false],
  ])('%s', (_case, names, picked, fulfilled) => {
    const r = run({ placementType: 'PickFixed', clusterNames: names }, [member('a'), member('b'), member('c', { eligible: { ok: false, why: 'not joined' } })]);
    expect(r.selected).toEqual(picked);
    expect(r.fulfilled).toBe(fulfilled);
    if (names.includes('z')) expect(r.message).toContain('z is not a member of this fleet');
    expect(r.decisions.find((d) => d.clusterName === 'b')!.reason).toMatch(names.includes('b') ? /named/ : /not named in clusterNames/);
  });
});

describe('PickN ranking: affinity score, then holding the placement, then name', () => {
  const preferred = (terms: unknown[]) => ({ affinity: { clusterAffinity: { preferredDuringSchedulingIgnoredDuringExecution: terms } } });
  const nodes = (n: number) => ({ 'kubernetes-fleet.io/node-count': String(n) });
  it.each([
    ['by name when nothing else differs', {}, [member('c'), member('a'), member('b')], [], ['a', 'b']],
    [
      'a preferred label wins',
      preferred([{ weight: 10, preference: { labelSelector: { matchLabels: { tier: 'gold' } } } }]),
      [member('a'), member('b'), member('c', { labels: { tier: 'gold' } })],
      [],
      ['a', 'c'],
    ],
    [
      'a negative weight loses',
      preferred([{ weight: -10, preference: { labelSelector: { matchLabels: { tier: 'spot' } } } }]),
      [member('a', { labels: { tier: 'spot' } }), member('b'), member('c')],
      [],
      ['b', 'c'],
    ],
    [
      'a property sorter, descending',
      preferred([{ weight: 20, preference: { propertySorter: { name: 'kubernetes-fleet.io/node-count', sortOrder: 'Descending' } } }]),
      [member('a', { properties: nodes(1) }), member('b', { properties: nodes(9) }), member('c', { properties: nodes(5) })],
      [],
      ['b', 'c'],
    ],
    [
      'a property sorter, ascending',
      preferred([{ weight: 20, preference: { propertySorter: { name: 'kubernetes-fleet.io/node-count', sortOrder: 'Ascending' } } }]),
      [member('a', { properties: nodes(1) }), member('b', { properties: nodes(9) }), member('c', { properties: nodes(5) })],
      [],
      ['a', 'c'],
    ],
    ['a member that holds it wins a tie', {}, [member('a'), member('b'), member('c')], ['c'], ['a', 'c']],
  ])('%s', (_case, extra, candidates, holders, picked) => {
    const r = run({ placementType: 'PickN', numberOfClusters: 2, ...extra }, candidates, { holders });
    expect(r.selected).toEqual(picked);
    expect(r.fulfilled).toBe(true);
    const left = r.decisions.find((d) => !d.selected)!;
    expect(left.reason).toMatch(/numberOfClusters \(2\) is met by members ranked higher/);
  });
  it('finds fewer than asked: Scheduled false, with the count', () => {
    const r = run({ placementType: 'PickN', numberOfClusters: 3 }, [member('a'), member('b', { eligible: { ok: false, why: 'not healthy' } })]);
    expect(r.selected).toEqual(['a']);
    expect(r.fulfilled).toBe(false);
    expect(r.message).toContain('found only 1 of the 3 members');
  });
});

describe('topology spread: PickN spreads over a label within maxSkew', () => {
  const spread = (whenUnsatisfiable: string, maxSkew = 1) => ({ topologySpreadConstraints: [{ topologyKey: 'region', maxSkew, whenUnsatisfiable }] });
  it.each([
    ['two regions, two picks: one each', 2, spread('DoNotSchedule'), [east('e1'), east('e2'), west('w1')], ['e1', 'w1']],
    ['four picks over 3 east and 1 west stop at 3 (skew 1)', 4, spread('DoNotSchedule'), [east('e1'), east('e2'), east('e3'), west('w1')], ['e1', 'e2', 'w1']],
    ['ScheduleAnyway fills, least skewed first', 4, spread('ScheduleAnyway'), [east('e1'), east('e2'), east('e3'), west('w1')], ['e1', 'e2', 'e3', 'w1']],
    ['maxSkew 2 allows 3 and 1', 4, spread('DoNotSchedule', 2), [east('e1'), east('e2'), east('e3'), west('w1')], ['e1', 'e2', 'e3', 'w1']],
    ['a member without the label is left out', 2, spread('DoNotSchedule'), [east('e1'), member('x'), west('w1')], ['e1', 'w1']],
  ])('%s', (_case, n, extra, candidates, picked) => {
    const r = run({ placementType: 'PickN', numberOfClusters: n, ...extra }, candidates);
    expect(r.selected).toEqual(picked);
    if (picked.length < n) {
      expect(r.fulfilled).toBe(false);
      expect(r.decisions.find((d) => !d.selected)!.reason).toMatch(/skew the spread over region to 2, over maxSkew 1/);
    }
  });
});

describe('IgnoredDuringExecution: what was picked under the same policy stays', () => {
  it.each([
    ['relabelled out of the affinity', east('e1', { labels: { region: 'north' } }), /kept: .*does not match the required cluster affinity/],
    ['unhealthy', east('e1', { eligible: { ok: false, why: 'Healthy is Unknown' } }), /kept: .*is not eligible: Healthy is Unknown/],
    ['newly tainted', east('e1', { taints: [{ key: 'drain', effect: 'NoSchedule' }] }), /kept: .*has the taint drain:NoSchedule/],
  ])('a member %s keeps it', (_case, changed, reason) => {
    const policy = {
      placementType: 'PickN',
      numberOfClusters: 1,
      affinity: {
        clusterAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { clusterSelectorTerms: [{ labelSelector: { matchLabels: { region: 'east' } } }] } },
      },
    };
    const r = run(policy, [changed, east('e2')], { kept: ['e1'] });
    expect(r.selected).toEqual(['e1']);
    expect(r.decisions[0].reason).toMatch(reason);
  });
  it('a member that leaves is let go, and PickN picks another', () => {
    const r = run({ placementType: 'PickN', numberOfClusters: 1 }, [member('a', { leaving: true }), member('b')], { kept: ['a'] });
    expect(r.selected).toEqual(['b']);
  });
  it('a member that becomes eligible fills PickAll and a short PickN', () => {
    expect(run({ placementType: 'PickAll' }, [member('a'), member('b')], { kept: ['a'] }).selected).toEqual(['a', 'b']);
    expect(run({ placementType: 'PickN', numberOfClusters: 2 }, [member('a'), member('b')], { kept: ['a'] }).selected).toEqual(['a', 'b']);
  });
  it('a new policy decides afresh (nothing kept) yet prefers the holders on ties', () => {
    const r = run({ placementType: 'PickN', numberOfClusters: 1 }, [member('a'), member('b')], { kept: [], holders: ['b'] });
    expect(r.selected).toEqual(['b']);
    expect(r.decisions.find((d) => d.clusterName === 'b')!.reason).toContain('already holds the placement');
  });
  it('the same inputs give the same decision whatever their order', () => {
    const cs = [east('e1'), west('w2'), east('e3'), west('w4'), member('x')];
    const policy = { placementType: 'PickN', numberOfClusters: 3, topologySpreadConstraints: [{ topologyKey: 'region', whenUnsatisfiable: 'ScheduleAnyway' }] };
    expect(run(policy, [...cs].reverse())).toEqual(run(policy, cs));
  });
});
