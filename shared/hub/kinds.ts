// The resource types a hub serves: the built-in kinds kubectl knows, the fleet's own kinds, and
// (built from CustomResourceDefinitions at request time) custom ones. Plain data: discovery,
// routing, printing and patching all read it.
import { parseOverrideSpec, parsePlacementSpec } from '../domain/placement/spec.js';
import type { Schema } from './structural.js';

export interface Column {
  name: string;
  type: 'string' | 'integer' | 'date' | 'number' | 'boolean';
  /** Shown only with -o wide. */
  wide?: boolean;
  format?: string;
  description?: string;
  /** The cell, from the object (Age is added for every kind). */
  cell: (o: KubeObject) => unknown;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  namespaced: boolean;
  /** Has a status subresource: the main resource ignores status, /status ignores the rest. */
  status: boolean;
  /** Has a scale subresource (autoscaling/v1 Scale over spec.replicas): kubectl scale uses it. */
  scale?: boolean;
  categories?: string[];
  columns?: Column[];
  /** The component whose Events record this kind's condition changes (kubectl describe shows them); none: no Events. */
  events?: string;
  /** A custom resource's schema: its CRD version's openAPIV3Schema. */
  schema?: Schema;
  /** Served from a CustomResourceDefinition (merge patch, not strategic, as kubectl sends). */
  custom?: boolean;
  /** The fleet's kinds and CRDs are validated structurally (an object at spec, not a string, and so on). */
  validate?: (o: KubeObject) => FieldError[];
}

export interface FieldError {
  field: string;
  message: string;
  reason?: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueTooLong';
}

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
};

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: unknown[];
  managedFields?: ManagedFieldsEntry[];
  [field: string]: unknown;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

export const groupVersion = (t: Pick<ResourceType, 'group' | 'version'>) => (t.group ? `${t.group}/${t.version}` : t.version);

const get = (o: unknown, ...path: (string | number)[]): unknown => {
  let v: unknown = o;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
};
const count = (v: unknown) => (v && typeof v === 'object' ? Object.keys(v).length : 0);
const conditionStatus = (o: KubeObject, type: string) =>
  ((get(o, 'status', 'conditions') as { type?: string; status?: string }[] | undefined) ?? []).find((c) => c.type === type)?.status;
const ready = (have: unknown, want: unknown) => `${Number(have ?? 0)}/${Number(want ?? 0)}`;

/** The built-in kinds: what `kubectl api-resources` on AKS lists for them, with their printer columns. */
const builtIn: ResourceType[] = [
  {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    singular: 'namespace',
    shortNames: ['ns'],
    namespaced: false,
    status: true,
    columns: [{ name: 'Status', type: 'string', cell: (o) => get(o, 'status', 'phase') ?? 'Active' }],
  },
  {
    group: '',
    version: 'v1',
    kind: 'ConfigMap',
    plural: 'configmaps',
    singular: 'configmap',
    shortNames: ['cm'],
    namespaced: true,
    status: false,
    columns: [{ name: 'Data', type: 'integer', cell: (o) => count(o.data) + count(o.binaryData) }],
  },
  {
    group: '',
    version: 'v1',
    kind: 'Secret',
    plural: 'secrets',
    singular: 'secret',
    namespaced: true,
    status: false,
    columns: [
      { name: 'Type', type: 'string', cell: (o) => o.type ?? 'Opaque' },
      { name: 'Data', type: 'integer', cell: (o) => count(o.data) + count(o.stringData) },
    ],
  },
  {
    group: '',
    version: 'v1',
    kind: 'Service',
    plural: 'services',
    singular: 'service',
    shortNames: ['svc'],
    namespaced: true,
    status: true,
    categories: ['all'],
    columns: [
      { name: 'Type', type: 'string', cell: (o) => get(o, 'spec', 'type') ?? 'ClusterIP' },
      { name: 'Cluster-IP', type: 'string', cell: (o) => get(o, 'spec', 'clusterIP') ?? '<none>' },
      {
        name: 'External-IP',
        type: 'string',
        cell: (o) =>
          ((get(o, 'status', 'loadBalancer', 'ingress') as { ip?: string }[] | undefined) ?? []).map((i) => i.ip).join(',') ||
          (get(o, 'spec', 'type') === 'LoadBalancer' ? '<pending>' : '<none>'),
      },
      {
        name: 'Port(s)',
        type: 'string',
        cell: (o) =>
          // port:nodePort/protocol where a node port is allocated (NodePort and LoadBalancer), as kubectl shows.
          ((get(o, 'spec', 'ports') as { port?: number; nodePort?: number; protocol?: string }[] | undefined) ?? [])
            .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`)
            .join(',') || '<none>',
      },
    ],
  },
  {
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    singular: 'serviceaccount',
    shortNames: ['sa'],
    namespaced: true,
    status: false,
  },
  {
    group: '',
    version: 'v1',
    kind: 'ResourceQuota',
    plural: 'resourcequotas',
    singular: 'resourcequota',
    shortNames: ['quota'],
    namespaced: true,
    status: true,
  },
  { group: '', version: 'v1', kind: 'LimitRange', plural: 'limitranges', singular: 'limitrange', shortNames: ['limits'], namespaced: true, status: false },
  {
    group: '',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    singular: 'event',
    shortNames: ['ev'],
    namespaced: true,
    status: false,
    columns: [
      { name: 'Type', type: 'string', cell: (o) => o.type ?? '' },
      { name: 'Reason', type: 'string', cell: (o) => o.reason ?? '' },
      {
        name: 'Object',
        type: 'string',
        cell: (o) => `${String(get(o, 'involvedObject', 'kind') ?? '').toLowerCase()}/${get(o, 'involvedObject', 'name') ?? ''}`,
      },
      { name: 'Message', type: 'string', cell: (o) => o.message ?? '' },
    ],
  },
  ...(['Deployment', 'StatefulSet', 'DaemonSet'] as const).map(
    (kind): ResourceType => ({
      group: 'apps',
      version: 'v1',
      kind,
      plural: `${kind.toLowerCase()}s`,
      singular: kind.toLowerCase(),
      shortNames: [{ Deployment: 'deploy', StatefulSet: 'sts', DaemonSet: 'ds' }[kind]],
      namespaced: true,
      status: true,
      scale: kind !== 'DaemonSet',
      categories: ['all'],
      columns:
        kind === 'DaemonSet'
          ? [
              { name: 'Desired', type: 'integer', cell: (o) => get(o, 'status', 'desiredNumberScheduled') ?? 0 },
              { name: 'Current', type: 'integer', cell: (o) => get(o, 'status', 'currentNumberScheduled') ?? 0 },
              { name: 'Ready', type: 'integer', cell: (o) => get(o, 'status', 'numberReady') ?? 0 },
              { name: 'Available', type: 'integer', cell: (o) => get(o, 'status', 'numberAvailable') ?? 0 },
            ]
          : [
              { name: 'Ready', type: 'string', cell: (o) => ready(get(o, 'status', 'readyReplicas'), get(o, 'spec', 'replicas') ?? 1) },
              ...(kind === 'Deployment'
                ? [
                    { name: 'Up-to-date', type: 'integer' as const, cell: (o: KubeObject) => get(o, 'status', 'updatedReplicas') ?? 0 },
                    { name: 'Available', type: 'integer' as const, cell: (o: KubeObject) => get(o, 'status', 'availableReplicas') ?? 0 },
                  ]
                : []),
            ],
    }),
  ),
  {
    group: 'batch',
    version: 'v1',
    kind: 'Job',
    plural: 'jobs',
    singular: 'job',
    namespaced: true,
    status: true,
    categories: ['all'],
    columns: [
      {
        name: 'Status',
        type: 'string',
        cell: (o) => (conditionStatus(o, 'Complete') === 'True' ? 'Complete' : conditionStatus(o, 'Failed') === 'True' ? 'Failed' : 'Running'),
      },
      { name: 'Completions', type: 'string', cell: (o) => ready(get(o, 'status', 'succeeded'), get(o, 'spec', 'completions') ?? 1) },
    ],
  },
  {
    group: 'batch',
    version: 'v1',
    kind: 'CronJob',
    plural: 'cronjobs',
    singular: 'cronjob',
    shortNames: ['cj'],
    namespaced: true,
    status: true,
    categories: ['all'],
    columns: [
      { name: 'Schedule', type: 'string', cell: (o) => get(o, 'spec', 'schedule') ?? '' },
      { name: 'Suspend', type: 'boolean', cell: (o) => Boolean(get(o, 'spec', 'suspend')) },
    ],
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'Ingress',
    plural: 'ingresses',
    singular: 'ingress',
    shortNames: ['ing'],
    namespaced: true,
    status: true,
    columns: [
      { name: 'Class', type: 'string', cell: (o) => get(o, 'spec', 'ingressClassName') ?? '<none>' },
      {
        name: 'Hosts',
        type: 'string',
        cell: (o) => ((get(o, 'spec', 'rules') as { host?: string }[] | undefined) ?? []).map((r) => r.host ?? '*').join(',') || '*',
      },
    ],
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    singular: 'networkpolicy',
    shortNames: ['netpol'],
    namespaced: true,
    status: false,
  },
  {
    group: 'policy',
    version: 'v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    singular: 'poddisruptionbudget',
    shortNames: ['pdb'],
    namespaced: true,
    status: true,
  },
  {
    group: 'autoscaling',
    version: 'v2',
    kind: 'HorizontalPodAutoscaler',
    plural: 'horizontalpodautoscalers',
    singular: 'horizontalpodautoscaler',
    shortNames: ['hpa'],
    namespaced: true,
    status: true,
    categories: ['all'],
  },
  ...(['Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding'] as const).map(
    (kind): ResourceType => ({
      group: 'rbac.authorization.k8s.io',
      version: 'v1',
      kind,
      plural: `${kind.toLowerCase()}s`,
      singular: kind.toLowerCase(),
      namespaced: !kind.startsWith('Cluster'),
      status: false,
    }),
  ),
  {
    group: 'scheduling.k8s.io',
    version: 'v1',
    kind: 'PriorityClass',
    plural: 'priorityclasses',
    singular: 'priorityclass',
    shortNames: ['pc'],
    namespaced: false,
    status: false,
    columns: [
      { name: 'Value', type: 'integer', cell: (o) => o.value ?? 0 },
      { name: 'Global-Default', type: 'boolean', cell: (o) => o.globalDefault ?? false },
    ],
  },
  {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    singular: 'customresourcedefinition',
    shortNames: ['crd', 'crds'],
    namespaced: false,
    status: true,
    columns: [{ name: 'Created At', type: 'date', cell: (o) => o.metadata.creationTimestamp }],
  },
];

const isObject = (v: unknown) => v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v));
/** Structural checks shared by the fleet's kinds: what a CRD's openAPIV3Schema would refuse first. */
function structural(fields: Record<string, 'object' | 'array' | 'string' | 'integer'>) {
  return (o: KubeObject): FieldError[] => {
    const errors: FieldError[] = [];
    for (const [path, type] of Object.entries(fields)) {
      const v = get(o, ...path.split('.'));
      if (v === undefined) continue;
      const ok =
        type === 'object'
          ? !isObject(v)
          : type === 'array'
            ? Array.isArray(v)
            : type === 'string'
              ? typeof v === 'string'
              : typeof v === 'number' && Number.isInteger(v);
      if (!ok) errors.push({ field: path, message: `Invalid value: ${JSON.stringify(v).slice(0, 100)}: must be of type ${type}`, reason: 'FieldValueInvalid' });
    }
    return errors;
  };
}

const since = (o: KubeObject, ...path: string[]) => get(o, ...path);

/** The fleet's own kinds, as KubeFleet's CRDs define them (anchors §2–3). */
const fleetKinds: ResourceType[] = [
  {
    group: 'cluster.kubernetes-fleet.io',
    version: 'v1',
    kind: 'MemberCluster',
    plural: 'memberclusters',
    singular: 'membercluster',
    events: 'fleet-member-controller',
    shortNames: ['cluster'],
    namespaced: false,
    status: true,
    categories: ['fleet', 'fleet-cluster'],
    columns: [
      { name: 'Joined', type: 'string', cell: (o) => conditionStatus(o, 'Joined') ?? '' },
      { name: 'Node-Count', type: 'string', cell: (o) => since(o, 'status', 'properties', 'kubernetes-fleet.io/node-count', 'value') ?? '' },
      {
        name: 'Member-Agent-Last-Seen',
        type: 'date',
        wide: true,
        cell: (o) => ((since(o, 'status', 'agentStatus') as { lastReceivedHeartbeat?: string }[] | undefined) ?? [])[0]?.lastReceivedHeartbeat ?? '',
      },
      { name: 'Available-CPU', type: 'string', wide: true, cell: (o) => since(o, 'status', 'resourceUsage', 'available', 'cpu') ?? '' },
      { name: 'Available-Memory', type: 'string', wide: true, cell: (o) => since(o, 'status', 'resourceUsage', 'available', 'memory') ?? '' },
      { name: 'Allocatable-CPU', type: 'string', wide: true, cell: (o) => since(o, 'status', 'resourceUsage', 'allocatable', 'cpu') ?? '' },
      { name: 'Allocatable-Memory', type: 'string', wide: true, cell: (o) => since(o, 'status', 'resourceUsage', 'allocatable', 'memory') ?? '' },
    ],
    validate: structural({
      spec: 'object',
      'spec.identity': 'object',
      'spec.identity.kind': 'string',
      'spec.identity.name': 'string',
      'spec.heartbeatPeriodSeconds': 'integer',
      'spec.taints': 'array',
    }),
  },
  {
    group: 'cluster.kubernetes-fleet.io',
    version: 'v1',
    kind: 'InternalMemberCluster',
    plural: 'internalmemberclusters',
    singular: 'internalmembercluster',
    shortNames: ['imc'],
    namespaced: true,
    status: true,
    categories: ['fleet', 'fleet-cluster'],
    columns: [{ name: 'State', type: 'string', cell: (o) => since(o, 'spec', 'state') ?? '' }],
    validate: (o) => {
      const errors = structural({ spec: 'object', 'spec.heartbeatPeriodSeconds': 'integer' })(o);
      const state = since(o, 'spec', 'state');
      if (state !== undefined && state !== 'Join' && state !== 'Leave')
        errors.push({
          field: 'spec.state',
          message: `Unsupported value: ${JSON.stringify(state)}: supported values: "Join", "Leave"`,
          reason: 'FieldValueNotSupported',
        });
      return errors;
    },
  },
  {
    group: 'placement.kubernetes-fleet.io',
    version: 'v1',
    kind: 'ClusterResourcePlacement',
    plural: 'clusterresourceplacements',
    singular: 'clusterresourceplacement',
    events: 'fleet-placement-controller',
    shortNames: ['crp'],
    namespaced: false,
    status: true,
    categories: ['fleet', 'fleet-placement'],
    columns: [
      { name: 'Gen', type: 'integer', cell: (o) => o.metadata.generation ?? 1 },
      { name: 'Scheduled', type: 'string', cell: (o) => conditionStatus(o, 'ClusterResourcePlacementScheduled') ?? '' },
      { name: 'Applied', type: 'string', cell: (o) => conditionStatus(o, 'ClusterResourcePlacementApplied') ?? '' },
      { name: 'Available', type: 'string', cell: (o) => conditionStatus(o, 'ClusterResourcePlacementAvailable') ?? '' },
    ],
    validate: (o) => {
      const r = parsePlacementSpec(o.spec);
      return r.ok ? [] : r.problems;
    },
  },
  // The scheduler's and the snapshotter's records (anchors §3.3): the fleet writes them, users read them.
  {
    group: 'placement.kubernetes-fleet.io',
    version: 'v1',
    kind: 'ClusterSchedulingPolicySnapshot',
    plural: 'clusterschedulingpolicysnapshots',
    singular: 'clusterschedulingpolicysnapshot',
    namespaced: false,
    status: true,
    categories: ['fleet', 'fleet-placement'],
    columns: [
      { name: 'Placement', type: 'string', cell: (o) => o.metadata.labels?.['kubernetes-fleet.io/parent-CRP'] ?? '' },
      { name: 'Latest', type: 'string', cell: (o) => o.metadata.labels?.['kubernetes-fleet.io/is-latest-snapshot'] ?? '' },
      { name: 'Scheduled', type: 'string', cell: (o) => conditionStatus(o, 'Scheduled') ?? '' },
    ],
  },
  {
    group: 'placement.kubernetes-fleet.io',
    version: 'v1',
    kind: 'ClusterResourceSnapshot',
    plural: 'clusterresourcesnapshots',
    singular: 'clusterresourcesnapshot',
    namespaced: false,
    status: true,
    categories: ['fleet', 'fleet-placement'],
    columns: [
      { name: 'Placement', type: 'string', cell: (o) => o.metadata.labels?.['kubernetes-fleet.io/parent-CRP'] ?? '' },
      { name: 'Index', type: 'string', cell: (o) => o.metadata.labels?.['kubernetes-fleet.io/resource-index'] ?? '' },
      { name: 'Latest', type: 'string', cell: (o) => o.metadata.labels?.['kubernetes-fleet.io/is-latest-snapshot'] ?? '' },
      { name: 'Resources', type: 'integer', cell: (o) => ((get(o, 'spec', 'selectedResources') as unknown[] | undefined) ?? []).length },
    ],
  },
  {
    group: 'placement.kubernetes-fleet.io',
    version: 'v1',
    kind: 'ClusterResourceOverride',
    plural: 'clusterresourceoverrides',
    singular: 'clusterresourceoverride',
    namespaced: false,
    status: false,
    categories: ['fleet', 'fleet-policy'],
    validate: (o) => {
      const r = parseOverrideSpec('ClusterResourceOverride', o.spec);
      return r.ok ? [] : r.problems;
    },
  },
  {
    group: 'placement.kubernetes-fleet.io',
    version: 'v1',
    kind: 'ResourceOverride',
    plural: 'resourceoverrides',
    singular: 'resourceoverride',
    namespaced: true,
    status: false,
    categories: ['fleet', 'fleet-policy'],
    validate: (o) => {
      const r = parseOverrideSpec('ResourceOverride', o.spec);
      return r.ok ? [] : r.problems;
    },
  },
  {
    group: 'placement.kubernetes-fleet.io',
    version: 'v1',
    kind: 'Work',
    plural: 'works',
    singular: 'work',
    namespaced: true,
    status: true,
    categories: ['fleet', 'fleet-placement'],
    validate: structural({ spec: 'object', 'spec.workload': 'object', 'spec.workload.manifests': 'array' }),
  },
];

export const builtInTypes: readonly ResourceType[] = [...builtIn, ...fleetKinds];

/** What an AKS cluster's API serves of these (no fleet kinds), plus its Nodes and Pods, and the member agent's AppliedWorks. */
export const clusterTypes: readonly ResourceType[] = [
  ...builtIn,
  {
    group: 'placement.kubernetes-fleet.io',
    version: 'v1',
    kind: 'AppliedWork',
    plural: 'appliedworks',
    singular: 'appliedwork',
    namespaced: false,
    status: true,
    categories: ['fleet', 'fleet-placement'],
    validate: structural({ spec: 'object', 'spec.workName': 'string', 'spec.workNamespace': 'string' }),
  },
  {
    group: '',
    version: 'v1',
    kind: 'Node',
    plural: 'nodes',
    singular: 'node',
    shortNames: ['no'],
    namespaced: false,
    status: true,
    columns: [
      { name: 'Status', type: 'string', cell: (o) => (conditionStatus(o, 'Ready') === 'True' ? 'Ready' : 'NotReady') },
      { name: 'Roles', type: 'string', cell: () => '<none>' },
      { name: 'Version', type: 'string', cell: (o) => get(o, 'status', 'nodeInfo', 'kubeletVersion') ?? '' },
    ],
  },
  {
    group: '',
    version: 'v1',
    kind: 'Pod',
    plural: 'pods',
    singular: 'pod',
    shortNames: ['po'],
    namespaced: true,
    status: true,
    categories: ['all'],
    columns: [
      {
        name: 'Ready',
        type: 'string',
        cell: (o) => {
          const statuses = (get(o, 'status', 'containerStatuses') as { ready?: boolean }[] | undefined) ?? [];
          return `${statuses.filter((c) => c.ready).length}/${((get(o, 'spec', 'containers') as unknown[] | undefined) ?? []).length}`;
        },
      },
      {
        name: 'Status',
        type: 'string',
        cell: (o) =>
          ((get(o, 'status', 'containerStatuses') as { state?: { waiting?: { reason?: string } } }[] | undefined) ?? []).find((c) => c.state?.waiting)?.state
            ?.waiting?.reason ??
          get(o, 'status', 'phase') ??
          'Pending',
      },
      { name: 'Restarts', type: 'integer', cell: () => 0 },
      { name: 'IP', type: 'string', wide: true, cell: (o) => get(o, 'status', 'podIP') ?? '<none>' },
      { name: 'Node', type: 'string', wide: true, cell: (o) => get(o, 'spec', 'nodeName') ?? '<none>' },
      { name: 'Nominated Node', type: 'string', wide: true, cell: (o) => get(o, 'status', 'nominatedNodeName') ?? '<none>' },
      { name: 'Readiness Gates', type: 'string', wide: true, cell: () => '<none>' },
    ],
  },
  {
    group: 'discovery.k8s.io',
    version: 'v1',
    kind: 'EndpointSlice',
    plural: 'endpointslices',
    singular: 'endpointslice',
    namespaced: true,
    status: false,
    columns: [
      { name: 'AddressType', type: 'string', cell: (o) => o.addressType ?? '' },
      {
        name: 'Ports',
        type: 'string',
        cell: (o) => ((o.ports as { port?: number }[] | undefined) ?? []).map((p) => p.port ?? '<unset>').join(',') || '<unset>',
      },
      {
        name: 'Endpoints',
        type: 'string',
        // As kubectl prints them: the first three addresses, then how many more.
        cell: (o) => {
          const all = ((o.endpoints as { addresses?: string[] }[] | undefined) ?? []).flatMap((e) => e.addresses ?? []);
          if (all.length === 0) return '<unset>';
          return all.length > 3 ? `${all.slice(0, 3).join(',')} + ${all.length - 3} more...` : all.join(',');
        },
      },
    ],
  },
];

/** Group/version/kinds that kubectl has compiled in, and so patches with strategic merge (kubectl-hub L4). */
export const strategicGroups = new Set([
  '',
  'apps',
  'batch',
  'networking.k8s.io',
  'discovery.k8s.io',
  'policy',
  'autoscaling',
  'rbac.authorization.k8s.io',
  'scheduling.k8s.io',
  'apiextensions.k8s.io',
]);

export const namespaceType = builtInTypes.find((t) => t.kind === 'Namespace')!;
export const crdType = builtInTypes.find((t) => t.kind === 'CustomResourceDefinition')!;
export const eventType = builtInTypes.find((t) => t.kind === 'Event')!;
