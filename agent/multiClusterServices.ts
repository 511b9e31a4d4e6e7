// The member side of importing (fleet-networking's mcs-controller-manager and its serviceimport,
// internalserviceimport and endpointsliceimport controllers, in our agent): a MultiClusterService
// names an exported service; the agent keeps a local ServiceImport of that name (owned by the MCS),
// asks the hub for it with an InternalServiceImport, copies back what the hub resolved, and once
// clusters stand behind it keeps a derived Service `fleet-system/<mcsNamespace>-<mcsName>` of type
// LoadBalancer (no selector) whose EndpointSlices are the hub's EndpointSliceImports for this
// member — so this cluster's load balancer sends connections to pods of every exporting cluster.
// The MCS shows the derived Service's address and says whether the import is found
// (../shared/reference/networking.md §3.2, §4).
import { ApiException, CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type V1EndpointSlice, type V1Service } from '@kubernetes/client-node';
import { type Condition, setCondition, timestamp } from '../shared/hub/conditions.js';
import { networkingGroup } from '../shared/hub/networking.js';
import { apiClientWithTimeout } from './apiClient.js';
import { exportedReference, ignoreMissing, type Meta, mergePatch, type NetworkingContext, orNone } from './hubNetworking.js';

export const mcsFinalizer = 'networking.fleet.azure.com/service-resources-cleanup';
const serviceImportLabel = 'networking.fleet.azure.com/service-import';
const derivedServiceLabel = 'networking.fleet.azure.com/derived-service';
const mcsNameLabel = 'networking.fleet.azure.com/multi-cluster-service-name';
const mcsNamespaceLabel = 'networking.fleet.azure.com/multi-cluster-service-namespace';
const internalLbAnnotation = 'networking.fleet.azure.com/azure-load-balancer-internal';
const azureInternalLb = 'service.beta.kubernetes.io/azure-load-balancer-internal';
const sliceManager = 'endpointsliceimport-controller.networking.fleet.azure.com';
const fleetSystem = 'fleet-system';
const v1alpha1 = 'v1alpha1';

interface MultiClusterService {
  metadata: Meta;
  spec?: { serviceImport?: { name?: string } };
  status?: { loadBalancer?: unknown; conditions?: Condition[] };
}

interface ImportStatus {
  type?: string;
  ports?: { name?: string; protocol?: string; appProtocol?: string; port: number; targetPort?: number | string }[];
  clusters?: { cluster: string }[];
}

export interface SliceImport {
  metadata: { name: string };
  spec: {
    addressType?: string;
    endpoints?: { addresses: string[] }[];
    ports?: { name?: string; protocol?: string; appProtocol?: string; port?: number }[];
    ownerServiceReference?: { namespace?: string; name?: string; namespacedName?: string };
    endpointSliceReference?: { clusterId?: string };
  };
}

/**
 * What stands behind an import, for the MCS's Valid message (our addition: fleet-networking says
 * only "found valid service import"): `4 endpoints from 2 clusters (east 2, west 2)`, clusters by
 * member name in order.
 */
export function endpointsBehind(given: SliceImport[], service: string): string {
  const per = new Map<string, number>();
  for (const esi of given) {
    if (esi.spec.ownerServiceReference?.namespacedName !== service) continue;
    const cluster = esi.spec.endpointSliceReference?.clusterId ?? 'unknown';
    per.set(cluster, (per.get(cluster) ?? 0) + (esi.spec.endpoints ?? []).length);
  }
  const clusters = [...per].filter(([, n]) => n > 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const total = clusters.reduce((n, [, c]) => n + c, 0);
  if (total === 0) return 'no endpoints yet';
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  return `${plural(total, 'endpoint')} from ${plural(clusters.length, 'cluster')} (${clusters.map(([c, n]) => `${c} ${n}`).join(', ')})`;
}

export type ImportContext = NetworkingContext;

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const truthy = (v: string | undefined) => v !== undefined && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);

/**
 * What an imported slice says, in one canonical form: the client deserializes what it reads into
 * its own key order, so a plain JSON comparison with what the hub gives differed every pass and
 * rewrote every slice each time.
 */
const sliceContent = (s: V1EndpointSlice) =>
  JSON.stringify([
    (s.endpoints ?? []).map((e) => e.addresses),
    (s.ports ?? []).map((p) => [p.name ?? '', p.protocol ?? 'TCP', p.port ?? 0, p.appProtocol ?? '']),
  ]);

/** The derived Service of an MCS: `<mcsNamespace>-<mcsName>` in fleet-system. */
export const derivedServiceName = (mcs: Pick<Meta, 'namespace' | 'name'>) => `${mcs.namespace}-${mcs.name}`;

/** One pass over every MultiClusterService of the member, and what the hub gives this member; says how many it has. */
export async function syncMultiClusterServices(x: ImportContext): Promise<{ imports: number }> {
  const custom = apiClientWithTimeout(x.cluster, CustomObjectsApi);
  const list = await orNone(custom.listClusterCustomObject({ group: networkingGroup, version: v1alpha1, plural: 'multiclusterservices' }));
  const all = ((list as { items?: MultiClusterService[] } | undefined)?.items ?? []) as MultiClusterService[];
  // None now and none last time: neither the hub nor fleet-system is asked (serviceExports.ts says why).
  if (all.length === 0 && x.memory?.imported === false) return { imports: 0 };
  const hubNamespace = `fleet-member-${x.memberName}`;
  const given = (
    (await x.hub.listNamespacedCustomObject({ group: networkingGroup, version: v1alpha1, namespace: hubNamespace, plural: 'endpointsliceimports' })) as {
      items: SliceImport[];
    }
  ).items;
  const derived = new Map<string, string>();
  for (const mcs of all) {
    try {
      const service = await syncOne(x, custom, mcs, given);
      if (service) derived.set(`${mcs.metadata.namespace}/${mcs.spec?.serviceImport?.name}`, service);
    } catch (e) {
      x.log(
        `multi-cluster service ${mcs.metadata.namespace}/${mcs.metadata.name}: ${e instanceof ApiException ? `${e.code} ${String(e.body).slice(0, 300)}` : (e as Error).message}`,
      );
    }
  }
  await syncImportedSlices(x, given, derived);
  if (x.memory) {
    x.memory.imported = all.length > 0;
    x.memory.derived = derived;
  }
  return { imports: all.length };
}

/** Brings one MCS along; returns its derived Service's name when it has one. */
async function syncOne(x: ImportContext, custom: CustomObjectsApi, mcs: MultiClusterService, given: SliceImport[]): Promise<string | undefined> {
  const core = apiClientWithTimeout(x.cluster, CoreV1Api);
  const { namespace, name } = mcs.metadata;
  const at = timestamp(x.now());
  const importName = mcs.spec?.serviceImport?.name ?? '';
  const hubNamespace = `fleet-member-${x.memberName}`;
  const isi = { group: networkingGroup, version: v1alpha1, namespace: hubNamespace, plural: 'internalserviceimports', name: `${namespace}-${importName}` };
  const localImport = { group: networkingGroup, version: v1alpha1, namespace, plural: 'serviceimports', name: importName };
  const patchMcs = (body: Record<string, unknown>) =>
    custom.patchNamespacedCustomObject({ group: networkingGroup, version: v1alpha1, namespace, plural: 'multiclusterservices', name, body }, mergePatch);
  const finalizers = mcs.metadata.finalizers ?? [];
  const derivedName = mcs.metadata.labels?.[derivedServiceLabel] ?? derivedServiceName(mcs.metadata);

  if (mcs.metadata.deletionTimestamp) {
    if (!finalizers.includes(mcsFinalizer)) return undefined;
    await core.deleteNamespacedService({ namespace: fleetSystem, name: derivedName }).catch(ignoreMissing);
    await custom.deleteNamespacedCustomObject(localImport).catch(ignoreMissing);
    await x.hub.deleteNamespacedCustomObject(isi).catch(ignoreMissing);
    await patchMcs({ metadata: { finalizers: finalizers.filter((f) => f !== mcsFinalizer), resourceVersion: mcs.metadata.resourceVersion } }).catch(
      ignoreMissing,
    );
    return undefined;
  }
  if (!finalizers.includes(mcsFinalizer) || mcs.metadata.labels?.[serviceImportLabel] !== importName)
    await patchMcs({
      metadata: {
        finalizers: [...new Set([...finalizers, mcsFinalizer])],
        labels: { [serviceImportLabel]: importName },
        resourceVersion: mcs.metadata.resourceVersion,
      },
    });

  // The local ServiceImport, owned by the MCS (another MCS's: this one waits, Unknown).
  let local = (await orNone(custom.getNamespacedCustomObject(localImport))) as
    | { metadata: Meta & { ownerReferences?: { uid?: string; controller?: boolean }[] }; status?: ImportStatus }
    | undefined;
  const owner = local?.metadata.ownerReferences?.find((r) => r.controller);
  const valid = async (status: 'True' | 'Unknown', reason: string, message: string, loadBalancer: unknown) => {
    const conditions = setCondition(mcs.status?.conditions, { type: 'Valid', status, reason, message, observedGeneration: mcs.metadata.generation }, at);
    if (same(conditions, mcs.status?.conditions) && same(loadBalancer, mcs.status?.loadBalancer ?? {})) return;
    await custom
      .patchNamespacedCustomObjectStatus(
        { group: networkingGroup, version: v1alpha1, namespace, plural: 'multiclusterservices', name, body: { status: { conditions, loadBalancer } } },
        mergePatch,
      )
      .catch(ignoreMissing);
  };
  const unknown = () =>
    valid(
      'Unknown',
      'UnknownServiceImport',
      'importing service; if the condition remains for a while, please verify that service has been exported or service has been exported by other multiClusterService',
      {},
    );
  if (local && owner && owner.uid !== mcs.metadata.uid) {
    await unknown();
    return undefined;
  }
  if (!local)
    local = (await custom.createNamespacedCustomObject({
      ...localImport,
      body: {
        apiVersion: `${networkingGroup}/${v1alpha1}`,
        kind: 'ServiceImport',
        metadata: {
          name: importName,
          namespace,
          ownerReferences: [
            {
              apiVersion: `${networkingGroup}/${v1alpha1}`,
              kind: 'MultiClusterService',
              name,
              uid: mcs.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
      },
    })) as typeof local;

  // The hub's InternalServiceImport, and what the hub resolved, copied onto the local ServiceImport.
  const theirs = (await orNone(x.hub.getNamespacedCustomObject(isi))) as { status?: ImportStatus } | undefined;
  // The local ServiceImport, named for the MCS's import even before it exists (its time then is now).
  const reference = exportedReference(
    x.memberName,
    `${networkingGroup}/${v1alpha1}`,
    'ServiceImport',
    { ...local, metadata: { ...local?.metadata, namespace, name: importName } },
    local?.metadata.creationTimestamp ?? at,
  );

  if (!theirs)
    await x.hub.createNamespacedCustomObject({
      ...isi,
      body: {
        apiVersion: `${networkingGroup}/${v1alpha1}`,
        kind: 'InternalServiceImport',
        metadata: { name: isi.name, namespace: hubNamespace },
        spec: { serviceImportReference: reference },
      },
    });
  const status = theirs?.status ?? {};
  if (!same(status, local?.status ?? {})) await custom.patchNamespacedCustomObjectStatus({ ...localImport, body: { status } }, mergePatch).catch(ignoreMissing);

  if (!status.clusters?.length) {
    // Nothing behind it (not exported yet, all in conflict, every exporter gone): no load balancer.
    await core.deleteNamespacedService({ namespace: fleetSystem, name: derivedName }).catch(ignoreMissing);
    if (mcs.metadata.labels?.[derivedServiceLabel]) await patchMcs({ metadata: { labels: { [derivedServiceLabel]: null } } }).catch(ignoreMissing);
    await unknown();
    return undefined;
  }
  if (mcs.metadata.labels?.[derivedServiceLabel] !== derivedName) await patchMcs({ metadata: { labels: { [derivedServiceLabel]: derivedName } } });
  const service = await ensureDerivedService(core, mcs, derivedName, status);
  await valid(
    'True',
    'FoundServiceImport',
    `found valid service import: ${endpointsBehind(given, `${namespace}/${importName}`)}`,
    service.status?.loadBalancer ?? {},
  );
  return derivedName;
}

async function ensureDerivedService(core: CoreV1Api, mcs: MultiClusterService, name: string, status: ImportStatus): Promise<V1Service> {
  if (!(await orNone(core.readNamespace({ name: fleetSystem }))))
    await core.createNamespace({ body: { metadata: { name: fleetSystem } } }).catch((e) => {
      if (!(e instanceof ApiException && e.code === 409)) throw e;
    });
  const annotations = truthy(mcs.metadata.annotations?.[internalLbAnnotation]) ? { [azureInternalLb]: 'true' } : undefined;
  const ports = (status.ports ?? []).map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    protocol: p.protocol ?? 'TCP',
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    port: p.port,
    ...(p.targetPort !== undefined ? { targetPort: p.targetPort as never } : {}),
  }));
  const labels = { [mcsNameLabel]: mcs.metadata.name, [mcsNamespaceLabel]: mcs.metadata.namespace };
  const current = await orNone(core.readNamespacedService({ namespace: fleetSystem, name }));
  if (!current)
    return core.createNamespacedService({
      namespace: fleetSystem,
      body: { metadata: { name, namespace: fleetSystem, labels, ...(annotations ? { annotations } : {}) }, spec: { type: 'LoadBalancer', ports } },
    });
  const samePorts = same(
    (current.spec?.ports ?? []).map((p) => [p.name ?? '', p.protocol, p.port, p.targetPort]),
    ports.map((p) => [p.name ?? '', p.protocol, p.port, p.targetPort ?? p.port]),
  );
  if (samePorts && current.spec?.type === 'LoadBalancer' && same(current.metadata?.labels?.[mcsNameLabel], mcs.metadata.name)) return current;
  return core.patchNamespacedService(
    {
      namespace: fleetSystem,
      name,
      body: {
        metadata: { labels, annotations: annotations ?? { [azureInternalLb]: null } },
        spec: {
          type: 'LoadBalancer',
          // A port keeps the node port the cluster gave it (a merge patch of the list replaces it).
          ports: ports.map((p) => {
            const nodePort = current.spec?.ports?.find((c) => c.port === p.port)?.nodePort;
            return { ...p, ...(nodePort ? { nodePort } : {}) };
          }),
        },
      },
    },
    mergePatch,
  );
}

/** The hub's EndpointSliceImports for this member, as EndpointSlices of the derived Services in fleet-system; the rest withdrawn. */
async function syncImportedSlices(x: ImportContext, given: SliceImport[], derived: Map<string, string>): Promise<void> {
  const discovery = apiClientWithTimeout(x.cluster, DiscoveryV1Api);
  const have =
    (await orNone(discovery.listNamespacedEndpointSlice({ namespace: fleetSystem, labelSelector: `endpointslice.kubernetes.io/managed-by=${sliceManager}` })))
      ?.items ?? [];
  const byName = new Map(have.map((s) => [s.metadata?.name ?? '', s]));
  const wanted = new Set<string>();
  for (const esi of given) {
    const service = derived.get(esi.spec.ownerServiceReference?.namespacedName ?? '');
    if (!service) continue;
    wanted.add(esi.metadata.name);
    await writeImportedSlice(discovery, esi, service, byName.get(esi.metadata.name));
  }
  for (const s of have)
    if (!wanted.has(s.metadata?.name ?? ''))
      await discovery.deleteNamespacedEndpointSlice({ namespace: fleetSystem, name: s.metadata?.name ?? '' }).catch(ignoreMissing);
}

/** The derived Service's EndpointSlice for one EndpointSliceImport: made, or brought up to it. */
async function writeImportedSlice(discovery: DiscoveryV1Api, esi: SliceImport, service: string, current: V1EndpointSlice | undefined): Promise<void> {
  const name = esi.metadata.name;
  const body: V1EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: fleetSystem, labels: { 'kubernetes.io/service-name': service, 'endpointslice.kubernetes.io/managed-by': sliceManager } },
    addressType: esi.spec.addressType ?? 'IPv4',
    // Addresses only (no conditions, which consumers read as ready), as fleet-networking writes them.
    endpoints: (esi.spec.endpoints ?? []).map((e) => ({ addresses: e.addresses })),
    ports: (esi.spec.ports ?? []).map((p) => ({ ...p })),
  };
  if (!current) await discovery.createNamespacedEndpointSlice({ namespace: fleetSystem, body });
  else if (sliceContent(current) !== sliceContent(body) || current.metadata?.labels?.['kubernetes.io/service-name'] !== service)
    await discovery.replaceNamespacedEndpointSlice({
      namespace: fleetSystem,
      name,
      body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } },
    });
}

/**
 * One EndpointSliceImport as the agent's watch of the hub saw it, applied at once to the derived
 * Service the last pass found for its service (the pass that the same event sets off follows, and
 * settles anything this missed or lost to): an endpoint change waited for a whole pass before.
 */
export async function applySliceImport(x: ImportContext, phase: string, esi: SliceImport): Promise<void> {
  const discovery = apiClientWithTimeout(x.cluster, DiscoveryV1Api);
  const name = esi.metadata?.name;
  if (!name) return;
  if (phase === 'DELETED') {
    await discovery.deleteNamespacedEndpointSlice({ namespace: fleetSystem, name }).catch(ignoreMissing);
    return;
  }
  const service = x.memory?.derived?.get(esi.spec?.ownerServiceReference?.namespacedName ?? '');
  if (!service) return;
  await writeImportedSlice(discovery, esi, service, await orNone(discovery.readNamespacedEndpointSlice({ namespace: fleetSystem, name })));
}

/** Leaving: every MCS's imports go (derived Services, their slices, local ServiceImports and the hub's InternalServiceImports); the MCSs lose the finalizer. */
export async function withdrawMultiClusterServices(x: ImportContext): Promise<void> {
  const custom = apiClientWithTimeout(x.cluster, CustomObjectsApi);
  const core = apiClientWithTimeout(x.cluster, CoreV1Api);
  const list = await orNone(custom.listClusterCustomObject({ group: networkingGroup, version: v1alpha1, plural: 'multiclusterservices' }));
  for (const mcs of ((list as { items?: MultiClusterService[] } | undefined)?.items ?? []) as MultiClusterService[]) {
    const { namespace, name } = mcs.metadata;
    const importName = mcs.spec?.serviceImport?.name ?? '';
    await core
      .deleteNamespacedService({ namespace: fleetSystem, name: mcs.metadata.labels?.[derivedServiceLabel] ?? derivedServiceName(mcs.metadata) })
      .catch(ignoreMissing);
    await custom
      .deleteNamespacedCustomObject({ group: networkingGroup, version: v1alpha1, namespace, plural: 'serviceimports', name: importName })
      .catch(ignoreMissing);
    await x.hub
      .deleteNamespacedCustomObject({
        group: networkingGroup,
        version: v1alpha1,
        namespace: `fleet-member-${x.memberName}`,
        plural: 'internalserviceimports',
        name: `${namespace}-${importName}`,
      })
      .catch(ignoreMissing);
    const finalizers = mcs.metadata.finalizers ?? [];
    if (finalizers.includes(mcsFinalizer))
      await custom
        .patchNamespacedCustomObject(
          {
            group: networkingGroup,
            version: v1alpha1,
            namespace,
            plural: 'multiclusterservices',
            name,
            body: { metadata: { finalizers: finalizers.filter((f) => f !== mcsFinalizer) } },
          },
          mergePatch,
        )
        .catch(ignoreMissing);
  }
  await syncImportedSlices(x, [], new Map());
}
