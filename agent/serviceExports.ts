// The member side of exporting a Service (fleet-networking's serviceexport and
// internalserviceexport controllers, in our agent): a ServiceExport names the Service of the same
// namespace and name; while that Service exists and can be exported its ports and identity are
// written to the hub as an InternalServiceExport `<namespace>-<name>` in `fleet-member-<member>`,
// the ServiceExport says why it is or is not Valid, and the hub's Conflict verdict is copied back.
// A finalizer makes a deleted ServiceExport take its InternalServiceExport with it. Level-triggered:
// a pass reads every ServiceExport, its Service and the member's InternalServiceExports, and makes
// them agree (../shared/reference/networking.md §1–2).
import { CoreV1Api, CustomObjectsApi, type V1Service } from '@kubernetes/client-node';
import { type Condition, findCondition, setCondition, timestamp } from '../shared/hub/conditions.js';
import { networkingGroup } from '../shared/hub/networking.js';
import { apiClientWithTimeout } from './apiClient.js';
import { exportedReference, ignoreMissing, isMissing, type Meta, memberHubObjects, mergePatch, type NetworkingContext, whyFailed } from './hubNetworking.js';
import { syncSliceExports } from './sliceExports.js';

export const exportFinalizer = 'networking.fleet.azure.com/svc-export-cleanup';
export const weightAnnotation = 'networking.fleet.azure.com/weight';
const lastSeenVersion = 'networking.fleet.azure.com/last-seen-resource-version';
const lastSeenTime = 'networking.fleet.azure.com/last-seen-timestamp';
const internalLoadBalancer = 'service.beta.kubernetes.io/azure-load-balancer-internal';
const exportVersion = 'v1beta1';

export interface ServiceExport {
  apiVersion?: string;
  kind?: string;
  metadata: Meta;
  status?: { conditions?: Condition[] };
}

interface InternalServiceExport {
  metadata: Meta;
  spec: Record<string, unknown> & { serviceReference: Record<string, unknown> & { uid: string; clusterId: string; namespacedName: string } };
  status?: { conditions?: Condition[] };
}

export type ExportContext = NetworkingContext;

/** The weight an export asks for: absent 1; an integer in [0, 1000]; otherwise why not (fleet-networking's wording). */
export function exportWeight(annotations: Record<string, string> | undefined): { weight: number } | { problem: string } {
  const raw = annotations?.[weightAnnotation];
  if (raw === undefined) return { weight: 1 };
  if (!/^[+-]?\d+$/.test(raw)) return { problem: `the weight annotation is not a valid integer: ${raw}` };
  const weight = Number(raw);
  if (weight < 0 || weight > 1000) return { problem: `the weight annotation is not in the range [0, 1000]: ${raw}` };
  return { weight };
}

/** The InternalServiceExport's name on the hub. */
export const internalExportName = (namespace: string, name: string) => `${namespace}-${name}`;

/** The member's ServiceExports; none where the kind is not installed (a cluster without fleet-networking's CRDs). */
async function listServiceExports(custom: CustomObjectsApi): Promise<ServiceExport[]> {
  try {
    return ((await custom.listClusterCustomObject({ group: networkingGroup, version: exportVersion, plural: 'serviceexports' })) as { items: ServiceExport[] })
      .items;
  } catch (e) {
    if (isMissing(e)) return [];
    throw e;
  }
}

/**
 * One pass: every ServiceExport of the member, and the member's InternalServiceExports on the hub.
 * Says how many it exports, and how many of those wait for the hub's conflict verdict.
 */
export async function syncServiceExports(x: ExportContext): Promise<{ exports: number; pending: number }> {
  const custom = apiClientWithTimeout(x.cluster, CustomObjectsApi);
  const core = apiClientWithTimeout(x.cluster, CoreV1Api);
  const exports = await listServiceExports(custom);
  // Nothing to export and nothing exported last time: the hub is not asked (a heartbeat of a
  // member without ServiceExports costs the hub no list). The first pass after a start does ask,
  // to withdraw what was exported while the agent was away.
  if (exports.length === 0 && x.memory?.exported === false) return { exports: 0, pending: 0 };
  const hubExports = memberHubObjects<InternalServiceExport>(x.hub, x.memberName, 'internalserviceexports');
  const internal = await hubExports.list();
  const byName = new Map(internal.map((i) => [i.metadata.name, i]));
  const wanted = new Set<string>();
  const withEndpoints = new Set<string>();
  let pending = 0;
  for (const se of exports) {
    const name = internalExportName(se.metadata.namespace, se.metadata.name);
    const { exported, endpoints } = await syncOne(x, custom, core, se, byName.get(name)).catch((e) => {
      x.log(`service export ${se.metadata.namespace}/${se.metadata.name}: ${whyFailed(e)}`);
      // Kept as it is until the next pass.
      return { exported: byName.has(name), endpoints: byName.has(name) };
    });
    if (exported) wanted.add(name);
    if (endpoints) withEndpoints.add(`${se.metadata.namespace}/${se.metadata.name}`);
    else if (exported) pending++;
  }
  await syncSliceExports(x, withEndpoints);
  // What no ServiceExport wants any more (its ServiceExport was deleted while the agent was away).
  await hubExports.deleteAllBut(internal, wanted);
  if (x.memory) x.memory.exported = exports.length > 0;
  return { exports: wanted.size, pending };
}

/** Brings one ServiceExport and its InternalServiceExport into line; true when it stays exported. */
async function syncOne(
  x: ExportContext,
  custom: CustomObjectsApi,
  core: CoreV1Api,
  se: ServiceExport,
  current: InternalServiceExport | undefined,
): Promise<{ exported: boolean; endpoints: boolean }> {
  const { namespace, name } = se.metadata;
  const at = timestamp(x.now());
  const hubNamespace = `fleet-member-${x.memberName}`;
  const ise = {
    group: networkingGroup,
    version: 'v1alpha1',
    namespace: hubNamespace,
    plural: 'internalserviceexports',
    name: internalExportName(namespace, name),
  };
  const finalizers = se.metadata.finalizers ?? [];
  const unexport = async () => {
    if (current) await x.hub.deleteNamespacedCustomObject(ise).catch(ignoreMissing);
  };
  const patchExport = (body: Record<string, unknown>) =>
    custom.patchNamespacedCustomObject({ group: networkingGroup, version: exportVersion, namespace, plural: 'serviceexports', name, body }, mergePatch);
  const writeStatus = async (conditions: Condition[]) => {
    if (JSON.stringify(conditions) === JSON.stringify(se.status?.conditions ?? [])) return;
    await custom
      .patchNamespacedCustomObjectStatus(
        { group: networkingGroup, version: exportVersion, namespace, plural: 'serviceexports', name, body: { status: { conditions } } },
        mergePatch,
      )
      .catch(ignoreMissing);
  };
  const generation = se.metadata.generation;
  const valid = (status: 'True' | 'False', reason: string, message: string) =>
    setCondition(se.status?.conditions, { type: 'Valid', status, reason, message, ...(generation ? { observedGeneration: generation } : {}) }, at);

  // Deleted: its InternalServiceExport first, then the finalizer.
  if (se.metadata.deletionTimestamp) {
    if (!finalizers.includes(exportFinalizer)) return none;
    await unexport();
    await patchExport({ metadata: { finalizers: finalizers.filter((f) => f !== exportFinalizer), resourceVersion: se.metadata.resourceVersion } }).catch(
      ignoreMissing,
    );
    return none;
  }
  const service = await core.readNamespacedService({ namespace, name }).catch((e) => {
    ignoreMissing(e);
    return undefined;
  });
  if (!service || service.metadata?.deletionTimestamp) {
    await unexport();
    await writeStatus(valid('False', 'ServiceNotFound', `service ${namespace}/${name} is not found`));
    return none;
  }
  if (service.spec?.type === 'ExternalName' || service.spec?.clusterIP === 'None') {
    await unexport();
    await writeStatus(valid('False', 'ServiceIneligible', `service ${namespace}/${name} is not eligible for export`));
    return none;
  }
  const weight = exportWeight(se.metadata.annotations);
  if ('problem' in weight) {
    // Not withdrawn: a typo in an annotation should not take traffic away.
    await writeStatus(
      valid('False', 'ServiceExportInvalidWeightAnnotation', `serviceExport ${namespace}/${name} has an invalid weight annotation, err = ${weight.problem}`),
    );
    return { exported: current !== undefined, endpoints: current !== undefined };
  }
  if (weight.weight === 0) {
    // Weight 0 drains the cluster: no InternalServiceExport, so its endpoints leave every import (our addition: L4 too).
    await unexport();
    await writeStatus(valid('True', 'ServiceIsValid', `exported service ${namespace}/${name} with 0 weight`));
    return none;
  }
  // The finalizer before anything is exported, so a delete cannot leave the export behind.
  if (!finalizers.includes(exportFinalizer))
    await patchExport({ metadata: { finalizers: [...finalizers, exportFinalizer], resourceVersion: se.metadata.resourceVersion } });
  const desired = internalExportOf(x.memberName, se, service, weight.weight);
  if (current && current.spec.serviceReference.uid !== desired.spec.serviceReference.uid) {
    // The Service was deleted and made again: the old export goes, the new one is a new export.
    await x.hub.deleteNamespacedCustomObject(ise).catch(ignoreMissing);
    current = undefined;
  }
  const written = current
    ? sameSpec(current.spec, desired.spec)
      ? current
      : ((await x.hub.patchNamespacedCustomObject({ ...ise, body: { spec: desired.spec } }, mergePatch)) as InternalServiceExport)
    : ((await x.hub.createNamespacedCustomObject({ ...ise, body: desired })) as InternalServiceExport);
  // Valid, and the hub's Conflict verdict (Unknown until the hub has one).
  let conditions = valid('True', 'ServiceIsValid', `service ${namespace}/${name} is valid for export`);
  const verdict = findCondition(written.status?.conditions, 'Conflict');
  conditions = setCondition(
    conditions,
    verdict
      ? {
          type: 'Conflict',
          status: verdict.status,
          reason: verdict.reason,
          message: verdict.message,
          ...(generation ? { observedGeneration: generation } : {}),
        }
      : {
          type: 'Conflict',
          status: 'Unknown',
          reason: 'ServicePendingConflictResolution',
          message: `service ${namespace}/${name} is pending export conflict resolution`,
          ...(generation ? { observedGeneration: generation } : {}),
        },
    at,
  );
  if (se.metadata.annotations?.[lastSeenVersion] !== service.metadata?.resourceVersion)
    await patchExport({ metadata: { annotations: { [lastSeenVersion]: service.metadata?.resourceVersion ?? '', [lastSeenTime]: at } } }).catch(ignoreMissing);
  await writeStatus(conditions);
  // Its endpoints go to the hub once the hub found no conflict (as fleet-networking's endpointslice controller waits for Conflict=False).
  return { exported: true, endpoints: verdict?.status === 'False' };
}

const none = { exported: false, endpoints: false };

/** The spec fields that say what is exported (the reference's resourceVersion and times aside, so an unchanged Service writes nothing). */
function sameSpec(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const strip = (s: Record<string, unknown>) => {
    const { serviceReference, ...rest } = s as { serviceReference: Record<string, unknown> };
    const { resourceVersion: _rv, exportedSince: _since, ...ref } = serviceReference;
    return JSON.stringify({ ...rest, serviceReference: ref });
  };
  return strip(a) === strip(b);
}

function internalExportOf(member: string, se: ServiceExport, service: V1Service, weight: number): InternalServiceExport {
  const { namespace, name } = se.metadata;
  const ports = (service.spec?.ports ?? []).map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    protocol: p.protocol ?? 'TCP',
    ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
    port: p.port,
    ...(p.targetPort !== undefined ? { targetPort: p.targetPort } : {}),
  }));
  return {
    metadata: { name: internalExportName(namespace, name), namespace: `fleet-member-${member}` },
    spec: {
      ports,
      serviceReference: exportedReference(member, 'v1', 'Service', service, se.metadata.creationTimestamp),
      type: service.spec?.type ?? 'ClusterIP',
      weight,
      isInternalLoadBalancer: service.spec?.type === 'LoadBalancer' && service.metadata?.annotations?.[internalLoadBalancer] === 'true',
    },
  };
}

/**
 * The member leaves: its exports leave every import (the hub's InternalServiceExports go), and the
 * ServiceExports lose the finalizer, so that deleting one later does not wait on an agent that
 * left. They stay (they are the user's, or a placement's); joining again exports them again.
 */
export async function withdrawServiceExports(x: ExportContext): Promise<number> {
  const custom = apiClientWithTimeout(x.cluster, CustomObjectsApi);
  const hubExports = memberHubObjects<InternalServiceExport>(x.hub, x.memberName, 'internalserviceexports');
  const withdrawn = await hubExports.deleteAllBut(await hubExports.list(), new Set());
  await syncSliceExports(x, new Set());
  const exports = await listServiceExports(custom);
  for (const se of exports) {
    const finalizers = se.metadata.finalizers ?? [];
    if (!finalizers.includes(exportFinalizer)) continue;
    await custom
      .patchNamespacedCustomObject(
        {
          group: networkingGroup,
          version: exportVersion,
          namespace: se.metadata.namespace,
          plural: 'serviceexports',
          name: se.metadata.name,
          body: { metadata: { finalizers: finalizers.filter((f) => f !== exportFinalizer), resourceVersion: se.metadata.resourceVersion } },
        },
        mergePatch,
      )
      .catch(ignoreMissing);
  }
  return withdrawn;
}
