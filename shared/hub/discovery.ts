// Discovery and OpenAPI documents (kubectl-hub D, F): aggregated discovery when kubectl asks for
// it, the legacy lists otherwise, and the minimal OpenAPI v3 that lets kubectl validate writes
// with fieldValidation=Strict. /openapi/v2 is not served (kubectl wants protobuf there).
import { createHash } from 'node:crypto';
import { builtInSchemas, schemaRef, schemaSource } from './builtinSchemas.js';
import { groupVersion, type ResourceType } from './kinds.js';
import { schemaFor } from './schemaOf.js';
import type { Schema } from './structural.js';

const verbs = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** The version the hub reports: kubectl's dispatcher runs the client matching the minor (kubectl-hub A). */
export const serverVersion = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-12-01T00:00:00Z',
  goVersion: 'go1.23.8',
  compiler: 'gc',
  platform: 'linux/amd64',
};

export const aggregatedContentType = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';
export const wantsAggregated = (accept: string | undefined) => /as=APIGroupDiscoveryList/i.test(accept ?? '') && /v=v2(;|,|$|\s)/i.test(accept ?? '');

function groups(types: readonly ResourceType[]) {
  const byGroup = new Map<string, Map<string, ResourceType[]>>();
  for (const t of types) {
    const versions = byGroup.get(t.group) ?? new Map<string, ResourceType[]>();
    byGroup.set(t.group, versions);
    versions.set(t.version, [...(versions.get(t.version) ?? []), t]);
  }
  return byGroup;
}

const resourceEntry = (t: ResourceType) => ({
  resource: t.plural,
  responseKind: { group: t.group, version: t.version, kind: t.kind },
  scope: t.namespaced ? 'Namespaced' : 'Cluster',
  singularResource: t.singular,
  verbs,
  ...(t.shortNames?.length ? { shortNames: t.shortNames } : {}),
  ...(t.categories?.length ? { categories: t.categories } : {}),
  ...(t.status || t.scale
    ? {
        subresources: [
          ...(t.status
            ? [{ subresource: 'status', responseKind: { group: t.group, version: t.version, kind: t.kind }, verbs: ['get', 'patch', 'update'] }]
            : []),
          // kubectl autoscale looks for it here before it builds a HorizontalPodAutoscaler.
          ...(t.scale
            ? [{ subresource: 'scale', responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] }]
            : []),
        ],
      }
    : {}),
});

/** `/api` (core: true) or `/apis` as an APIGroupDiscoveryList. */
export function aggregatedDiscovery(types: readonly ResourceType[], core: boolean) {
  const items = [...groups(types)]
    .filter(([g]) => (g === '') === core)
    .map(([group, versions]) => ({
      metadata: { name: group },
      versions: [...versions].map(([version, ts]) => ({ version, freshness: 'Current', resources: ts.map(resourceEntry) })),
    }));
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items };
}

export const apiVersions = (serverAddress: string) => ({
  kind: 'APIVersions',
  versions: ['v1'],
  serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
});

export function apiGroupList(types: readonly ResourceType[]) {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups(types)].filter(([g]) => g !== '').map(([name, versions]) => apiGroup(name, [...versions.keys()])),
  };
}

export function apiGroup(name: string, versions: string[]) {
  const list = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: list, preferredVersion: list[0] };
}

export function apiResourceList(types: readonly ResourceType[], group: string, version: string) {
  const ts = types.filter((t) => t.group === group && t.version === version);
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: ts.flatMap((t) => [
      {
        name: t.plural,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs,
        ...(t.shortNames?.length ? { shortNames: t.shortNames } : {}),
        ...(t.categories?.length ? { categories: t.categories } : {}),
      },
      ...(t.status ? [{ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] }] : []),
      ...(t.scale
        ? [
            {
              name: `${t.plural}/scale`,
              singularName: '',
              namespaced: t.namespaced,
              group: 'autoscaling',
              version: 'v1',
              kind: 'Scale',
              verbs: ['get', 'patch', 'update'],
            },
          ]
        : []),
    ]),
  };
}

const docPath = (gv: string) => (gv.includes('/') ? `apis/${gv}` : `api/${gv}`);

/** The component name of a custom or fleet kind's schema, as kube-apiserver names CRDs' (reversed group). */
const customKey = (t: ResourceType) => `${t.group.split('.').reverse().join('.')}.${t.version}.${t.kind}`;

/**
 * One group-version's OpenAPI v3 document: a PATCH operation per kind, with the fieldValidation
 * parameter kubectl looks for, and the kinds' schemas (what `kubectl explain` reads): a built-in
 * kind's from the official client's models, a custom resource's from its CRD, a fleet kind's in
 * outline.
 */
export async function openApiDocument(types: readonly ResourceType[], gv: string) {
  const catalog = await builtInSchemas();
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, Schema> = {};
  const roots: Record<string, Schema> = {};
  for (const t of types.filter((x) => groupVersion(x) === gv)) {
    const gvk = [{ group: t.group, version: t.version, kind: t.kind }];
    const builtIn = t.custom ? undefined : catalog.keyOf(t);
    if (builtIn) {
      Object.assign(schemas, catalog.closure([builtIn]));
      roots[builtIn] = { ...catalog.get(builtIn)!, 'x-kubernetes-group-version-kind': gvk };
    } else if (t.custom && t.schema) {
      const root = (await schemaFor(t))!.root;
      Object.assign(schemas, catalog.closure(['io.k8s.v1.ObjectMeta']));
      roots[customKey(t)] = { ...root, 'x-kubernetes-group-version-kind': gvk };
    } else {
      Object.assign(schemas, catalog.closure(['io.k8s.v1.ObjectMeta']));
      roots[customKey(t)] = {
        type: 'object',
        description: `${t.kind} is ${t.custom ? 'served from a CustomResourceDefinition without a schema' : "one of the fleet's kinds (KubeFleet's objects); see docs/hub.md"}.`,
        properties: {
          apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
          kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
          metadata: { allOf: [{ $ref: schemaRef('io.k8s.v1.ObjectMeta') }] },
          spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
        'x-kubernetes-group-version-kind': gvk,
      };
    }
    const base = `/${docPath(gv)}${t.namespaced ? '/namespaces/{namespace}' : ''}/${t.plural}/{name}`;
    const ref = { $ref: schemaRef(builtIn ?? customKey(t)) };
    paths[base] = {
      patch: {
        description: `partially update the specified ${t.kind}`,
        operationId: `patch${t.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': { group: t.group, version: t.version, kind: t.kind },
        parameters: [
          { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
        ],
        responses: { '200': { description: 'OK', content: { 'application/json': { schema: ref } } } },
      },
    };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Fleet Manager hub', version: serverVersion.gitVersion },
    paths,
    components: { schemas: { ...schemas, ...roots } },
  };
}

/**
 * The v3 root: every group-version with a hash of what its document is made from, so a changed
 * document (a new CRD, a changed schema) is fetched again and an unchanged one never (kubectl-hub E5).
 */
export function openApiRoot(types: readonly ResourceType[]) {
  const gvs = [...new Set(types.map(groupVersion))];
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of gvs) {
    const hash = createHash('sha256')
      .update(`${schemaSource}\n${JSON.stringify(types.filter((t) => groupVersion(t) === gv))}`)
      .digest('hex')
      .slice(0, 32)
      .toUpperCase();
    paths[docPath(gv)] = { serverRelativeURL: `/openapi/v3/${docPath(gv)}?hash=${hash}` };
  }
  return { paths };
}
