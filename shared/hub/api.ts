// The hub's Kubernetes API: paths and verbs to use cases, in plain data (the HTTP adapter is
// shared/http/hubHandler.ts). What kubectl sends for each verb is in ../shared/reference/kubectl-hub.md.

import { parse as parseYaml } from 'yaml';
import {
  aggregatedContentType,
  aggregatedDiscovery,
  apiGroup,
  apiGroupList,
  apiResourceList,
  apiVersions,
  openApiDocument,
  openApiRoot,
  serverVersion,
  wantsAggregated,
} from './discovery.js';
import { duplicateKeys } from './duplicateKeys.js';
import { groupVersion, type KubeObject, type ResourceType } from './kinds.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './meta.js';
import { type FieldValidation, type HubDeps, HubObjects, keyOf, nextRv, nextRvAt, resourceKey, rvToMs, tombstoneRetentionMs } from './objects.js';
import { jsonPatch, mergePatch, patchTypeOf } from './patch.js';
import { decodeKubernetesProtobuf, protobufContentType } from './protobuf/decode.js';
import { badRequest, HubError, invalid, methodNotAllowed, notFound, routeNotFound } from './status.js';
import { BadContinueToken, type HubRef, type StoredObject } from './store.js';
import { type IncludeObject, rowOf, toTable, wantsTable } from './table.js';
import { nextChanges, watchScopeKey } from './watchPolls.js';

export interface HubCall {
  hub: HubRef;
  method: string;
  /** Path segments after the hub's prefix, decoded. */
  path: string[];
  query: URLSearchParams;
  accept?: string;
  contentType?: string;
  body?: Buffer;
  userAgent?: string;
  /** host:port the client reached (for APIVersions' serverAddress). */
  host: string;
  signal?: AbortSignal;
}

export type HubResult =
  | {
      status: number;
      body: unknown;
      contentType?: string;
      headers?: Record<string, string>;
      /** A patched or deleted object as it was before (not sent): what the hub's own follow-ups compare with. */
      previous?: KubeObject;
    }
  | { status: 200; events: AsyncIterable<unknown> };

/** What a call addresses, once its path is read. */
export type Target =
  | { kind: 'discovery' }
  | { kind: 'resource'; group: string; version: string; namespace?: string; plural: string; name?: string; subresource?: string };

/**
 * What the fleet decides about users' writes to the objects it manages (MemberCluster, the
 * fleet-member namespaces): it may refuse one, and it carries label edits to the ARM member. A
 * guarded write runs as a dry run first, so the hook sees the object as it would be.
 */
export interface WriteHooks {
  guards(t: ResourceType, namespace: string | undefined, name: string | undefined): boolean;
  beforeWrite(write: {
    verb: 'create' | 'update' | 'delete';
    t: ResourceType;
    namespace?: string;
    name: string;
    before?: KubeObject;
    after?: KubeObject;
    subresource?: string;
  }): Promise<void>;
}

export interface WatchSettings {
  pollMs: number;
  /** A watch that names no timeoutSeconds lasts between this and twice this (kube-apiserver's --min-request-timeout). */
  minSeconds: number;
  /** An idle watch sends a keep-alive this often: Azure's front end drops an HTTP response idle for 230 s. */
  keepAliveMs: number;
}

export const defaultWatch: WatchSettings = { pollMs: 1000, minSeconds: 1800, keepAliveMs: 60_000 };

/** What a watch yields to keep its response from going idle (the HTTP adapter writes a newline). */
export const watchKeepAlive = Symbol('watch keep-alive');

/** Reads a resource path: /api/v1/..., /apis/{g}/{v}/..., [namespaces/{ns}/]{plural}[/{name}[/{sub}]]. */
export function targetOf(path: string[]): Target | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (path[0] === 'api' && path[1] === 'v1' && path.length > 2) {
    group = '';
    version = 'v1';
    rest = path.slice(2);
  } else if (path[0] === 'apis' && path.length > 3) {
    group = path[1];
    version = path[2];
    rest = path.slice(3);
  } else return path.length ? { kind: 'discovery' } : undefined;
  // namespaces/{name}[/status] is the Namespace itself; namespaces/{ns}/{plural}... is a namespaced resource.
  if (group === '' && rest[0] === 'namespaces' && (rest.length <= 2 || (rest.length === 3 && (rest[2] === 'status' || rest[2] === 'finalize'))))
    return { kind: 'resource', group, version, plural: 'namespaces', name: rest[1], subresource: rest[2] };
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const [, namespace, plural, name, subresource, ...extra] = rest;
    if (extra.length) return undefined;
    return { kind: 'resource', group, version, namespace, plural, name, subresource };
  }
  const [plural, name, subresource, ...extra] = rest;
  if (extra.length) return undefined;
  return { kind: 'resource', group, version, plural, name, subresource };
}

const json = (body: unknown, status = 200): HubResult => ({ status, body });

const decodeBody = (call: HubCall, apply: boolean): unknown => decodeRequestBody(call.contentType, call.body, apply);

/** A request's object: Kubernetes protobuf, JSON, or YAML (apply patches), by its content type. */
export function decodeRequestBody(contentType: string | undefined, body: Buffer | undefined, apply = false): unknown {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === protobufContentType) return decodeKubernetesProtobuf(body ?? Buffer.alloc(0));
  const text = (body ?? Buffer.alloc(0)).toString('utf8');
  if (!text.trim()) throw badRequest('the request has no body; send the object as JSON');
  try {
    return apply || /yaml/.test(type) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw badRequest(`the object could not be decoded: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The request's fieldValidation (kubectl sends Strict); none is Warn, as on kube-apiserver. */
function fieldValidationOf(call: HubCall): FieldValidation {
  const v = call.query.get('fieldValidation') ?? 'Warn';
  if (v !== 'Strict' && v !== 'Warn' && v !== 'Ignore') throw badRequest(`fieldValidation must be one of "Ignore", "Warn" or "Strict", not "${v}"`);
  return v;
}

/** The fields a JSON body names twice, as paths (duplicateKeys.ts). */
function duplicateFields(call: HubCall): string[] {
  const type = (call.contentType ?? '').split(';')[0].trim().toLowerCase();
  if (!type.includes('json') || !call.body?.length) return [];
  return duplicateKeys(call.body.toString('utf8'));
}

/** kubectl's field managers come in the query; others get their user agent's program name, as kube-apiserver does. */
function fieldManagerOf(call: HubCall): string | undefined {
  const given = call.query.get('fieldManager');
  if (given !== null) return given || undefined;
  return (call.userAgent ?? 'unknown').split('/')[0] || 'unknown';
}

const dryRunOf = (call: HubCall) => {
  const v = call.query.getAll('dryRun');
  if (v.some((x) => x !== 'All')) throw badRequest(`unsupported dry run option: ${v.join(',')}; the only one is All`);
  return v.length > 0;
};

function includeOf(call: HubCall): IncludeObject {
  const v = call.query.get('includeObject') ?? 'Metadata';
  if (v !== 'None' && v !== 'Metadata' && v !== 'Object') throw badRequest(`includeObject must be None, Metadata or Object, not ${v}`);
  return v;
}

export async function handleHubCall(deps: HubDeps & { watch?: WatchSettings; hooks?: WriteHooks }, call: HubCall): Promise<HubResult> {
  const objects = new HubObjects(deps, call.hub);
  const p = call.path;
  if (call.method === 'GET') {
    if (p.length === 1 && p[0] === 'version') return json(serverVersion);
    if (p.length === 1 && ['healthz', 'readyz', 'livez'].includes(p[0])) return { status: 200, body: 'ok', contentType: 'text/plain; charset=utf-8' };
    if (p.length === 1 && (p[0] === 'api' || p[0] === 'apis')) {
      const types = await objects.allTypes();
      if (wantsAggregated(call.accept)) return { status: 200, body: aggregatedDiscovery(types, p[0] === 'api'), contentType: aggregatedContentType };
      return json(p[0] === 'api' ? apiVersions(call.host) : apiGroupList(types));
    }
    if (p.length === 2 && p[0] === 'api' && p[1] === 'v1') return json(apiResourceList(await objects.allTypes(), '', 'v1'));
    if (p.length === 2 && p[0] === 'apis') {
      const versions = [...new Set((await objects.allTypes()).filter((t) => t.group === p[1]).map((t) => t.version))];
      if (!versions.length) throw routeNotFound();
      return json(apiGroup(p[1], versions));
    }
    if (p.length === 3 && p[0] === 'apis') {
      const types = await objects.allTypes();
      if (!types.some((t) => t.group === p[1] && t.version === p[2])) throw routeNotFound();
      return json(apiResourceList(types, p[1], p[2]));
    }
    if (p[0] === 'openapi') {
      if (p[1] === 'v3' && p.length === 2) return json(openApiRoot(await objects.allTypes()));
      if (p[1] === 'v3' && (p[2] === 'api' || p[2] === 'apis')) {
        // /openapi/v3/api/v1 is the core group's document, /openapi/v3/apis/{group}/{version} the others'.
        const gv = p.slice(3).join('/');
        if ((p[2] === 'api') === gv.includes('/')) throw routeNotFound();
        const types = await objects.allTypes();
        if (!types.some((t) => groupVersion(t) === gv)) throw routeNotFound();
        return {
          status: 200,
          body: await openApiDocument(types, gv),
          headers: { 'cache-control': 'public, immutable', expires: new Date(Date.now() + 365 * 864e5).toUTCString() },
        };
      }
      // v2 must be protobuf for kubectl; not serving it makes kubectl use v3 (kubectl-hub F6).
      throw routeNotFound();
    }
  }
  const target = targetOf(p);
  if (target?.kind !== 'resource') throw routeNotFound();
  const t = await objects.typeAt(target.group, target.version, target.plural);
  if (!t) throw routeNotFound();
  if (!t.namespaced && target.namespace !== undefined) throw routeNotFound();
  if (target.subresource !== undefined && !((target.subresource === 'status' && t.status) || (target.subresource === 'scale' && t.scale)))
    throw routeNotFound();
  if (target.subresource === 'scale' && target.name !== undefined) return serveScale(objects, t, target.namespace, target.name, call);
  return serveResource(objects, t, target, call, deps.watch ?? defaultWatch, deps.hooks);
}

async function serveResource(
  objects: HubObjects,
  t: ResourceType,
  target: Extract<Target, { kind: 'resource' }>,
  call: HubCall,
  watch: WatchSettings,
  hooks: WriteHooks | undefined,
): Promise<HubResult> {
  const { namespace, name } = target;
  /** A write the fleet guards: dry run, ask the hook, then (unless a dry run was asked for) the write itself. */
  const guarded = async <T extends { object: KubeObject }>(
    verb: 'create' | 'update' | 'delete',
    objectName: string,
    run: (dryRun: boolean) => Promise<T>,
  ): Promise<T> => {
    if (!hooks?.guards(t, namespace, objectName)) return run(dryRunOf(call));
    const before = verb === 'create' ? undefined : (await objects.read(t, namespace, objectName))?.object;
    const preview = await run(true);
    await hooks.beforeWrite({
      verb,
      t,
      namespace,
      name: objectName,
      before,
      after: verb === 'delete' ? undefined : preview.object,
      subresource: target.subresource,
    });
    return dryRunOf(call) ? preview : run(false);
  };
  const subresource = target.subresource as 'status' | undefined;
  const warnings: string[] = [];
  const present = (o: KubeObject, status = 200): HubResult => {
    const result =
      wantsTable(call.accept) && call.method === 'GET'
        ? json(toTable(t, [o], { include: includeOf(call), resourceVersion: o.metadata.resourceVersion ?? '', now: objects.deps.now().getTime() }))
        : json(o, status);
    // As kube-apiserver: each warning a `299 - "…"` entry of the Warning header (kubectl prints them).
    if (warnings.length) return { ...result, headers: { warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ') } };
    return result;
  };
  const fieldValidation = fieldValidationOf(call);
  const options = () => ({ dryRun: dryRunOf(call), fieldManager: fieldManagerOf(call), fieldValidation, warnings });
  const decodeChecked = (apply: boolean) => {
    const body = decodeBody(call, apply);
    if (fieldValidation !== 'Ignore' && !apply) {
      const duplicates = duplicateFields(call);
      if (duplicates.length && fieldValidation === 'Strict')
        throw badRequest(`strict decoding error: ${duplicates.map((d) => `duplicate field "${d}"`).join(', ')}`);
      warnings.push(...duplicates.map((d) => `duplicate field "${d}"`));
    }
    return body;
  };

  if (name === undefined) {
    switch (call.method) {
      case 'GET': {
        const w = call.query.get('watch');
        if (w === 'true' || w === '1') {
          // Checked before the stream starts, so that bad input is a Status, not a broken stream.
          selectionOf(t, call);
          includeOf(call);
          const rv = call.query.get('resourceVersion');
          if (rv && rv !== '0' && !/^\d{1,17}$/.test(rv)) throw badRequest(`invalid resourceVersion ${rv}: this hub's resourceVersions are numbers`);
          return { status: 200, events: watchEvents(objects, t, namespace, call, watch) };
        }
        return list(objects, t, namespace, call);
      }
      case 'POST': {
        if (t.namespaced && namespace === undefined) throw methodNotAllowed(`POST is not supported on ${t.plural} across namespaces; give a namespace`);
        const body = decodeChecked(false) as KubeObject;
        checkTypeMeta(t, body, namespace);
        const { object } = await guarded('create', body.metadata?.name ?? '', async (dryRun) => ({
          object: await objects.create(t, namespace, body, { ...options(), dryRun }),
        }));
        return present(object, 201);
      }
      case 'DELETE': {
        const { items } = await selectAll(objects, t, namespace, call);
        const deleted: KubeObject[] = [];
        for (const s of items) {
          const n = s.object.metadata.name!;
          deleted.push((await guarded('delete', n, (dryRun) => objects.delete(t, s.object.metadata.namespace, n, { dryRun }))).object);
        }
        return json({ kind: `${t.kind}List`, apiVersion: groupVersion(t), metadata: {}, items: deleted });
      }
      default:
        throw methodNotAllowed(`${call.method} is not supported on a collection of ${t.plural}`);
    }
  }
  switch (call.method) {
    case 'GET':
      return present(await objects.get(t, namespace, name));
    case 'PUT': {
      const body = decodeChecked(false) as KubeObject;
      checkTypeMeta(t, body, namespace);
      const { object } = await guarded('update', name, async (dryRun) => ({
        object: await objects.update(t, namespace, name, body, { ...options(), dryRun, subresource }),
      }));
      return present(object);
    }
    case 'PATCH': {
      const type = patchTypeOf(call.contentType);
      if (!type)
        throw new HubError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${t.custom ? '' : ', application/strategic-merge-patch+json'}`,
        );
      const force = call.query.get('force') === 'true';
      const patch = decodeChecked(type === 'apply');
      // Whether an apply creates matters only to the fleet's guards (no extra read otherwise).
      const exists = type !== 'apply' || !hooks?.guards(t, namespace, name) || (await objects.read(t, namespace, name)) !== undefined;
      const { object, created, before } = await guarded(exists ? 'update' : 'create', name, (dryRun) =>
        objects.patch(t, namespace, name, type, patch, { ...options(), dryRun, subresource, force }),
      );
      return { ...present(object, created ? 201 : 200), ...(before ? { previous: before } : {}) };
    }
    case 'DELETE': {
      const opts = call.body?.length ? (decodeBody(call, false) as { preconditions?: { uid?: string; resourceVersion?: string } }) : {};
      const { object, gone } = await guarded('delete', name, (dryRun) => objects.delete(t, namespace, name, { dryRun, preconditions: opts.preconditions }));
      if (!gone) return json(object, 200);
      return {
        ...json({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, ...(t.group ? { group: t.group } : {}), kind: t.plural, uid: object.metadata.uid },
        }),
        // What was deleted, for the caller's own follow-up (the answer is a Status).
        previous: object,
      };
    }
    default:
      throw methodNotAllowed(`${call.method} is not supported on ${t.plural}`);
  }
}

/** The scale subresource: an autoscaling/v1 Scale over spec.replicas (what `kubectl scale` reads and patches). */
async function serveScale(objects: HubObjects, t: ResourceType, namespace: string | undefined, name: string, call: HubCall): Promise<HubResult> {
  const current = await objects.read(t, namespace, name);
  if (!current) throw notFound(t.plural, t.group, name);
  const o = current.object;
  const spec = (o.spec ?? {}) as { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
  const scaleOf = (x: KubeObject) => ({
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name, namespace, uid: x.metadata.uid, resourceVersion: x.metadata.resourceVersion, creationTimestamp: x.metadata.creationTimestamp },
    spec: { replicas: (x.spec as { replicas?: number } | undefined)?.replicas ?? 1 },
    status: {
      replicas: ((x.status ?? {}) as { replicas?: number }).replicas ?? 0,
      selector: Object.entries(spec.selector?.matchLabels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    },
  });
  if (call.method === 'GET') return json(scaleOf(o));
  let next: unknown;
  if (call.method === 'PUT') next = decodeBody(call, false);
  else if (call.method === 'PATCH') {
    const type = patchTypeOf(call.contentType);
    const body = decodeBody(call, type === 'apply');
    next = type === 'json' ? jsonPatch(scaleOf(o), body) : mergePatch(scaleOf(o), body);
  } else throw methodNotAllowed(`${call.method} is not supported on ${t.plural}/scale`);
  const replicas = (next as { spec?: { replicas?: unknown } }).spec?.replicas;
  if (!Number.isInteger(replicas) || (replicas as number) < 0)
    throw invalid('Scale', 'autoscaling', name, [
      { field: 'spec.replicas', message: `Invalid value: ${JSON.stringify(replicas)}: must be a whole number, 0 or more` },
    ]);
  const rv = (next as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
  const updated = await objects.update(
    t,
    namespace,
    name,
    { ...o, metadata: { ...o.metadata, resourceVersion: rv ?? current.rv }, spec: { ...(o.spec as object), replicas } },
    { dryRun: dryRunOf(call), fieldManager: fieldManagerOf(call), current },
  );
  return json(scaleOf(updated));
}

/** The body's apiVersion/kind must be what the URL serves, and its namespace the URL's. */
function checkTypeMeta(t: ResourceType, body: KubeObject, namespace: string | undefined): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the body must be a Kubernetes object');
  if (body.apiVersion !== undefined && body.apiVersion !== groupVersion(t))
    throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${groupVersion(t)})`);
  if (body.kind !== undefined && body.kind !== t.kind) throw badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${t.kind})`);
  if (body.metadata !== undefined && (typeof body.metadata !== 'object' || body.metadata === null)) throw badRequest('metadata must be an object');
  if (t.namespaced && body.metadata?.namespace && body.metadata.namespace !== namespace)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
}

interface Selection {
  labels: ReturnType<typeof parseLabelSelector>;
  fields: ReturnType<typeof parseFieldSelector>;
}

function selectionOf(t: ResourceType, call: HubCall): Selection {
  const extra = t.kind === 'Event' ? ['involvedObject.name', 'involvedObject.namespace', 'involvedObject.kind', 'involvedObject.uid', 'reason', 'type'] : [];
  return { labels: parseLabelSelector(call.query.get('labelSelector') ?? ''), fields: parseFieldSelector(call.query.get('fieldSelector') ?? '', extra) };
}

const selects = (s: Selection, o: KubeObject) => matchesLabels(s.labels, o.metadata.labels) && matchesFields(s.fields, o);

/** The one name a `metadata.name=` field selector asks for (then a point read does). */
const singleName = (s: Selection) => s.fields.find((f) => f.field === 'metadata.name' && f.op === '=')?.value;

async function selectAll(objects: HubObjects, t: ResourceType, namespace: string | undefined, call: HubCall, limit?: number, continueToken?: string) {
  const selection = selectionOf(t, call);
  const name = singleName(selection);
  if (name !== undefined && continueToken === undefined) {
    if (!t.namespaced || namespace !== undefined) {
      const s = await objects.read(t, namespace, name);
      return { items: s && selects(selection, s.object) ? [s] : [] };
    }
  }
  const items: StoredObject[] = [];
  let token = continueToken;
  try {
    do {
      const page = await objects.deps.store.list(
        objects.hub,
        { resource: resourceKey(t), namespace: t.namespaced ? namespace : '' },
        { limit: limit ?? 1000, continueToken: token },
      );
      items.push(...page.items.filter((s) => selects(selection, s.object)));
      token = page.continueToken;
    } while (token && limit === undefined);
  } catch (e) {
    if (e instanceof BadContinueToken) throw new HubError(400, 'BadRequest', `invalid continue token: ${e.message}`);
    throw e;
  }
  return { items, continueToken: token };
}

async function list(objects: HubObjects, t: ResourceType, namespace: string | undefined, call: HubCall): Promise<HubResult> {
  const rawLimit = call.query.get('limit');
  const limit = rawLimit ? Number(rawLimit) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw badRequest(`limit must be a whole number, not ${rawLimit}`);
  // The list's resourceVersion is taken before the read: a watch from it sees every later change.
  const rv = nextRv(objects.deps.now());
  const { items, continueToken } = await selectAll(objects, t, namespace, call, limit || undefined, call.query.get('continue') ?? undefined);
  const listed = items.map((s) => objects.present(t, s.object));
  if (wantsTable(call.accept))
    return json(toTable(t, listed, { include: includeOf(call), resourceVersion: rv, continueToken, now: objects.deps.now().getTime() }));
  return json({
    kind: `${t.kind}List`,
    apiVersion: groupVersion(t),
    metadata: { resourceVersion: rv, ...(continueToken ? { continue: continueToken } : {}) },
    items: listed,
  });
}

/**
 * A watch: Table Storage has no change feed, so the hub polls its partition(s) for rows with a
 * newer resourceVersion (tombstones are DELETED events), a little behind the last one seen so a
 * write from a host whose clock lags is not missed, and sends each object's newest state once.
 * It ends after a bounded time; kubectl's reflectors (wait, delete) watch again.
 */
async function* watchEvents(
  objects: HubObjects,
  t: ResourceType,
  namespace: string | undefined,
  call: HubCall,
  settings: WatchSettings,
): AsyncGenerator<unknown> {
  const selection = selectionOf(t, call);
  const table = wantsTable(call.accept);
  const include = includeOf(call);
  // The client's timeoutSeconds, as kube-apiserver honours it; else a spread, so that watchers
  // started together do not all come back at once.
  const asked = Number(call.query.get('timeoutSeconds') ?? 0);
  const timeout = Number.isFinite(asked) && asked > 0 ? asked : settings.minSeconds * (1 + Math.random());
  const deadline = Date.now() + timeout * 1000;
  const now = () => objects.deps.now().getTime();
  const event = (type: string, o: KubeObject) => ({
    type,
    object: table
      ? {
          kind: 'Table',
          apiVersion: 'meta.k8s.io/v1',
          metadata: { resourceVersion: o.metadata.resourceVersion },
          columnDefinitions: null,
          rows: [rowOf(t, o, include, now())],
        }
      : o,
  });
  const requested = call.query.get('resourceVersion') ?? '';
  let start: string;
  const sent = new Map<string, string>();
  const id = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  if (requested === '' || requested === '0') {
    start = nextRv(objects.deps.now());
    for (const s of (await selectAll(objects, t, namespace, call)).items) {
      sent.set(id(s.object), s.rv);
      yield event('ADDED', objects.present(t, s.object));
    }
  } else {
    start = requested.padStart(16, '0');
    if (rvToMs(start) < now() - tombstoneRetentionMs) {
      yield {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${requested}`,
          reason: 'Expired',
          code: 410,
        },
      };
      return;
    }
  }
  const single = singleName(selection);
  const overlapMs = 2000;
  let highest = start;
  let lastBookmark = Date.now();
  let lastSent = Date.now();
  const bookmarks = call.query.get('allowWatchBookmarks') === 'true';
  // What the watch reads each poll, shared with the host's other watches of the same rows (watchPolls.ts).
  const pointRead = single !== undefined && (!t.namespaced || namespace !== undefined);
  const scope = { resource: resourceKey(t), namespace: t.namespaced ? namespace : '' };
  const scopeKey = watchScopeKey(objects.hub.table, scope.resource, scope.namespace ?? '', pointRead ? single! : null);
  const fetch = async (from: string): Promise<StoredObject[]> => {
    if (!pointRead) return objects.deps.store.changes(objects.hub, scope, from);
    const s = await objects.deps.store.get(objects.hub, keyOf(t, namespace, single!));
    return s && s.rv > from ? [s] : [];
  };
  while (Date.now() < deadline && !call.signal?.aborted) {
    const from = nextRvAt(Math.max(rvToMs(start), rvToMs(highest) - overlapMs));
    const changes = [...(await nextChanges(scopeKey, from, fetch, settings.pollMs, call.signal))];
    changes.sort((a, b) => (a.rv < b.rv ? -1 : a.rv > b.rv ? 1 : 0));
    const yielded = changes.length;
    for (const c of changes) {
      if (c.rv <= start) continue;
      const key = id(c.object);
      const before = sent.get(key);
      if (before !== undefined && c.rv <= before) continue;
      if (!selects(selection, c.object)) {
        // An object that stops matching leaves the watch as a deletion, as kube-apiserver sends it.
        if (before !== undefined && !c.deleted) {
          sent.delete(key);
          yield event('DELETED', objects.present(t, c.object));
        }
        continue;
      }
      if (c.rv > highest) highest = c.rv;
      if (c.deleted) {
        sent.delete(key);
        yield event('DELETED', objects.present(t, c.object));
      } else {
        const created = Date.parse(c.object.metadata.creationTimestamp ?? '') >= Math.floor(rvToMs(start) / 1000) * 1000 && before === undefined;
        sent.set(key, c.rv);
        yield event(created ? 'ADDED' : 'MODIFIED', objects.present(t, c.object));
      }
    }
    if (yielded) lastSent = Date.now();
    if (bookmarks && Date.now() - lastBookmark > 30_000) {
      lastBookmark = lastSent = Date.now();
      yield { type: 'BOOKMARK', object: { kind: t.kind, apiVersion: groupVersion(t), metadata: { resourceVersion: highest } } };
    }
    if (Date.now() - lastSent >= settings.keepAliveMs) {
      lastSent = Date.now();
      yield watchKeepAlive;
    }
  }
}
