// The PATCH bodies kubectl sends: JSON patch (fast-json-patch applies it), JSON merge patch
// (RFC 7386), and strategic merge patch for the kinds kubectl has compiled in. Strategic merge has
// no JavaScript library: it is merge patch plus list merge keys and `$` directives, written here
// from the apimachinery rules for the built-in kinds' lists (kubectl-hub L4–L5).
import fastJsonPatch from 'fast-json-patch';
import { mergeKeyOf } from './listKeys.js';
import { badRequest, HubError } from './status.js';

type Json = unknown;
type Obj = Record<string, Json>;
const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386: objects merge, null removes, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObj(patch)) return patch;
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function jsonPatch(target: Json, operations: Json): Json {
  if (!Array.isArray(operations)) throw badRequest('json patch must be an array of operations');
  try {
    // Validated first (fast-json-patch checks each operation's shape and path), applied to a copy.
    return fastJsonPatch.applyPatch(structuredClone(target), operations as fastJsonPatch.Operation[], true, false).newDocument;
  } catch (e) {
    const err = e as { name?: string; message?: string; operation?: unknown };
    if (err.name === 'TEST_OPERATION_FAILED') throw new HubError(422, 'Invalid', `the test operation failed: ${JSON.stringify(err.operation)}`);
    throw new HubError(422, 'Invalid', `the json patch could not be applied: ${(err.message ?? String(e)).split('\n')[0]}`);
  }
}

function listStrategy(path: string[]): { key: string } | { primitive: true } | undefined {
  const key = mergeKeyOf(path);
  return key === 'set' ? { primitive: true } : key ? { key } : undefined;
}

/** Strategic merge patch (apimachinery's strategicpatch), for the built-in kinds. */
export function strategicMergePatch(target: Json, patch: Json, path: string[] = []): Json {
  if (!isObj(patch)) return patch;
  const directive = patch.$patch;
  if (directive === 'delete') return undefined;
  if (directive === 'replace') {
    const { $patch: _, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (directive !== undefined && directive !== 'merge') throw badRequest(`Unknown patch type found: ${JSON.stringify(directive)}`);
  const out: Obj = isObj(target) ? { ...target } : {};
  const orders: Record<string, Json[]> = {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch') continue;
    if (k === '$retainKeys') {
      if (!Array.isArray(v)) throw badRequest('$retainKeys must be a list of field names');
      for (const key of Object.keys(out)) if (!v.includes(key) && !Object.hasOwn(patch, key)) delete out[key];
      continue;
    }
    if (k.startsWith('$setElementOrder/')) {
      if (!Array.isArray(v)) throw badRequest(`${k} must be a list`);
      orders[k.slice('$setElementOrder/'.length)] = v;
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (!Array.isArray(v)) throw badRequest(`${k} must be a list`);
      if (Array.isArray(out[field])) out[field] = (out[field] as Json[]).filter((x) => !v.includes(x as never));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const childPath = [...path, k];
    if (Array.isArray(v)) out[k] = mergeList(out[k], v, childPath);
    else if (isObj(v)) {
      const merged = strategicMergePatch(out[k], v, childPath);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  for (const [field, order] of Object.entries(orders))
    if (Array.isArray(out[field])) out[field] = applyOrder(out[field] as Json[], order, listStrategy([...path, field]));
  return out;
}

function mergeList(current: Json, patch: Json[], path: string[]): Json[] {
  const strategy = listStrategy(path);
  const existing = Array.isArray(current) ? current : [];
  // A `{$patch: replace}` element replaces the whole list with the rest.
  if (patch.some((e) => isObj(e) && e.$patch === 'replace')) return patch.filter((e) => !(isObj(e) && e.$patch === 'replace')).map(stripDirectives);
  if (!strategy) return patch.map(stripDirectives);
  if ('primitive' in strategy) {
    const out = [...existing];
    for (const v of patch) if (!out.includes(v)) out.push(v);
    return out;
  }
  const { key } = strategy;
  const out = existing.map((e) => e);
  for (const element of patch) {
    if (!isObj(element) || element[key] === undefined) throw badRequest(`map: ${JSON.stringify(element)} does not contain declared merge key: ${key}`);
    const i = out.findIndex((e) => isObj(e) && e[key] === element[key]);
    if (element.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = strategicMergePatch(out[i], element, path);
    else out.push(stripDirectives(strategicMergePatch(undefined, element, path)));
  }
  return out;
}

function applyOrder(list: Json[], order: Json[], strategy: ReturnType<typeof listStrategy>): Json[] {
  const keyOf = (e: Json) => (strategy && 'key' in strategy && isObj(e) ? e[strategy.key] : e);
  const wanted = order.map((o) => (strategy && 'key' in strategy && isObj(o) ? o[strategy.key] : o));
  const rank = (e: Json) => {
    const i = wanted.indexOf(keyOf(e));
    return i < 0 ? wanted.length : i;
  };
  return list
    .map((e, i) => ({ e, i }))
    .sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i)
    .map((x) => x.e);
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

export type PatchType = 'json' | 'merge' | 'strategic' | 'apply';

export function patchTypeOf(contentType: string | undefined): PatchType | undefined {
  const t = (contentType ?? '').split(';')[0].trim().toLowerCase();
  return (
    {
      'application/json-patch+json': 'json',
      'application/merge-patch+json': 'merge',
      'application/strategic-merge-patch+json': 'strategic',
      'application/apply-patch+yaml': 'apply',
      'application/apply-patch+cbor': undefined,
    } as Record<string, PatchType | undefined>
  )[t];
}
