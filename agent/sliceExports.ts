// The member side of exporting endpoints (fleet-networking's endpointslice controller, in our
// agent): each IPv4 EndpointSlice of an exported Service that the hub found free of conflict goes
// to the hub as an EndpointSliceExport in `fleet-member-<member>`, with the addresses of its ready
// endpoints only, and is withdrawn when the slice goes, or the export stops (invalid, in conflict,
// deleted, weight 0). Names are made from the member, namespace and slice (not a random suffix
// written back onto the user's slice, as fleet-networking does): the agent never writes to the
// member's EndpointSlices, and a restarted agent finds its exports by name.
import { createHash } from 'node:crypto';
import { ApiException, DiscoveryV1Api, type V1EndpointSlice } from '@kubernetes/client-node';
import { networkingGroup } from '../shared/hub/networking.js';
import { apiClientWithTimeout } from './apiClient.js';
import { exportedReference, memberHubObjects } from './hubNetworking.js';
import type { ExportContext } from './serviceExports.js';

const serviceNameLabel = 'kubernetes.io/service-name';

interface SliceExport {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec: Record<string, unknown>;
}

/** The EndpointSliceExport's name: readable when it fits a DNS subdomain, else cut and made unique by a hash. */
export function sliceExportName(member: string, namespace: string, slice: string): string {
  const full = `${member}-${namespace}-${slice}`.toLowerCase();
  if (full.length <= 253) return full;
  return `${full.slice(0, 240)}-${createHash('sha256').update(full).digest('hex').slice(0, 12)}`;
}

/** What the hub is told of a slice: its ready addresses and its ports. */
export function sliceExportOf(member: string, slice: V1EndpointSlice, service: string): SliceExport {
  const namespace = slice.metadata?.namespace ?? '';
  const name = slice.metadata?.name ?? '';
  // As consumers read EndpointSlices: no ready condition means ready.
  const endpoints = (slice.endpoints ?? []).filter((e) => e.conditions?.ready !== false && e.addresses.length).map((e) => ({ addresses: e.addresses }));
  return {
    metadata: { name: sliceExportName(member, namespace, name) },
    spec: {
      addressType: 'IPv4',
      endpoints,
      ports: (slice.ports ?? []).map((p) => ({
        ...(p.name !== undefined ? { name: p.name } : {}),
        protocol: p.protocol ?? 'TCP',
        ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}),
        ...(p.port !== undefined ? { port: p.port } : {}),
      })),
      endpointSliceReference: exportedReference(member, 'discovery.k8s.io/v1', 'EndpointSlice', slice, slice.metadata?.creationTimestamp),
      ownerServiceReference: { namespace, name: service.split('/')[1], namespacedName: service },
    },
  };
}

/** The spec fields that carry endpoints (the reference's resourceVersion and generation aside: an unchanged slice writes nothing). */
const endpointsOf = (spec: Record<string, unknown>) => {
  const { endpointSliceReference, ...rest } = spec as { endpointSliceReference?: Record<string, unknown> };
  const { resourceVersion: _rv, generation: _g, ...ref } = endpointSliceReference ?? {};
  return JSON.stringify({ ...rest, endpointSliceReference: ref });
};

/** One pass: the slices of `services` (ns/name) exported, every other EndpointSliceExport of this member withdrawn. */
export async function syncSliceExports(x: ExportContext, services: Set<string>): Promise<void> {
  const exports = memberHubObjects<SliceExport>(x.hub, x.memberName, 'endpointsliceexports');
  const ese = exports.at;
  const have = await exports.list();
  const byName = new Map(have.map((e) => [e.metadata.name, e]));
  const slices = services.size
    ? (await apiClientWithTimeout(x.cluster, DiscoveryV1Api).listEndpointSliceForAllNamespaces()).items.filter((s) => s.addressType === 'IPv4')
    : [];
  const wanted = new Set<string>();
  for (const slice of slices) {
    const service = `${slice.metadata?.namespace}/${slice.metadata?.labels?.[serviceNameLabel] ?? ''}`;
    if (!services.has(service) || slice.metadata?.deletionTimestamp) continue;
    const desired = sliceExportOf(x.memberName, slice, service);
    wanted.add(desired.metadata.name);
    const current = byName.get(desired.metadata.name);
    try {
      if (!current)
        await x.hub.createNamespacedCustomObject({ ...ese, body: { apiVersion: `${networkingGroup}/v1alpha1`, kind: 'EndpointSliceExport', ...desired } });
      else if (endpointsOf(current.spec) !== endpointsOf(desired.spec))
        await x.hub.replaceNamespacedCustomObject({
          ...ese,
          name: desired.metadata.name,
          body: { apiVersion: `${networkingGroup}/v1alpha1`, kind: 'EndpointSliceExport', metadata: { ...current.metadata }, spec: desired.spec },
        });
    } catch (e) {
      x.log(
        `endpoint slice export ${slice.metadata?.namespace}/${slice.metadata?.name}: ${e instanceof ApiException ? `${e.code} ${String(e.body).slice(0, 300)}` : (e as Error).message}`,
      );
    }
  }
  await exports.deleteAllBut(have, wanted);
}
