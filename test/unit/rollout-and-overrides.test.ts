// The rolling update's bounds and the overrides' rules, one table each.
import { describe, expect, it } from 'vitest';
import { applyOverrides, type Override, overridesOfPlacement } from '../../shared/domain/placement/overrides.js';
import { type MemberWork, planRollout, resolveCount } from '../../shared/domain/placement/rollout.js';
import { parseOverrideSpec } from '../../shared/domain/placement/spec.js';
import { fitDecisions, fitStatus, type MemberReport, maxStatusBytes, placementStatus } from '../../shared/domain/placement/status.js';

const now = 1_000_000;
const work = (hash: string, available: 'True' | 'False' | 'none', more: Partial<MemberWork> = {}): MemberWork => ({
  hash,
  generation: 2,
  writtenAt: now - 60_000,
  ...(available === 'none'
    ? {}
    : { available: { status: available, reason: available === 'True' ? 'WorkAvailable' : 'ManifestNotAvailable', observedGeneration: 2 } }),
  ...more,
});

describe('maxUnavailable: how many members may be updated at once', () => {
  it.each([
    [1, 4, 1],
    ['25%', 4, 1],
    ['25%', 10, 3],
    ['100%', 5, 5],
    [0, 5, 1],
  ])('%s of %i members is %i', (value, total, expected) => expect(resolveCount(value, total)).toBe(expected));
});

describe('the rollout plan', () => {
  const members = ['a', 'b', 'c', 'd'];
  const allNew = new Map(members.map((m) => [m, 'v2']));
  it.each([
    ['members without a Work get it at once', new Map<string, MemberWork>(), 1, { write: members, waiting: [] }],
    [
      'one available member at a time with maxUnavailable 1',
      new Map(members.map((m) => [m, work('v1', 'True')])),
      1,
      { write: ['a'], waiting: ['b', 'c', 'd'] },
    ],
    [
      'nothing more while the updated member is not available (a bad revision stops)',
      new Map([['a', work('v2', 'False')], ...['b', 'c', 'd'].map((m) => [m, work('v1', 'True')] as const)]),
      1,
      { write: [], waiting: ['b', 'c', 'd'] },
    ],
    [
      'the next one once it is available',
      new Map([['a', work('v2', 'True')], ...['b', 'c', 'd'].map((m) => [m, work('v1', 'True')] as const)]),
      1,
      { write: ['b'], waiting: ['c', 'd'] },
    ],
    [
      'an unavailable member with the old revision is updated first, at no cost',
      new Map([['a', work('v1', 'True')], ['b', work('v1', 'False')], ...['c', 'd'].map((m) => [m, work('v1', 'True')] as const)]),
      2,
      { write: ['b', 'a'], waiting: ['c', 'd'] },
    ],
    [
      'a Work the agent has not reported on for its generation counts unavailable',
      new Map([['a', work('v2', 'True', { generation: 3 })], ...['b', 'c', 'd'].map((m) => [m, work('v1', 'True')] as const)]),
      1,
      { write: [], waiting: ['b', 'c', 'd'] },
    ],
  ])('%s', (_case, current, maxUnavailable, expected) => {
    const plan = planRollout({ selected: members, desired: allNew, current, maxUnavailable, unavailablePeriodSeconds: 60, wanted: 4, now });
    expect({ write: plan.write, waiting: plan.waiting }).toEqual(expected);
  });
  it('removes the Works of members no longer picked', () => {
    const plan = planRollout({
      selected: ['a'],
      desired: new Map([['a', 'v1']]),
      current: new Map([
        ['a', work('v1', 'True')],
        ['z', work('v1', 'True')],
      ]),
      maxUnavailable: 1,
      unavailablePeriodSeconds: 60,
      wanted: 1,
      now,
    });
    expect(plan.remove).toEqual(['z']);
  });
  it('counts an untrackable Work available only after unavailablePeriodSeconds, and says when to look again', () => {
    const untrackable = (writtenAt: number): MemberWork => ({
      hash: 'v2',
      generation: 2,
      writtenAt,
      available: { status: 'True', reason: 'WorkNotAllManifestsTrackable', observedGeneration: 2 },
    });
    const current = new Map([
      ['a', untrackable(now - 10_000)],
      ['b', work('v1', 'True')],
    ]);
    const input = {
      selected: ['a', 'b'],
      desired: new Map([
        ['a', 'v2'],
        ['b', 'v2'],
      ]),
      current,
      maxUnavailable: 1,
      unavailablePeriodSeconds: 60,
      wanted: 2,
      now,
    };
    const plan = planRollout(input);
    expect(plan.write).toEqual([]);
    expect(plan.recheckAt).toBe(now + 50_000);
    const later = planRollout({ ...input, now: now + 50_000 });
    expect(later.write).toEqual(['b']);
  });
});

describe('overrides', () => {
  const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { replicas: 2 } };
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } };
  const ro = (name: string, rules: unknown[], placement?: string): Override => {
    const r = parseOverrideSpec('ResourceOverride', {
      ...(placement ? { placement: { name: placement } } : {}),
      resourceSelectors: [{ group: 'apps', version: 'v1', kind: 'Deployment', name: 'web' }],
      policy: { overrideRules: rules },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return { kind: 'ResourceOverride', name, namespace: 'shop', spec: r.value };
  };
  const west = { clusterSelector: { clusterSelectorTerms: [{ labelSelector: { matchLabels: { region: 'west' } } }] } };
  const replicas = (n: number) => ({ jsonPatchOverrides: [{ op: 'replace', path: '/spec/replicas', value: n }] });
  const variable = ['$', '{MEMBER-CLUSTER-NAME}'].join('');
  it.each([
    ['a rule for the member', [ro('o', [{ ...west, ...replicas(3) }])], { region: 'west' }, 3, ['shop/o']],
    ['a rule for another region', [ro('o', [{ ...west, ...replicas(3) }])], { region: 'east' }, 2, []],
    ['a rule with no selector applies everywhere', [ro('o', [replicas(5)])], { region: 'east' }, 5, ['shop/o']],
    ['later overrides win, by name', [ro('b', [replicas(4)]), ro('a', [replicas(3)])], {}, 4, ['shop/a', 'shop/b']],
    ['Delete takes the object out', [ro('o', [{ overrideType: 'Delete' }])], {}, undefined, ['shop/o']],
  ])('%s', (_case, overrides, labels, expected, applied) => {
    const out = applyOverrides([namespace, deployment], { name: 'm1', labels }, overridesOfPlacement(overrides, 'shop'));
    expect(out.error).toBeUndefined();
    expect(out.manifests.find((m) => m.kind === 'Deployment')?.spec).toEqual(expected === undefined ? undefined : { replicas: expected });
    expect(out.manifests[0]).toEqual(namespace);
    expect(out.applied.namespaced).toEqual(applied);
  });
  it('puts the member name in for its variable', () => {
    const o = ro('o', [{ jsonPatchOverrides: [{ op: 'add', path: '/metadata/labels', value: { cluster: variable } }] }]);
    expect(applyOverrides([deployment], { name: 'west-1', labels: {} }, [o]).manifests[0].metadata?.labels).toEqual({ cluster: 'west-1' });
  });
  it('fails, naming the override and the object, when a path does not exist', () => {
    const o = ro('o', [{ jsonPatchOverrides: [{ op: 'replace', path: '/spec/template/nothing', value: 1 }] }]);
    expect(applyOverrides([deployment], { name: 'm', labels: {} }, [o]).error).toMatch(/^ResourceOverride shop\/o cannot be applied to Deployment shop\/web/);
  });
  it('a ClusterResourceOverride changes a cluster-scoped object, and comes before ResourceOverrides', () => {
    const r = parseOverrideSpec('ClusterResourceOverride', {
      clusterResourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: 'shop' }],
      policy: { overrideRules: [{ ...west, jsonPatchOverrides: [{ op: 'add', path: '/metadata/labels', value: { region: 'west' } }] }] },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const cro: Override = { kind: 'ClusterResourceOverride', name: 'label-ns', spec: r.value };
    const sorted = overridesOfPlacement([ro('a', [replicas(3)]), cro], 'shop');
    expect(sorted.map((o) => o.kind)).toEqual(['ClusterResourceOverride', 'ResourceOverride']);
    const out = applyOverrides([namespace, deployment], { name: 'w', labels: { region: 'west' } }, sorted);
    expect(out.manifests[0].metadata?.labels).toEqual({ region: 'west' });
    expect(out.applied).toEqual({ cluster: ['label-ns'], namespaced: ['shop/a'] });
    expect(applyOverrides([namespace], { name: 'e', labels: { region: 'east' } }, sorted).manifests[0]).toEqual(namespace);
  });
  it('leaves alone what is bound to another placement', () => {
    expect(overridesOfPlacement([ro('o', [replicas(3)], 'other')], 'shop')).toEqual([]);
  });
});

describe('statuses of the largest fleets fit one object', () => {
  const at = '2026-12-02T00:00:00Z';
  const members = (n: number, failing = 0): MemberReport[] =>
    Array.from({ length: n }, (_, i) => {
      const bad = i < failing;
      const cond = (type: string) =>
        ({
          type,
          status: bad && type === 'Available' ? 'False' : 'True',
          reason: 'R',
          message: `the ${type} message of member ${i}`,
          lastTransitionTime: at,
          observedGeneration: 1,
        }) as const;
      return {
        name: `member-${String(i).padStart(5, '0')}`,
        scheduledReason: 'picked: it matches the policy (PickAll)',
        overrides: { cluster: [], namespaced: [] },
        waiting: false,
        work: { synced: true, generation: 1, resourceIndex: '0', conditions: [cond('Applied'), cond('Available')], manifestConditions: [], availableNow: !bad },
      };
    });
  const statusOf = (m: MemberReport[]) =>
    placementStatus({
      generation: 1,
      now: at,
      scheduling: { fulfilled: true, message: 'all', wanted: m.length, placementType: 'PickAll' },
      resourceIndex: '0',
      selectedResources: [],
      members: m,
      maxUnavailable: 1,
      unavailable: [],
      anyOverrides: false,
    });
  it.each([
    [100, 0],
    [10_000, 0],
    [10_000, 30],
    [10_000, 10_000],
  ])('%i members, %i of them not available', (n, failing) => {
    const full = statusOf(members(n, failing));
    const fitted = fitStatus(full);
    expect(JSON.stringify(fitted).length).toBeLessThanOrEqual(maxStatusBytes);
    expect(fitted.conditions).toEqual(full.conditions);
    if (JSON.stringify(full).length <= maxStatusBytes) expect(fitted).toBe(full);
    // Every failing member (up to 500) is still there with its message.
    const withProblems = fitted.placementStatuses.filter((p) => (p.conditions as { status: string }[] | undefined)?.some((c) => c.status !== 'True'));
    expect(withProblems.length).toBe(Math.min(failing, 500));
    for (const p of withProblems.slice(0, 3))
      expect((p.conditions as { type: string; message: string }[]).find((c) => c.type === 'Available')!.message).toContain('the Available message');
  });
  it('a policy snapshot lists every picked member and at most 1,000 others, the rest counted by reason', () => {
    const decisions = Array.from({ length: 5000 }, (_, i) => ({
      clusterName: `m${i}`,
      selected: i < 100,
      reason: i < 100 ? 'picked' : `not picked: has the taint t${i % 2}:NoSchedule (score ${i})`,
    }));
    const { kept, summary } = fitDecisions(decisions);
    expect(kept.filter((d) => d.selected)).toHaveLength(100);
    expect(kept.filter((d) => !d.selected)).toHaveLength(1000);
    expect(summary).toMatch(/^3900 more members not picked, not listed: \d+ × "not picked: has the taint tN:NoSchedule"/);
  });
});
