// Strategic merge patch, JSON merge patch and server-side apply: the merge rules, table-driven.
import { describe, expect, it } from 'vitest';
import { leaves, recordUpdate, serverSideApply, toFieldsV1 } from '../../shared/hub/fields.js';
import { jsonPatch, mergePatch, strategicMergePatch } from '../../shared/hub/patch.js';

const pod = (containers: unknown[]) => ({ spec: { template: { spec: { containers } } } });

describe('strategic merge patch', () => {
  const cases: { name: string; target: unknown; patch: unknown; want: unknown }[] = [
    { name: 'maps merge and null removes', target: { data: { a: '1', b: '2' } }, patch: { data: { b: null, c: '3' } }, want: { data: { a: '1', c: '3' } } },
    {
      name: 'containers merge by name',
      target: pod([
        { name: 'a', image: 'a:1' },
        { name: 'b', image: 'b:1' },
      ]),
      patch: pod([{ name: 'b', image: 'b:2' }]),
      want: pod([
        { name: 'a', image: 'a:1' },
        { name: 'b', image: 'b:2' },
      ]),
    },
    {
      name: '$setElementOrder orders the merged list',
      target: pod([
        { name: 'a', image: 'a:1' },
        { name: 'b', image: 'b:1' },
      ]),
      patch: { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }], containers: [{ name: 'b', image: 'b:2' }] } } } },
      want: pod([
        { name: 'b', image: 'b:2' },
        { name: 'a', image: 'a:1' },
      ]),
    },
    {
      name: '$patch: delete removes a keyed element',
      target: pod([{ name: 'a' }, { name: 'b' }]),
      patch: pod([{ name: 'a', $patch: 'delete' }]),
      want: pod([{ name: 'b' }]),
    },
    { name: '$patch: replace replaces a map', target: { spec: { a: 1, b: 2 } }, patch: { spec: { $patch: 'replace', c: 3 } }, want: { spec: { c: 3 } } },
    {
      name: 'a container port merges by containerPort, a Service port by port',
      target: { spec: { ports: [{ port: 80, name: 'http' }], containers: [{ name: 'c', ports: [{ containerPort: 80 }] }] } },
      patch: { spec: { ports: [{ port: 80, targetPort: 8080 }], containers: [{ name: 'c', ports: [{ containerPort: 81 }] }] } },
      want: {
        spec: { ports: [{ port: 80, name: 'http', targetPort: 8080 }], containers: [{ name: 'c', ports: [{ containerPort: 80 }, { containerPort: 81 }] }] },
      },
    },
    {
      name: 'lists without a merge key are replaced',
      target: { spec: { args: ['a', 'b'] } },
      patch: { spec: { args: ['c'] } },
      want: { spec: { args: ['c'] } },
    },
    {
      name: 'finalizers merge as a set, $deleteFromPrimitiveList removes',
      target: { metadata: { finalizers: ['a', 'b'] } },
      patch: { metadata: { finalizers: ['c'], '$deleteFromPrimitiveList/finalizers': ['a'] } },
      want: { metadata: { finalizers: ['b', 'c'] } },
    },
  ];
  for (const c of cases) it(c.name, () => expect(strategicMergePatch(c.target, JSON.parse(JSON.stringify(c.patch)))).toEqual(c.want));
});

describe('merge and JSON patch', () => {
  it('merge patch replaces lists and removes nulls', () =>
    expect(mergePatch({ a: [1, 2], b: { c: 1 } }, { a: [3], b: { c: null } })).toEqual({ a: [3], b: {} }));
  it('JSON patch applies in order and fails a test whole', () => {
    expect(
      jsonPatch({ a: 1 }, [
        { op: 'add', path: '/b', value: 2 },
        { op: 'remove', path: '/a' },
      ]),
    ).toEqual({ b: 2 });
    expect(() => jsonPatch({ a: 1 }, [{ op: 'test', path: '/a', value: 2 }])).toThrow(/test operation failed/);
    expect(() => jsonPatch({ a: 1 }, { op: 'add' })).toThrow(/array/);
  });
});

describe('server-side apply', () => {
  const base = { manager: 'a', force: false, apiVersion: 'v1', time: 't', plural: 'configmaps', group: '', name: 'x' };
  it('records the applied fields, leaving out what the server owns', () => {
    const set = leaves({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', labels: { t: 'db' } }, data: { k: 'v' } });
    expect(toFieldsV1(set)).toEqual({ 'f:metadata': { 'f:labels': { 'f:t': {} } }, 'f:data': { 'f:k': {} } });
  });
  it('conflicts name each field another manager set differently, and force takes them', () => {
    const first = serverSideApply(undefined, { metadata: { labels: { t: 'db' } }, data: { k: 'v' } }, base);
    const live = { ...first.object, metadata: { ...(first.object.metadata as object), managedFields: first.managedFields } };
    expect(() => serverSideApply(live, { metadata: { labels: { t: 'web' } }, data: { k: 'v' } }, { ...base, manager: 'b' })).toThrow(
      'Apply failed with 1 conflict: conflict with "a": .metadata.labels.t',
    );
    // The same value is co-owned, not a conflict.
    const shared = serverSideApply(live, { data: { k: 'v' } }, { ...base, manager: 'b' });
    expect(shared.managedFields.map((m) => m.manager)).toEqual(['a', 'b']);
    const forced = serverSideApply(live, { metadata: { labels: { t: 'web' } } }, { ...base, manager: 'b', force: true });
    expect((forced.object.metadata as { labels: object }).labels).toEqual({ t: 'web' });
    expect(forced.managedFields.find((m) => m.manager === 'a')!.fieldsV1).toEqual({ 'f:data': { 'f:k': {} } });
  });
  it('keyed lists merge by key and a field dropped from the applied config goes', () => {
    const first = serverSideApply(undefined, pod([{ name: 'a', image: '1' }]), base);
    const live = { ...first.object, metadata: { managedFields: first.managedFields } };
    const other = serverSideApply(live, pod([{ name: 'b', image: '2' }]), { ...base, manager: 'b' });
    expect((other.object as ReturnType<typeof pod>).spec.template.spec.containers).toEqual([
      { name: 'a', image: '1' },
      { name: 'b', image: '2' },
    ]);
    const dropped = serverSideApply({ ...other.object, metadata: { managedFields: other.managedFields } }, { spec: {} }, base);
    expect((dropped.object as ReturnType<typeof pod>).spec.template.spec.containers).toEqual([{ name: 'b', image: '2' }]);
  });
  it('an update takes the fields it changed from their managers', () => {
    const first = serverSideApply(undefined, { data: { k: 'v', j: 'w' } }, base);
    const entries = recordUpdate(first.object, { data: { k: 'changed', j: 'w' } }, first.managedFields, { manager: 'editor', apiVersion: 'v1', time: 't' });
    expect(Object.fromEntries(entries.map((e) => [e.manager, e.fieldsV1]))).toEqual({ a: { 'f:data': { 'f:j': {} } }, editor: { 'f:data': { 'f:k': {} } } });
  });
  it('a manager changing again only fields it alone owns keeps the field sets, with a new time', () => {
    const who = { manager: 'agent', apiVersion: 'v1', time: 't1', subresource: 'status' };
    const creator = recordUpdate(undefined, { spec: { a: 1 } }, undefined, { manager: 'hub', apiVersion: 'v1', time: 't0' });
    const once = recordUpdate({ spec: { a: 1 } }, { spec: { a: 1 }, status: { beat: '1', n: 3 } }, creator, who);
    const twice = recordUpdate({ spec: { a: 1 }, status: { beat: '1', n: 3 } }, { spec: { a: 1 }, status: { beat: '2', n: 3 } }, once, { ...who, time: 't2' });
    expect(twice).toEqual(once.map((e) => (e.manager === 'agent' ? { ...e, time: 't2' } : e)));
    // A field the other manager owns changes hands as before.
    const taken = recordUpdate({ spec: { a: 1 }, status: { beat: '2', n: 3 } }, { spec: { a: 2 }, status: { beat: '2', n: 3 } }, twice, { ...who, time: 't3' });
    expect(Object.fromEntries(taken.map((e) => [e.manager, e.fieldsV1]))).toEqual({
      agent: { 'f:spec': { 'f:a': {} }, 'f:status': { 'f:beat': {}, 'f:n': {} } },
    });
  });
});
