// What the hub does to objects: create, update, patch, apply, delete (finalizers, namespace and
// CRD cascades), get and list, each with Kubernetes' object semantics (uid, resourceVersion as an
// optimistic lock, generation for spec changes, creationTimestamp, deletionTimestamp).

import { randomUUID } from 'node:crypto';
import { allocateServiceAddresses, builtInErrors, defaultBuiltIn } from './builtins.js';
import { timestamp } from './conditions.js';
import { crdErrors, crdStatus, typesOfCrd } from './crds.js';
import { conditionEvents, recurred } from './events.js';
import { type ManagedEntry, recordUpdate, serverSideApply } from './fields.js';
import { crdType, eventType, groupVersion, type KubeObject, namespaceType, type ResourceType } from './kinds.js';
import { metadataErrors } from './meta.js';
import { hubTypes } from './networking.js';
import { jsonPatch, mergePatch, type PatchType, strategicMergePatch } from './patch.js';
import { schemaFor } from './schemaOf.js';
import { alreadyExists, conflict, HubError, invalid, notFound } from './status.js';
import type { HubRef, HubStore, ObjectKey, StoredObject } from './store.js';
import { HubWriteConflict } from './store.js';
import { walk } from './structural.js';

/** Kubernetes' usual object limit (etcd's 1.5 MiB): larger objects are refused with 413. */
export const maxObjectBytes = 1.5 * 1024 * 1024;

export interface HubDeps {
  store: HubStore;
  now: () => Date;
  /** The built-in kinds this API serves (default: a hub's); CRDs add theirs. */
  kinds?: readonly ResourceType[];
}

/** Namespaces every hub has, and that cannot be deleted (as kube-apiserver refuses). */
export const systemNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease', 'fleet-system'];
const undeletable = new Set(['default', 'kube-system', 'kube-public']);

// resourceVersions are microseconds since the epoch, made strictly increasing in this process
// (a hybrid clock): comparable across objects, so a watch can ask for what came after a list.
let lastRv = 0;
export function nextRv(now: Date): string {
  lastRv = Math.max(lastRv + 1, now.getTime() * 1000);
  return String(lastRv).padStart(16, '0');
}
export const rvToMs = (rv: string) => Number(rv) / 1000;

export const resourceKey = (t: Pick<ResourceType, 'group' | 'plural'>) => `${t.group || 'core'}:${t.plural}`;
export const keyOf = (t: ResourceType, namespace: string | undefined, name: string): ObjectKey => ({
  resource: resourceKey(t),
  namespace: t.namespaced ? (namespace ?? '') : '',
  name,
});

// Objects here are JSON (read from JSON, written as JSON), and a JSON round trip copies them in
// about half the time structuredClone takes.
const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Kinds whose objects carry no generation (no spec), as in kube-apiserver. */
const noGeneration = new Set(['ConfigMap', 'Secret', 'ServiceAccount', 'Event', 'Namespace']);

/** The part of an object whose change bumps generation. */
function specOf(t: ResourceType, o: KubeObject) {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return JSON.stringify(t.status ? rest : { ...rest, status: o.status });
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun: boolean;
  /** What to do with fields the kind's schema does not have (they are dropped unless Strict refuses them); none: Warn, as kube-apiserver. */
  fieldValidation?: FieldValidation;
  /** Where the write's warnings go (the HTTP layer sends them as Warning headers). */
  warnings?: string[];
  fieldManager?: string;
  /** Server-side apply: the field ownership it computed, instead of an Update entry. */
  managedFields?: ManagedEntry[];
  /** What is stored under the name, already read (null: nothing), so a create does not read it again. */
  existing?: StoredObject | null;
}

export class HubObjects {
  constructor(
    readonly deps: HubDeps,
    readonly hub: HubRef,
  ) {}

  private get store() {
    return this.deps.store;
  }

  private get kinds() {
    return this.deps.kinds ?? hubTypes;
  }

  // ---- resource types ----------------------------------------------------------------------

  /** The CRDs of this hub (each discovery request reads them: a new CRD is served at once). */
  async crds(): Promise<KubeObject[]> {
    return (await this.listAll(crdType, '')).map((s) => s.object);
  }

  /** Every live object of a kind (namespace undefined: in every namespace), read a page of 1,000 at a time. */
  /**
   * Holds `o` to its kind's schema (structural.ts): unknown fields are dropped, or refused when the
   * request asked for Strict, or warned of (Warn, the default); a custom resource's values are
   * checked and its defaults set. The fleet's own kinds are validated by their own rules.
   */
  private async conform(t: ResourceType, o: KubeObject, options: WriteOptions, how: 'write' | 'patch'): Promise<void> {
    const schema = await schemaFor(t);
    if (!schema) return;
    const { unknown, errors } = walk(o, schema.root, schema.resolve, { checkValues: Boolean(t.custom) });
    const mode = options.fieldValidation ?? 'Warn';
    if (unknown.length && mode === 'Strict') {
      const fields = unknown.map((f) => `unknown field "${f}"`).join(', ');
      throw new HubError(
        400,
        'BadRequest',
        how === 'patch'
          ? `strict decoding error: ${fields}`
          : `${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${fields}`,
      );
    }
    if (unknown.length && mode === 'Warn') options.warnings?.push(...unknown.map((f) => `unknown field "${f}"`));
    if (errors.length) throw invalid(t.kind, t.group, o.metadata?.name ?? '', errors);
  }

  /** Every Service of the hub (what a new one's addresses must differ from). */
  private async services(): Promise<KubeObject[]> {
    return (await this.listAll({ group: '', plural: 'services' })).map((s) => s.object);
  }

  async listAll(t: Pick<ResourceType, 'group' | 'plural'>, namespace?: string): Promise<StoredObject[]> {
    const all: StoredObject[] = [];
    let continueToken: string | undefined;
    do {
      const page = await this.store.list(this.hub, { resource: resourceKey(t), namespace }, { limit: 1000, continueToken });
      all.push(...page.items);
      continueToken = page.continueToken;
    } while (continueToken);
    return all;
  }

  async allTypes(): Promise<ResourceType[]> {
    return [...this.kinds, ...(await this.crds()).flatMap(typesOfCrd)];
  }

  /** The type served at group/version/plural, or undefined. */
  async typeAt(group: string, version: string, plural: string): Promise<ResourceType | undefined> {
    const builtIn = this.kinds.find((t) => t.group === group && t.version === version && t.plural === plural);
    if (builtIn || this.kinds.some((t) => t.group === group)) return builtIn;
    const crd = await this.store.get(this.hub, keyOf(crdType, undefined, `${plural}.${group}`));
    if (!crd || crd.deleted) return undefined;
    return typesOfCrd(crd.object).find((t) => t.version === version);
  }

  // ---- reads ---------------------------------------------------------------------------------

  async read(t: ResourceType, namespace: string | undefined, name: string): Promise<StoredObject | undefined> {
    const s = await this.store.get(this.hub, keyOf(t, namespace, name));
    return s && !s.deleted ? s : undefined;
  }

  async get(t: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject> {
    const s = await this.read(t, namespace, name);
    if (!s) throw notFound(t.plural, t.group, name);
    return this.present(t, s.object);
  }

  /** An object as served at the requested version (custom kinds are stored once for every version). */
  present(t: ResourceType, o: KubeObject): KubeObject {
    return { ...o, apiVersion: groupVersion(t), kind: t.kind };
  }

  // ---- writes --------------------------------------------------------------------------------

  private async namespaceFor(t: ResourceType, namespace: string | undefined, creating: boolean): Promise<void> {
    if (!t.namespaced) return;
    const ns = await this.read(namespaceType, undefined, namespace ?? '');
    if (!ns) throw notFound('namespaces', '', namespace ?? '');
    if (creating && ns.object.metadata.deletionTimestamp)
      throw new HubError(
        403,
        'Forbidden',
        `${t.plural} "${''}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
        {
          kind: t.plural,
          group: t.group,
        },
      );
  }

  private check(t: ResourceType, o: KubeObject, before?: KubeObject): void {
    const errors = metadataErrors(o, t.kind === 'Namespace' ? 'label' : 'subdomain');
    if (!t.custom) errors.push(...builtInErrors(t.kind, o, before));
    if (t.kind === 'CustomResourceDefinition') errors.push(...crdErrors(o, this.kinds));
    if (t.validate) errors.push(...t.validate(o));
    if (errors.length) throw invalid(t.kind, t.group, o.metadata.name ?? '', errors);
    if (JSON.stringify(o).length > maxObjectBytes)
      throw new HubError(413, 'RequestEntityTooLarge', `the object is larger than ${maxObjectBytes} bytes (1.5 MiB), the most a hub stores`);
  }

  /** Writes (or, dry run, only returns) an object; a lost race is a 409, as a stale resourceVersion is. */
  private async write(t: ResourceType, key: ObjectKey, o: KubeObject, previous: StoredObject | undefined, dryRun: boolean): Promise<KubeObject> {
    if (dryRun) return this.present(t, o);
    try {
      await this.store.put(this.hub, key, o, { previous });
    } catch (e) {
      if (e instanceof HubWriteConflict)
        throw previous && !previous.deleted ? conflict(t.plural, t.group, key.name) : alreadyExists(t.plural, t.group, key.name);
      throw e;
    }
    return this.present(t, o);
  }

  async create(t: ResourceType, namespace: string | undefined, body: KubeObject, options: WriteOptions): Promise<KubeObject> {
    const o = clone(body);
    o.metadata ??= {};
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = `${o.metadata.generateName}${randomUUID().replaceAll('-', '').slice(0, 5)}`;
    if (t.namespaced) o.metadata.namespace = namespace;
    else delete o.metadata.namespace;
    await this.conform(t, o, options, 'write');
    if (!t.custom) defaultBuiltIn(t.kind, o);
    this.check(t, o);
    await this.namespaceFor(t, namespace, true);
    if (!t.custom && t.kind === 'Service') allocateServiceAddresses(o, await this.services());
    const key = keyOf(t, namespace, o.metadata.name!);
    const existing = options.existing === undefined ? await this.store.get(this.hub, key) : (options.existing ?? undefined);
    if (existing && !existing.deleted) throw alreadyExists(t.plural, t.group, key.name);
    const now = this.deps.now();
    const at = timestamp(now);
    for (const f of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink'])
      delete o.metadata[f];
    o.apiVersion = groupVersion(t);
    o.kind = t.kind;
    // A status subresource's status is the server's and its writers' (via /status), not the creator's.
    if (t.status) delete o.status;
    if (t.kind === 'Namespace') {
      o.spec = { finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
    }
    if (t.kind === 'CustomResourceDefinition') o.status = crdStatus(o, at);
    const meta = o.metadata;
    o.metadata = {
      ...meta,
      uid: randomUUID(),
      resourceVersion: nextRv(now),
      ...(noGeneration.has(t.kind) ? {} : { generation: 1 }),
      creationTimestamp: at,
    };
    o.metadata.managedFields =
      options.managedFields ?? recordUpdate(undefined, o, undefined, { manager: options.fieldManager ?? 'unknown', apiVersion: groupVersion(t), time: at });
    return this.write(t, key, o, existing, options.dryRun);
  }

  /**
   * Replaces an object (PUT, and the end of every patch). `subresource: 'status'` takes only the
   * status; the main resource of a kind with a status subresource keeps the stored status.
   */
  async update(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    options: WriteOptions & {
      subresource?: 'status';
      current?: StoredObject;
      manager?: 'apply';
      patched?: boolean;
      /** `current` is a guess (HubStore.recent): a write proves it right, "unchanged" would not. */
      guessed?: boolean;
    },
  ): Promise<KubeObject> {
    const current = options.current ?? (await this.read(t, namespace, name));
    if (!current) throw notFound(t.plural, t.group, name);
    if (!isObj(body) || !isObj(body.metadata)) throw new HubError(400, 'BadRequest', 'the object has no metadata');
    if (body.metadata.name !== undefined && body.metadata.name !== name)
      throw new HubError(400, 'BadRequest', `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    if (t.namespaced && body.metadata.namespace !== undefined && body.metadata.namespace !== namespace)
      throw new HubError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    const wanted = body.metadata.resourceVersion;
    if (wanted !== undefined && wanted !== '' && wanted !== current.rv) throw conflict(t.plural, t.group, name);
    const before = current.object;
    let o: KubeObject;
    if (options.subresource === 'status') {
      // Only the status is new; the rest is before's, of which only metadata's own fields are set
      // below (a custom kind's spec is copied too: its schema's defaults are applied in place).
      const { status: _, ...rest } = before;
      o = { ...rest, metadata: { ...before.metadata }, status: clone(body.status) };
      if (t.custom && rest.spec !== undefined) o.spec = clone(rest.spec);
    } else {
      o = clone(body);
      o.metadata = { ...o.metadata };
      // (None stored: none kept, not a `status: undefined` that the schema would call a non-object.)
      if (t.status) {
        if (before.status === undefined) delete o.status;
        else o.status = clone(before.status);
      }
    }
    o.apiVersion = groupVersion(t);
    o.kind = t.kind;
    o.metadata.name = name;
    if (t.namespaced) o.metadata.namespace = namespace;
    else delete o.metadata.namespace;
    // What only the server sets stays as it was.
    for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'] as const) {
      if (before.metadata[f] === undefined) delete o.metadata[f];
      else o.metadata[f] = before.metadata[f] as never;
    }
    // (o's metadata is already a copy of before's: the status write changes none of it.)
    if (t.kind === 'Namespace') o.spec = before.spec;
    if (t.kind === 'CustomResourceDefinition') {
      const b = before.spec as Record<string, unknown>;
      const n = (o.spec ?? {}) as Record<string, unknown>;
      const names = (x: Record<string, unknown>) => (x.names as { plural?: string } | undefined)?.plural;
      if (b.group !== n.group || b.scope !== n.scope || names(b) !== names(n))
        throw invalid(t.kind, t.group, name, [{ field: 'spec', message: 'Invalid value: spec.group, spec.scope and spec.names.plural cannot change' }]);
    }
    await this.conform(t, o, options, options.patched ? 'patch' : 'write');
    if (!t.custom && options.subresource !== 'status') {
      defaultBuiltIn(t.kind, o, before);
      this.check(t, o, before);
      if (t.kind === 'Service')
        allocateServiceAddresses(
          o,
          (await this.services()).filter((s) => s.metadata.uid !== before.metadata.uid),
        );
    } else this.check(t, o);
    if (t.kind === 'CustomResourceDefinition' && options.subresource !== 'status') o.status = crdStatus(o, before.metadata.creationTimestamp ?? '');
    // Unchanged: nothing is written and the resourceVersion stays (as kube-apiserver does).
    const comparable = (x: KubeObject) => JSON.stringify({ ...x, metadata: { ...x.metadata, resourceVersion: undefined, managedFields: undefined } });
    if (options.manager !== 'apply' && comparable(o) === comparable({ ...before, apiVersion: o.apiVersion, kind: o.kind })) {
      if (options.guessed) throw new HubWriteConflict('unchanged from a guessed base: read it');
      o.metadata.resourceVersion = current.rv;
      o.metadata.managedFields = before.metadata.managedFields;
      return this.present(t, o);
    }
    const now = this.deps.now();
    const at = timestamp(now);
    if (!noGeneration.has(t.kind) && specOf(t, o) !== specOf(t, before)) o.metadata.generation = (before.metadata.generation ?? 0) + 1;
    o.metadata.resourceVersion = nextRv(now);
    if (options.manager !== 'apply') {
      o.metadata.managedFields = recordUpdate(before, o, before.metadata.managedFields as ManagedEntry[] | undefined, {
        manager: options.fieldManager ?? 'unknown',
        apiVersion: groupVersion(t),
        time: at,
        ...(options.subresource ? { subresource: options.subresource } : {}),
      });
    }
    const key = keyOf(t, namespace, name);
    // The last finalizer gone from an object being deleted: it goes.
    if (o.metadata.deletionTimestamp && !(o.metadata.finalizers ?? []).length) {
      if (!options.dryRun) await this.remove(t, key, o, current);
      return this.present(t, o);
    }
    const written = await this.write(t, key, o, current, options.dryRun);
    if (!options.dryRun && t.events) await this.recordEvents(t, before, o);
    return written;
  }

  /** The Events a write of a fleet kind calls for (events.ts); an Event that cannot be written does not undo the write. */
  private async recordEvents(t: ResourceType, before: KubeObject | undefined, after: KubeObject): Promise<void> {
    const now = this.deps.now();
    for (const event of conditionEvents(t, before, after, timestamp(now))) {
      const key = keyOf(eventType, event.metadata.namespace, event.metadata.name!);
      try {
        const stored = await this.store.get(this.hub, key);
        const live = stored && !stored.deleted ? stored : undefined;
        const o = live ? recurred(live.object, event) : event;
        o.metadata = live
          ? { ...live.object.metadata, resourceVersion: nextRv(now) }
          : { ...event.metadata, uid: randomUUID(), resourceVersion: nextRv(now), creationTimestamp: timestamp(now) };
        await this.store.put(this.hub, key, o, { previous: stored });
      } catch {
        // Lost a race with the same Event (another writer recorded it), or storage said no: an
        // Event is a note for describe, and the condition it tells of is in the object itself.
      }
    }
  }

  async patch(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    options: WriteOptions & { subresource?: 'status'; force?: boolean },
  ): Promise<{ object: KubeObject; created: boolean; before?: KubeObject }> {
    if (type === 'apply') return this.apply(t, namespace, name, patch, options);
    // As kube-apiserver does: a patch without a resourceVersion is applied to what is stored, so a
    // write that lands between its read and its write makes it read and apply again, not fail.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.patchOnce(t, namespace, name, type, patch, options, attempt);
      } catch (e) {
        const raced = e instanceof HubWriteConflict || (e instanceof HubError && e.code === 409 && e.reason === 'Conflict');
        if (!raced || attempt >= 5 || patchResourceVersion(patch) !== undefined) throw e;
      }
    }
  }

  private async patchOnce(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    type: Exclude<PatchType, 'apply'>,
    patch: unknown,
    options: WriteOptions & { subresource?: 'status'; force?: boolean },
    attempt: number,
  ): Promise<{ object: KubeObject; created: boolean; before: KubeObject }> {
    // The first attempt of a patch without a precondition starts from what this host last saw, if
    // recent: the conditional write fails when that is stale, and the retry reads.
    const guess =
      attempt === 1 && !options.dryRun && patchResourceVersion(patch) === undefined ? this.store.recent?.(this.hub, keyOf(t, namespace, name)) : undefined;
    const current = guess ?? (await this.read(t, namespace, name));
    if (!current) throw notFound(t.plural, t.group, name);
    const base = this.present(t, current.object);
    let next: unknown;
    if (type === 'json') next = jsonPatch(base, patch);
    else if (type === 'merge') next = mergePatch(base, patch);
    else {
      if (t.custom)
        throw new HubError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        );
      next = strategicMergePatch(base, patch);
    }
    if (!isObj(next) || !isObj(next.metadata))
      throw invalid(t.kind, t.group, name, [{ field: 'metadata', message: 'Required value: the patch removed metadata', reason: 'FieldValueRequired' }]);
    // A resourceVersion in the patch is a precondition; otherwise the patch applies to what was read.
    const patched = next as KubeObject;
    patched.metadata.resourceVersion = patchResourceVersion(patch) ?? current.rv;
    return {
      object: await this.update(t, namespace, name, patched, { ...options, current, patched: true, guessed: guess !== undefined }),
      created: false,
      before: base,
    };
  }

  private async apply(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    config: unknown,
    options: WriteOptions & { subresource?: 'status'; force?: boolean },
  ): Promise<{ object: KubeObject; created: boolean }> {
    if (!options.fieldManager) throw new HubError(400, 'BadRequest', 'PATCH, application/apply-patch+yaml: fieldManager is required for apply requests');
    if (!isObj(config)) throw new HubError(400, 'BadRequest', 'the applied configuration must be an object');
    const c = config as KubeObject;
    if (c.apiVersion !== groupVersion(t) || c.kind !== t.kind)
      throw new HubError(
        400,
        'BadRequest',
        `the applied configuration is ${c.apiVersion ?? '(no apiVersion)'}, Kind=${c.kind ?? '(no kind)'}; this URL serves ${groupVersion(t)}, Kind=${t.kind}`,
      );
    c.metadata ??= {};
    if (c.metadata.name !== undefined && c.metadata.name !== name)
      throw new HubError(400, 'BadRequest', `the name of the object (${c.metadata.name}) does not match the name on the URL (${name})`);
    const stored = await this.store.get(this.hub, keyOf(t, namespace, name));
    const current = stored && !stored.deleted ? stored : undefined;
    const now = this.deps.now();
    const at = timestamp(now);
    const { object, managedFields } = serverSideApply(
      current ? (this.present(t, current.object) as Record<string, unknown>) : undefined,
      c as Record<string, unknown>,
      {
        manager: options.fieldManager,
        force: options.force ?? false,
        apiVersion: groupVersion(t),
        time: at,
        plural: t.plural,
        group: t.group,
        name,
        ...(options.subresource ? { subresource: options.subresource } : {}),
      },
    );
    const o = object as KubeObject;
    o.metadata = { ...(o.metadata ?? {}), name };
    if (!current) {
      return { object: await this.create(t, namespace, o, { ...options, managedFields, existing: stored ?? null }), created: true };
    }
    o.metadata.resourceVersion = current.rv;
    o.metadata.managedFields = managedFields;
    return { object: await this.update(t, namespace, name, o, { ...options, current, manager: 'apply', patched: true }), created: false };
  }

  // ---- delete --------------------------------------------------------------------------------

  /** Writes a tombstone, and finishes what a deletion sets off (a CRD's objects; a namespace whose last object this was). */
  private async remove(t: ResourceType, key: ObjectKey, o: KubeObject, current: StoredObject): Promise<void> {
    const gone = { ...o, metadata: { ...o.metadata, resourceVersion: nextRv(this.deps.now()) } };
    try {
      await this.store.tombstone(this.hub, key, gone, current);
    } catch (e) {
      if (e instanceof HubWriteConflict) throw conflict(t.plural, t.group, key.name);
      throw e;
    }
    // Tombstones older than watches may ask for are purged a few at a time by the deletes that follow.
    await this.store.purge(this.hub, { resource: key.resource, namespace: key.namespace }, nextRvAt(this.deps.now().getTime() - tombstoneRetentionMs), 10);
    if (t.namespaced) {
      const ns = await this.read(namespaceType, undefined, key.namespace);
      if (ns?.object.metadata.deletionTimestamp) await this.finishNamespace(ns);
    }
  }

  async delete(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    options: { dryRun: boolean; preconditions?: { uid?: string; resourceVersion?: string } },
  ): Promise<{ object: KubeObject; gone: boolean }> {
    const current = await this.read(t, namespace, name);
    if (!current) throw notFound(t.plural, t.group, name);
    const p = options.preconditions;
    if (p?.uid && p.uid !== current.object.metadata.uid)
      throw conflict(t.plural, t.group, name, `Precondition failed: UID in precondition: ${p.uid}, UID in object meta: ${current.object.metadata.uid}`);
    if (p?.resourceVersion && p.resourceVersion !== current.rv)
      throw conflict(
        t.plural,
        t.group,
        name,
        `Precondition failed: ResourceVersion in precondition: ${p.resourceVersion}, ResourceVersion in object meta: ${current.rv}`,
      );
    if (t.kind === 'Namespace' && undeletable.has(name))
      throw new HubError(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`, { name, kind: 'namespaces' });
    const o = clone(current.object);
    const key = keyOf(t, namespace, name);
    const pending = (o.metadata.finalizers ?? []).length > 0 || t.kind === 'Namespace';
    if (!pending) {
      if (!options.dryRun) await this.remove(t, key, o, current);
      if (t.kind === 'CustomResourceDefinition' && !options.dryRun) await this.deleteCustomObjects(o);
      return { object: this.present(t, o), gone: true };
    }
    if (options.dryRun) return { object: this.present(t, o), gone: false };
    if (!o.metadata.deletionTimestamp) {
      const now = this.deps.now();
      o.metadata.deletionTimestamp = timestamp(now);
      o.metadata.deletionGracePeriodSeconds = 0;
      o.metadata.resourceVersion = nextRv(now);
      if (t.kind === 'Namespace') o.status = { ...(isObj(o.status) ? o.status : {}), phase: 'Terminating' };
      await this.write(t, key, o, current, false);
    }
    if (t.kind === 'Namespace') {
      const done = await this.emptyNamespace(name);
      if (done) return { object: this.present(t, o), gone: true };
    }
    return { object: this.present(t, o), gone: false };
  }

  /** A CRD's objects go with it. */
  private async deleteCustomObjects(crd: KubeObject): Promise<void> {
    const [t] = typesOfCrd({ ...crd, metadata: { ...crd.metadata, deletionTimestamp: undefined } });
    if (!t) return;
    for (;;) {
      const page = await this.store.list(this.hub, { resource: resourceKey(t) }, { limit: 100 });
      if (page.items.length === 0) return;
      await Promise.all(
        page.items.map((s) =>
          this.store
            .tombstone(
              this.hub,
              keyOf(t, s.object.metadata.namespace, s.object.metadata.name!),
              { ...s.object, metadata: { ...s.object.metadata, resourceVersion: nextRv(this.deps.now()) } },
              s,
            )
            .catch(() => undefined),
        ),
      );
    }
  }

  /** Deletes what a terminating namespace holds; true when the namespace itself is gone. */
  private async emptyNamespace(namespace: string): Promise<boolean> {
    const types = (await this.allTypes()).filter((t) => t.namespaced);
    const seen = new Set<string>();
    for (const t of types) {
      if (seen.has(resourceKey(t))) continue;
      seen.add(resourceKey(t));
      for (;;) {
        const page = await this.store.list(this.hub, { resource: resourceKey(t), namespace }, { limit: 100 });
        const deletable = page.items.filter((s) => !(s.object.metadata.finalizers ?? []).length);
        for (const s of page.items.filter((x) => (x.object.metadata.finalizers ?? []).length && !x.object.metadata.deletionTimestamp)) {
          const now = this.deps.now();
          const marked = {
            ...s.object,
            metadata: {
              ...s.object.metadata,
              deletionTimestamp: timestamp(now),
              deletionGracePeriodSeconds: 0,
              resourceVersion: nextRv(now),
            },
          };
          await this.store.put(this.hub, keyOf(t, namespace, s.object.metadata.name!), marked, { previous: s }).catch(() => undefined);
        }
        await Promise.all(
          deletable.map((s) =>
            this.store
              .tombstone(
                this.hub,
                keyOf(t, namespace, s.object.metadata.name!),
                { ...s.object, metadata: { ...s.object.metadata, resourceVersion: nextRv(this.deps.now()) } },
                s,
              )
              .catch(() => undefined),
          ),
        );
        if (deletable.length === 0 || !page.continueToken) break;
      }
    }
    const ns = await this.read(namespaceType, undefined, namespace);
    return ns ? this.finishNamespace(ns) : true;
  }

  /** A terminating namespace with nothing left in it goes. */
  private async finishNamespace(ns: StoredObject): Promise<boolean> {
    const name = ns.object.metadata.name!;
    const types = (await this.allTypes()).filter((t) => t.namespaced);
    for (const key of new Set(types.map(resourceKey))) {
      const page = await this.store.list(this.hub, { resource: key, namespace: name }, { limit: 1 });
      if (page.items.length) return false;
    }
    try {
      await this.store.tombstone(
        this.hub,
        keyOf(namespaceType, undefined, name),
        { ...ns.object, metadata: { ...ns.object.metadata, resourceVersion: nextRv(this.deps.now()) } },
        ns,
      );
    } catch (e) {
      if (!(e instanceof HubWriteConflict)) throw e;
    }
    return true;
  }

  /** A new API's namespaces (a hub's, unless others are named). */
  async bootstrap(namespaces: readonly string[] = systemNamespaces): Promise<void> {
    await Promise.all(
      namespaces.map(async (name) => {
        if (await this.read(namespaceType, undefined, name)) return;
        await this.create(
          namespaceType,
          undefined,
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
          { dryRun: false, fieldManager: 'fleet-manager' },
        ).catch((e) => {
          if (!(e instanceof HubError && e.code === 409)) throw e;
        });
      }),
    );
  }
}

/** How long deletions stay visible to watches (a watch from an older resourceVersion is told 410 Expired). */
/** A merge patch's metadata.resourceVersion: a precondition (JSON patches carry none this way). */
function patchResourceVersion(patch: unknown): string | undefined {
  return isObj(patch) && isObj((patch as { metadata?: unknown }).metadata)
    ? (patch as { metadata: { resourceVersion?: string } }).metadata.resourceVersion
    : undefined;
}

export const tombstoneRetentionMs = 10 * 60 * 1000;
export const nextRvAt = (ms: number) => String(Math.floor(ms * 1000)).padStart(16, '0');
