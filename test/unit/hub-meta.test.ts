// Names, labels, selectors, printer columns and ages: the hub's small rules, table-driven.
import { describe, expect, it } from 'vitest';
import { evalJsonPath } from '../../shared/hub/crds.js';
import { matchesFields, matchesLabels, metadataErrors, parseFieldSelector, parseLabelSelector } from '../../shared/hub/meta.js';
import { humanDuration } from '../../shared/hub/table.js';

describe('label selectors', () => {
  const labels = { env: 'prod', tier: 'web' };
  const cases: [string, boolean][] = [
    ['env=prod', true],
    ['env==prod', true],
    ['env!=prod', false],
    ['env in (prod, dev)', true],
    ['env notin (prod)', false],
    ['tier', true],
    ['!tier', false],
    ['env=prod,tier=db', false],
    ['missing!=x', true],
    ['', true],
  ];
  for (const [selector, want] of cases) it(`${selector || '(empty)'} → ${want}`, () => expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(want));
  it('refuses malformed selectors', () => {
    for (const bad of ['a=b,', 'bad key=x', 'a=-x-']) expect(() => parseLabelSelector(bad), bad).toThrow();
  });
});

describe('field selectors', () => {
  const o = { metadata: { name: 'a', namespace: 'ns' } };
  it('match metadata.name and metadata.namespace', () => {
    expect(matchesFields(parseFieldSelector('metadata.name=a,metadata.namespace!=other'), o)).toBe(true);
    expect(matchesFields(parseFieldSelector('metadata.name=b'), o)).toBe(false);
  });
  it('refuse fields a kind does not index', () => expect(() => parseFieldSelector('spec.x=1')).toThrow('field label not supported: spec.x'));
});

describe('object metadata', () => {
  const errors = (metadata: object, rule: 'subdomain' | 'label' = 'subdomain') => metadataErrors({ metadata } as never, rule).map((e) => e.field);
  it('checks names, label keys and values', () => {
    expect(errors({ name: 'ok.name-1' })).toEqual([]);
    expect(errors({ name: 'Bad_Name' })).toEqual(['metadata.name']);
    expect(errors({ name: 'a.b' }, 'label')).toEqual(['metadata.name']);
    expect(errors({})).toEqual(['metadata.name']);
    expect(errors({ name: 'x', labels: { 'example.com/ok': 'v', 'a b': 'v' } })).toEqual(['metadata.labels']);
    expect(errors({ name: 'x', labels: { ok: '-bad-' } })).toEqual(['metadata.labels']);
    expect(errors({ name: 'x', labels: { ok: 'x'.repeat(64) } })).toEqual(['metadata.labels']);
  });
});

describe('printing', () => {
  it('evaluates printer-column JSONPaths', () => {
    const o = { spec: { size: 3 }, status: { conditions: [{ type: 'Ready', status: 'True' }] } };
    expect(evalJsonPath(o, '.spec.size')).toBe(3);
    expect(evalJsonPath(o, '.status.conditions[?(@.type=="Ready")].status')).toBe('True');
    expect(evalJsonPath(o, '.status.conditions[0].type')).toBe('Ready');
    expect(evalJsonPath(o, '.spec.missing')).toBeUndefined();
  });
  it('renders ages as kubectl does', () => {
    const s = 1000;
    for (const [ms, want] of [
      [5 * s, '5s'],
      [119 * s, '119s'],
      [185 * s, '3m5s'],
      [45 * 60 * s, '45m'],
      [(3 * 3600 + 300) * s, '3h5m'],
      [30 * 3600 * s, '30h'],
      [(3 * 86400 + 5 * 3600) * s, '3d5h'],
      [30 * 86400 * s, '30d'],
    ] as const)
      expect(humanDuration(ms)).toBe(want);
  });
});
