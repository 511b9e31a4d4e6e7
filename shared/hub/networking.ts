// fleet-networking's kinds (group networking.fleet.azure.com), as Azure Fleet serves them, so that
// users' and tools' YAML works unchanged: on a member cluster ServiceExport (v1alpha1 and v1beta1),
// MultiClusterService and the local ServiceImport; on the hub ServiceImport and what member agents
// write there (InternalServiceExport, EndpointSliceExport, InternalServiceImport) and what the hub
// gives importers (EndpointSliceImport). Written as CustomResourceDefinitions from fleet-networking's
// API types (../shared/reference/networking.md §1–4): the members get them as CRDs
// (infra/agent/networking-crds.yaml is generated from here by `npm run infra:config`), the hub serves
// them as its own kinds, with the same schemas, without a CRD row to read on every request.
import { stringify } from 'yaml';
import { typesOfCrd } from './crds.js';
import { builtInTypes, type KubeObject, type ResourceType } from './kinds.js';
import type { Schema } from './structural.js';

export const networkingGroup = 'networking.fleet.azure.com';

const str: Schema = { type: 'string' };
const bool: Schema = { type: 'boolean' };
const obj = (properties: Record<string, Schema>, required?: string[], description?: string): Schema => ({
  type: 'object',
  ...(description ? { description } : {}),
  ...(required ? { required } : {}),
  properties,
});
const arr = (items: Schema, extra: Partial<Schema> = {}): Schema => ({ type: 'array', items, ...extra });

const conditions: Schema = arr(
  obj(
    {
      type: { type: 'string', maxLength: 316 },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
      lastTransitionTime: { type: 'string', format: 'date-time' },
      reason: { type: 'string', maxLength: 1024 },
      message: { type: 'string', maxLength: 32768 },
    },
    ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  ),
  { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
);

/** A Service port as an export carries it (nodePort dropped). */
const servicePort: Schema = obj(
  {
    name: str,
    protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'], default: 'TCP' },
    appProtocol: str,
    port: { type: 'integer', format: 'int32', minimum: 1, maximum: 65535 },
    targetPort: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
  },
  ['port'],
);

/** What a member exported, as its agent describes it to the hub. */
const exportedObjectReference: Schema = obj(
  {
    clusterId: { type: 'string', description: 'The member cluster the object is in (its member name).' },
    apiVersion: str,
    kind: str,
    namespace: str,
    name: str,
    resourceVersion: str,
    generation: { type: 'integer', format: 'int64' },
    uid: str,
    namespacedName: str,
    exportedSince: { type: 'string', format: 'date-time' },
  },
  ['clusterId', 'namespace', 'name', 'resourceVersion', 'generation', 'uid', 'namespacedName'],
);

const serviceImportStatus: Schema = obj({
  ips: arr(str, { maxItems: 1 }),
  type: { type: 'string', enum: ['ClusterSetIP', 'Headless'] },
  sessionAffinity: str,
  sessionAffinityConfig: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
  ports: arr(servicePort),
  clusters: arr(obj({ cluster: str }, ['cluster']), { description: 'The clusters whose exports make up this import.' }),
});

const endpointSliceSpec: Schema = obj(
  {
    addressType: { type: 'string', enum: ['IPv4'], default: 'IPv4' },
    endpoints: arr(obj({ addresses: arr(str, { minItems: 1, maxItems: 100 }) }, ['addresses']), { maxItems: 1000 }),
    ports: arr(
      obj({
        name: str,
        protocol: { type: 'string', enum: ['TCP', 'UDP', 'SCTP'], default: 'TCP' },
        appProtocol: str,
        port: { type: 'integer', format: 'int32' },
      }),
    ),
    endpointSliceReference: exportedObjectReference,
    ownerServiceReference: obj({ namespace: str, name: str, namespacedName: str }, ['namespace', 'name', 'namespacedName']),
  },
  ['addressType', 'endpointSliceReference', 'ownerServiceReference'],
);

const root = (description: string, properties: Record<string, Schema>, required?: string[]): Schema =>
  obj({ apiVersion: str, kind: str, metadata: { type: 'object' }, ...properties }, required, description);

interface Version {
  name: string;
  storage: boolean;
  status: boolean;
  schema: Schema;
  columns?: { name: string; type: string; jsonPath: string; priority?: number }[];
}

function crd(kind: string, plural: string, shortNames: string[], versions: Version[]): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${networkingGroup}` },
    spec: {
      group: networkingGroup,
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        ...(shortNames.length ? { shortNames } : {}),
        categories: ['fleet-networking'],
      },
      scope: 'Namespaced',
      versions: versions.map((v) => ({
        name: v.name,
        served: true,
        storage: v.storage,
        ...(v.status ? { subresources: { status: {} } } : {}),
        ...(v.columns ? { additionalPrinterColumns: v.columns } : {}),
        schema: { openAPIV3Schema: v.schema },
      })),
    },
  };
}

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
const condition = (name: string, type: string) => ({ name, type: 'string', jsonPath: `.status.conditions[?(@.type=='${type}')].status` });

const serviceExportSchema = root('ServiceExport declares that the Service of the same namespace and name is exported to the fleet.', {
  status: obj({ conditions }, undefined, 'Valid (the Service can be exported) and Conflict (decided on the hub).'),
});
const serviceExportColumns = [condition('Is-Valid', 'Valid'), condition('Is-Conflicted', 'Conflict'), age];

const serviceImport = crd(
  'ServiceImport',
  'serviceimports',
  ['svcimport'],
  [
    {
      name: 'v1alpha1',
      storage: true,
      status: true,
      schema: root('ServiceImport describes a service exported from clusters of the fleet, as the hub resolved it.', { status: serviceImportStatus }),
    },
  ],
);

/** What a member cluster has installed (the agent's manifests). */
export const memberNetworkingCrds: readonly KubeObject[] = [
  crd(
    'ServiceExport',
    'serviceexports',
    ['svcexport'],
    [
      { name: 'v1alpha1', storage: false, status: true, schema: serviceExportSchema, columns: serviceExportColumns },
      { name: 'v1beta1', storage: true, status: true, schema: serviceExportSchema, columns: serviceExportColumns },
    ],
  ),
  crd(
    'MultiClusterService',
    'multiclusterservices',
    ['mcs'],
    [
      {
        name: 'v1alpha1',
        storage: true,
        status: true,
        columns: [
          { name: 'Service-Import', type: 'string', jsonPath: '.spec.serviceImport.name' },
          { name: 'External-IP', type: 'string', jsonPath: '.status.loadBalancer.ingress[0].ip' },
          condition('Is-Valid', 'Valid'),
          age,
        ],
        schema: root(
          'MultiClusterService puts one load balancer of this cluster in front of the endpoints of every cluster exporting the named service.',
          {
            spec: obj(
              {
                serviceImport: obj(
                  { name: { type: 'string', maxLength: 63, pattern: '^([a-z]([-a-z0-9]*[a-z0-9])?)$' } },
                  ['name'],
                  'The exported service to load balance: the ServiceImport of this namespace and name.',
                ),
              },
              ['serviceImport'],
            ),
            status: obj({
              loadBalancer: obj(
                {
                  ingress: arr(
                    obj({
                      ip: str,
                      hostname: str,
                      ipMode: str,
                      ports: arr(
                        obj({ port: { type: 'integer', format: 'int32' }, protocol: str, error: { type: 'string', maxLength: 316 } }, ['port', 'protocol']),
                      ),
                    }),
                  ),
                },
                undefined,
                "The derived Service's load balancer, copied from its status.",
              ),
              conditions,
            }),
          },
          ['spec'],
        ),
      },
    ],
  ),
  serviceImport,
];

/**
 * The member kinds a hub serves as well, only stored there: a ServiceExport or MultiClusterService
 * staged on the hub goes to members with a placement, as Azure Fleet's how-tos do it.
 */
export const stagedNetworkingKinds: ReadonlySet<string> = new Set(['ServiceExport', 'MultiClusterService']);

/** What the hub serves of them. */
export const hubNetworkingCrds: readonly KubeObject[] = [
  ...memberNetworkingCrds.filter((c) => stagedNetworkingKinds.has((c.spec as { names: { kind: string } }).names.kind)),
  serviceImport,
  crd(
    'InternalServiceExport',
    'internalserviceexports',
    [],
    [
      {
        name: 'v1alpha1',
        storage: true,
        status: true,
        schema: root(
          "A member's exported Service, written by its agent in its fleet-member namespace.",
          {
            spec: obj(
              {
                ports: arr(servicePort),
                serviceReference: exportedObjectReference,
                type: str,
                weight: { type: 'integer', format: 'int64', minimum: 0, maximum: 1000 },
                isInternalLoadBalancer: bool,
                publicIPResourceID: str,
                isDNSLabelConfigured: bool,
              },
              ['ports', 'serviceReference'],
            ),
            status: obj({ conditions }),
          },
          ['spec'],
        ),
      },
    ],
  ),
  crd(
    'InternalServiceImport',
    'internalserviceimports',
    [],
    [
      {
        name: 'v1alpha1',
        storage: true,
        status: true,
        schema: root("A member's import of an exported service, written by its agent in its fleet-member namespace.", {
          spec: obj({ serviceImportReference: exportedObjectReference }, ['serviceImportReference']),
          status: serviceImportStatus,
        }),
      },
    ],
  ),
  crd(
    'EndpointSliceExport',
    'endpointsliceexports',
    [],
    [
      {
        name: 'v1alpha1',
        storage: true,
        status: false,
        schema: root("One of an exporting member's EndpointSlices, written by its agent in its fleet-member namespace.", { spec: endpointSliceSpec }, ['spec']),
      },
    ],
  ),
  crd(
    'EndpointSliceImport',
    'endpointsliceimports',
    [],
    [
      {
        name: 'v1alpha1',
        storage: true,
        status: false,
        schema: root("An exported EndpointSlice given to an importing member, in that member's fleet-member namespace.", { spec: endpointSliceSpec }, ['spec']),
      },
    ],
  ),
];

/** The hub's networking kinds, as a CRD would serve them (merge patch, schema-checked). */
export const hubNetworkingTypes: readonly ResourceType[] = hubNetworkingCrds.flatMap((c) => typesOfCrd(c));

/** Everything a hub serves before CRDs: the built-in kinds, the fleet's, and these. */
export const hubTypes: readonly ResourceType[] = [...builtInTypes, ...hubNetworkingTypes];

/** infra/agent/networking-crds.yaml: the member CRDs as `kubectl apply -f` takes them. */
export function networkingCrdsYaml(): string {
  const head = [
    "# fleet-networking's member kinds (ServiceExport, MultiClusterService, ServiceImport), applied with",
    '# member-agent.yaml. Generated from shared/hub/networking.ts by `npm run infra:config`: do not edit.',
  ];
  return `${head.join('\n')}\n${memberNetworkingCrds.map((c) => stringify(c, { lineWidth: 0 })).join('---\n')}`;
}
