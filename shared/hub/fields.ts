// Server-side apply: field ownership (`managedFields`, FieldsV1) and the apply merge. There is no
// JavaScript structured-merge-diff; this follows its rules for what kubectl sends: maps merge, lists
// with a merge key merge by key, other lists are atomic, a field one manager stops applying is
// removed unless another manager owns it, and applying a field another manager set to a different
// value is a conflict unless forced.
import { isDeepStrictEqual } from 'node:util';
import { mergeKeyOf } from './listKeys.js';
import { HubError } from './status.js';

type Json = unknown;
type Obj = Record<string, Json>;
const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A field path: FieldsV1 tokens (`f:spec`, `k:{"name":"c"}`, `v:"x"`) from the root. */
export type FieldPath = string[];
const keyOf = (p: FieldPath) => p.join('\n');
const fromKey = (k: string): FieldPath => k.split('\n');

/** Fields the server owns, never part of a field set. */
const serverFields = new Set([
  'f:apiVersion',
  'f:kind',
  'f:status\nserver',
  'f:metadata\nf:name',
  'f:metadata\nf:namespace',
  'f:metadata\nf:uid',
  'f:metadata\nf:resourceVersion',
  'f:metadata\nf:generation',
  'f:metadata\nf:creationTimestamp',
  'f:metadata\nf:deletionTimestamp',
  'f:metadata\nf:deletionGracePeriodSeconds',
  'f:metadata\nf:managedFields',
  'f:metadata\nf:selfLink',
  'f:metadata\nf:generateName',
]);

/** The leaf fields an object sets (its field set), walking lists by their merge keys. */
export function leaves(o: Json, names: string[] = [], path: FieldPath = [], out = new Set<string>()): Set<string> {
  if (isObj(o)) {
    const entries = Object.entries(o);
    if (entries.length === 0 && path.length) out.add(keyOf(path));
    for (const [k, v] of entries) {
      const p = [...path, `f:${k}`];
      if (serverFields.has(keyOf(p))) continue;
      leaves(v, [...names, k], p, out);
    }
    return out;
  }
  if (Array.isArray(o)) {
    const strategy = mergeKeyOf(names);
    if (strategy === 'set' && o.every((v) => typeof v !== 'object')) {
      if (o.length === 0) out.add(keyOf(path));
      for (const v of o) out.add(keyOf([...path, `v:${JSON.stringify(v)}`]));
      return out;
    }
    if (strategy && strategy !== 'set' && o.every((e) => isObj(e) && e[strategy] !== undefined)) {
      if (o.length === 0) out.add(keyOf(path));
      for (const e of o as Obj[]) {
        const p = [...path, `k:${JSON.stringify({ [strategy]: e[strategy] })}`];
        out.add(keyOf([...p, '.']));
        leaves(e, names, p, out);
      }
      return out;
    }
  }
  if (path.length) out.add(keyOf(path));
  return out;
}

/** The value at a field path, or undefined. */
function valueAt(o: Json, path: FieldPath): Json {
  let v: Json = o;
  for (const token of path) {
    if (token === '.') return v;
    if (token.startsWith('f:')) v = isObj(v) ? v[token.slice(2)] : undefined;
    else if (token.startsWith('k:')) {
      const key = JSON.parse(token.slice(2)) as Obj;
      const [name, value] = Object.entries(key)[0];
      v = Array.isArray(v) ? v.find((e) => isObj(e) && e[name] === value) : undefined;
    } else if (token.startsWith('v:')) {
      const value = JSON.parse(token.slice(2));
      v = Array.isArray(v) && v.includes(value) ? value : undefined;
    }
    if (v === undefined) return undefined;
  }
  return v;
}

/** Removes the field at a path (a map key, a keyed list element, a set value). */
function removeAt(o: Json, path: FieldPath): void {
  const last = path[path.length - 1] === '.' ? path[path.length - 2] : path[path.length - 1];
  const parentPath = path[path.length - 1] === '.' ? path.slice(0, -2) : path.slice(0, -1);
  const parent = valueAt(o, parentPath);
  if (last.startsWith('f:') && isObj(parent)) delete parent[last.slice(2)];
  else if (last.startsWith('k:') && Array.isArray(parent)) {
    const [name, value] = Object.entries(JSON.parse(last.slice(2)) as Obj)[0];
    const i = parent.findIndex((e) => isObj(e) && e[name] === value);
    if (i >= 0) parent.splice(i, 1);
  } else if (last.startsWith('v:') && Array.isArray(parent)) {
    const i = parent.indexOf(JSON.parse(last.slice(2)));
    if (i >= 0) parent.splice(i, 1);
  }
}

/** How a conflict names a field: `.metadata.labels.tier`, `.spec.containers[name="c"].image`. */
export function describePath(path: FieldPath): string {
  let s = '';
  for (const t of path) {
    if (t === '.') continue;
    if (t.startsWith('f:')) s += `.${t.slice(2)}`;
    else if (t.startsWith('k:')) {
      const [k, v] = Object.entries(JSON.parse(t.slice(2)) as Obj)[0];
      s += `[${k}=${JSON.stringify(v)}]`;
    } else if (t.startsWith('v:')) s += `[=${t.slice(2)}]`;
  }
  return s;
}

// ---- FieldsV1 ---------------------------------------------------------------------------------

export function toFieldsV1(set: Iterable<string>): Obj {
  const root: Obj = {};
  for (const k of set) {
    let node = root;
    for (const token of fromKey(k)) {
      node[token] ??= {};
      node = node[token] as Obj;
    }
  }
  return root;
}

export function fromFieldsV1(v: Json, path: FieldPath = [], out = new Set<string>()): Set<string> {
  if (!isObj(v)) return out;
  const entries = Object.entries(v);
  if (entries.length === 0 && path.length) out.add(keyOf(path));
  for (const [token, child] of entries) {
    if (token === '.') out.add(keyOf([...path, '.']));
    else fromFieldsV1(child, [...path, token], out);
  }
  return out;
}

export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

interface Owner {
  entry: Omit<ManagedEntry, 'fieldsV1'>;
  fields: Set<string>;
}

const sameOwner = (a: Owner['entry'], b: Owner['entry']) =>
  a.manager === b.manager && a.operation === b.operation && (a.subresource ?? '') === (b.subresource ?? '');

function owners(entries: ManagedEntry[] | undefined): Owner[] {
  return (entries ?? []).map(({ fieldsV1, ...entry }) => ({ entry, fields: fromFieldsV1(fieldsV1) }));
}

function toEntries(list: Owner[]): ManagedEntry[] {
  return list.filter((o) => o.fields.size > 0).map((o) => ({ ...o.entry, fieldsV1: toFieldsV1(o.fields) }));
}

const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/**
 * An update (create, replace, patch) by `manager`: it owns every field it changed or added; others
 * lose those; fields that went away leave every set.
 */
export function recordUpdate(
  before: Json,
  after: Json,
  entries: ManagedEntry[] | undefined,
  who: { manager: string; apiVersion: string; time: string; subresource?: string },
): ManagedEntry[] {
  const changed = new Set<string>();
  const gone = new Set<string>();
  diffLeaves(before, after, [], [], changed, gone);
  // The same manager changing fields it alone owns (an agent's heartbeat): only its entry's time
  // moves, and the field sets stay as they are, without taking them apart and building them again.
  const isMine = (e: ManagedEntry) =>
    e.manager === who.manager && e.operation === 'Update' && (e.subresource ?? '') === (who.subresource ?? '') && e.apiVersion === who.apiVersion;
  const mine = entries?.find(isMine);
  if (mine && gone.size === 0 && changed.size > 0) {
    const owns = (e: ManagedEntry, k: string) => hasPath(e.fieldsV1, fromKey(k));
    if ([...changed].every((k) => owns(mine, k) && !entries!.some((e) => e !== mine && owns(e, k))))
      return entries!.map((e) => (e === mine ? { ...e, time: who.time } : e));
  }
  const list = owners(entries);
  for (const o of list) {
    for (const k of gone) o.fields.delete(k);
    for (const k of changed) o.fields.delete(k);
  }
  if (changed.size) {
    const entry = {
      manager: who.manager,
      operation: 'Update' as const,
      apiVersion: who.apiVersion,
      time: who.time,
      fieldsType: 'FieldsV1' as const,
      ...(who.subresource ? { subresource: who.subresource } : {}),
    };
    const owner = list.find((o) => sameOwner(o.entry, entry));
    if (owner) {
      owner.entry = entry;
      for (const k of changed) owner.fields.add(k);
    } else list.push({ entry, fields: new Set(changed) });
  }
  return toEntries(list);
}

/**
 * The leaf fields `after` sets that are new or hold another value than in `before` (`changed`), and
 * those only `before` sets (`gone`). Subtrees equal on both sides are skipped without listing their
 * leaves (they hold neither), which makes a status write that moves a few times cost a few fields,
 * not the whole object twice. Where a subtree differs and is not a non-empty map on both sides, its
 * leaves are listed and compared one by one.
 */
function diffLeaves(before: Json, after: Json, names: string[], path: FieldPath, changed: Set<string>, gone: Set<string>): void {
  if (isDeepStrictEqual(before, after)) return;
  if (isObj(before) && isObj(after) && Object.keys(before).length && Object.keys(after).length) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const p = [...path, `f:${k}`];
      if (serverFields.has(keyOf(p))) continue;
      diffLeaves(before[k], after[k], [...names, k], p, changed, gone);
    }
    return;
  }
  const old = before === undefined ? new Set<string>() : leaves(before, names, path);
  const now = after === undefined ? new Set<string>() : leaves(after, names, path);
  const within = (o: Json, k: string) => valueAt(o, fromKey(k).slice(path.length));
  for (const k of now) if (!old.has(k) || !same(within(before, k), within(after, k))) changed.add(k);
  for (const k of old) if (!now.has(k)) gone.add(k);
}

/** Whether a FieldsV1 tree holds a field path (its tokens nested). */
function hasPath(fields: Obj, path: FieldPath): boolean {
  let node: Json = fields;
  for (const token of path) {
    if (!isObj(node) || !(token in node)) return false;
    node = node[token];
  }
  return true;
}

/** Merges an applied configuration into the live object: maps merge, keyed lists merge by key, the rest is replaced. */
function applyMerge(live: Json, config: Json, names: string[]): Json {
  if (isObj(config)) {
    const out: Obj = isObj(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(config)) out[k] = v === null ? null : applyMerge(out[k], v, [...names, k]);
    return out;
  }
  if (Array.isArray(config)) {
    const strategy = mergeKeyOf(names);
    if (strategy === 'set' && Array.isArray(live)) return [...live, ...config.filter((v) => !live.includes(v))];
    if (strategy && strategy !== 'set' && Array.isArray(live) && config.every((e) => isObj(e) && e[strategy] !== undefined)) {
      const out = live.map((e) => e);
      for (const e of config as Obj[]) {
        const i = out.findIndex((x) => isObj(x) && x[strategy] === e[strategy]);
        if (i >= 0) out[i] = applyMerge(out[i], e, names);
        else out.push(e);
      }
      return out;
    }
  }
  return config;
}

/**
 * Server-side apply of `config` by `manager` to `live` (undefined: the object is new). Returns the
 * new object and its managedFields, or throws a 409 naming each conflicting field.
 */
export function serverSideApply(
  live: Obj | undefined,
  config: Obj,
  options: { manager: string; force: boolean; apiVersion: string; time: string; plural: string; group: string; name: string; subresource?: string },
): { object: Obj; managedFields: ManagedEntry[] } {
  const list = owners(live ? ((live.metadata as Obj | undefined)?.managedFields as ManagedEntry[] | undefined) : undefined);
  const entry = {
    manager: options.manager,
    operation: 'Apply' as const,
    apiVersion: options.apiVersion,
    time: options.time,
    fieldsType: 'FieldsV1' as const,
    ...(options.subresource ? { subresource: options.subresource } : {}),
  };
  const mine = list.find((o) => sameOwner(o.entry, entry));
  const others = list.filter((o) => o !== mine);
  const applied = leaves(config);
  const conflicts: { manager: string; operation: string; apiVersion: string; path: string }[] = [];
  for (const k of applied) {
    const path = fromKey(k);
    const liveValue = live ? valueAt(live, path) : undefined;
    if (liveValue === undefined || same(liveValue, valueAt(config, path))) continue;
    for (const o of others)
      if (o.fields.has(k)) conflicts.push({ manager: o.entry.manager, operation: o.entry.operation, apiVersion: o.entry.apiVersion, path: describePath(path) });
  }
  if (conflicts.length && !options.force) {
    const lines = conflicts.map((c) => `conflict with "${c.manager}"${c.operation === 'Update' ? ` using ${c.apiVersion}` : ''}: ${c.path}`);
    const message = `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${lines.join('\n')}`;
    throw new HubError(409, 'Conflict', message, {
      name: options.name,
      group: options.group,
      kind: options.plural,
      causes: conflicts.map((c) => ({ type: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: c.path })),
    });
  }
  // Forced: the applier takes the conflicting fields from their managers.
  for (const o of others)
    for (const k of applied) if (conflicts.length && !same(live ? valueAt(live, fromKey(k)) : undefined, valueAt(config, fromKey(k)))) o.fields.delete(k);
  const object = applyMerge(live ?? {}, config, []) as Obj;
  // Fields this manager applied before and no longer does go away, unless another manager owns them.
  for (const k of mine?.fields ?? []) {
    if (applied.has(k) || others.some((o) => o.fields.has(k))) continue;
    removeAt(object, fromKey(k));
  }
  const next = others.concat({ entry, fields: applied });
  return { object, managedFields: toEntries(next) };
}
