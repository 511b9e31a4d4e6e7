// What a placement's resourceSelectors select on the hub, as the manifests members get: a
// Namespace brings what is in it (selectionScope NamespaceWithResources, the default), cluster-scoped
// kinds by name or labels. The hub's own objects never leave it: the fleet's kinds, the fleet-member
// and kube-* namespaces, overrides, events, service account tokens. Server-set fields (uid,
// resourceVersion, status, managedFields, kubectl's last-applied annotation) are dropped, so a
// snapshot changes only when what a user wrote does.
import { createHash } from 'node:crypto';
import type { Manifest } from '../domain/placement/overrides.js';
import { matchesSelector } from '../domain/placement/selectors.js';
import type { ResourceSelector } from '../domain/placement/spec.js';
import { groupVersion, type KubeObject, type ResourceType } from '../hub/kinds.js';
import { networkingGroup, stagedNetworkingKinds } from '../hub/networking.js';
import { type HubObjects, resourceKey } from '../hub/objects.js';

const hubOnlyGroups = new Set(['cluster.kubernetes-fleet.io', 'placement.kubernetes-fleet.io', 'networking.fleet.azure.com']);
const hubOnlyKinds = new Set(['Event', 'ResourceOverride']);
const reservedNamespace = (name: string) => name.startsWith('kube-') || name.startsWith('fleet-');

/** A kind that never leaves the hub (the fleet's own; of the networking kinds, all but those staged for members). */
const hubOnly = (t: Pick<ResourceType, 'group' | 'kind'>) =>
  (hubOnlyGroups.has(t.group) && !(t.group === networkingGroup && stagedNetworkingKinds.has(t.kind))) || hubOnlyKinds.has(t.kind);

/** Whether an object of this type may go to members at all. */
export function propagatable(t: ResourceType, o: KubeObject): boolean {
  if (hubOnly(t)) return false;
  const ns = t.kind === 'Namespace' ? o.metadata.name : o.metadata.namespace;
  if (ns && reservedNamespace(ns)) return false;
  if (t.kind === 'Secret' && o.type === 'kubernetes.io/service-account-token') return false;
  if (t.kind === 'ServiceAccount' && o.metadata.name === 'default') return false;
  if (t.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt') return false;
  return true;
}

const droppedAnnotations = ['kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision'];

/** The object as a member gets it: what its writer set, none of what the hub set. */
export function manifestOf(t: ResourceType, o: KubeObject): Manifest {
  const { metadata, status: _status, apiVersion: _a, kind: _k, ...rest } = o;
  const annotations = Object.fromEntries(Object.entries(metadata.annotations ?? {}).filter(([k]) => !droppedAnnotations.includes(k)));
  const body: Record<string, unknown> = { ...rest };
  // A Namespace's spec is its finalizers, which the member's API server sets itself.
  if (t.kind === 'Namespace') delete body.spec;
  // A Service's cluster address is the hub's: each member allocates its own (KubeFleet drops it
  // too). A headless Service ("None") stays headless.
  if (t.kind === 'Service' && body.spec && typeof body.spec === 'object') {
    const { clusterIP, clusterIPs, ...spec } = body.spec as Record<string, unknown>;
    body.spec = clusterIP === 'None' ? { ...spec, clusterIP, clusterIPs } : spec;
  }
  return {
    apiVersion: groupVersion(t),
    kind: t.kind,
    metadata: {
      name: metadata.name,
      ...(metadata.namespace ? { namespace: metadata.namespace } : {}),
      ...(metadata.labels && Object.keys(metadata.labels).length ? { labels: metadata.labels } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
    },
    ...body,
  };
}

// Applied in this order on a member: what others live in first.
const applyOrder = [
  'Namespace',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleBinding',
  'ServiceAccount',
  'Secret',
  'ConfigMap',
  'Role',
  'RoleBinding',
  'Service',
];
const orderOf = (m: Manifest) => {
  const i = applyOrder.indexOf(m.kind ?? '');
  return i < 0 ? applyOrder.length : i;
};
const idOf = (m: Manifest) => `${m.metadata?.namespace ?? ''}/${m.apiVersion}/${m.kind}/${m.metadata?.name}`;

export interface Selection {
  manifests: Manifest[];
  /** A selector that cannot be served, with why (the placement is not scheduled while one is). */
  problems: string[];
}

const selects = (s: ResourceSelector, o: KubeObject) =>
  s.name !== undefined ? o.metadata.name === s.name : matchesSelector(s.labelSelector, o.metadata.labels);

export async function selectResources(objects: HubObjects, selectors: ResourceSelector[]): Promise<Selection> {
  const types = await objects.allTypes();
  const problems: string[] = [];
  const found = new Map<string, Manifest>();
  const add = (t: ResourceType, o: KubeObject) => {
    if (!o.metadata.deletionTimestamp && propagatable(t, o)) found.set(idOf(manifestOf(t, o)), manifestOf(t, o));
  };
  for (const [i, s] of selectors.entries()) {
    const t = types.find((x) => x.group === s.group && x.version === s.version && x.kind === s.kind);
    const where = `spec.resourceSelectors[${i}]`;
    if (!t) {
      problems.push(`${where}: the hub serves no kind ${s.kind} in ${s.group ? `${s.group}/` : ''}${s.version}`);
      continue;
    }
    if (t.namespaced) {
      problems.push(`${where}: ${s.kind} is namespaced; a ClusterResourcePlacement selects cluster-scoped kinds (select its Namespace to place what is in it)`);
      continue;
    }
    if (hubOnlyGroups.has(t.group)) {
      problems.push(`${where}: ${s.kind} is one of the fleet's own kinds, which stay on the hub`);
      continue;
    }
    const picked = (await objects.listAll(t)).map((x) => x.object).filter((o) => selects(s, o));
    for (const o of picked) add(t, o);
    if (t.kind !== 'Namespace' || s.selectionScope === 'NamespaceOnly') continue;
    const keys = new Set<string>();
    // One type per stored resource (a CRD serves one per version, stored once).
    const inside = types.filter((x) => x.namespaced && !hubOnly(x) && !keys.has(resourceKey(x)) && keys.add(resourceKey(x)));
    for (const ns of picked.filter((o) => propagatable(t, o))) {
      for (const x of inside) for (const { object } of await objects.listAll(x, ns.metadata.name)) add(x, object);
    }
  }
  const manifests = [...found.values()].sort((a, b) => orderOf(a) - orderOf(b) || (idOf(a) < idOf(b) ? -1 : 1));
  return { manifests, problems };
}

export const hashOf = (v: unknown) => `sha256:${createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 32)}`;

/** The identifiers of selected resources, as status.selectedResources lists them. */
export const resourceIdOf = (m: Manifest) => {
  const api = m.apiVersion ?? '';
  const i = api.lastIndexOf('/');
  return {
    group: i < 0 ? '' : api.slice(0, i),
    version: api.slice(i + 1),
    kind: m.kind ?? '',
    name: m.metadata?.name ?? '',
    ...(m.metadata?.namespace ? { namespace: m.metadata.namespace } : {}),
  };
};
