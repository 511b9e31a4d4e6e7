// The work applier: each `Work` in the member's hub namespace is applied to the member's own
// cluster, and an `AppliedWork` of the same name on the member records what it placed (its objects
// carry an owner reference to it, as KubeFleet's do). Per Work the status says Applied and Available,
// and per manifest why one failed. An object that exists and that no Work placed is not taken over
// unless the Work's applyStrategy says `whenToTakeOver: Always`. A Work that is gone, or a manifest
// that left a Work, takes away exactly what it placed (and still owns).
import {
  ApiException,
  type CustomObjectsApi as CustomObjects,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { type Condition, setCondition } from '../shared/hub/conditions.js';
import { apiClientWithTimeout } from './apiClient.js';
import { weightAnnotation } from './serviceExports.js';

export const group = 'placement.kubernetes-fleet.io';
export const version = 'v1';
const fieldManager = 'fleet-member-agent';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface Work extends KubernetesObject {
  spec?: { workload?: { manifests?: unknown[] }; applyStrategy?: { whenToTakeOver?: string }; deleteOptions?: { propagationPolicy?: string } };
  status?: WorkStatus;
}

interface Identifier {
  ordinal: number;
  group: string;
  version: string;
  kind: string;
  namespace?: string;
  name: string;
}

interface ManifestCondition {
  identifier: Identifier;
  conditions: Condition[];
}

interface WorkStatus {
  conditions?: Condition[];
  manifestConditions?: ManifestCondition[];
}

interface AppliedResource {
  group: string;
  version: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

interface AppliedWork extends KubernetesObject {
  spec: { workName: string; workNamespace: string };
  status?: { appliedResources?: AppliedResource[] };
}

const splitApiVersion = (apiVersion: string) => {
  const i = apiVersion.lastIndexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
};

const sameResource = (a: AppliedResource, b: AppliedResource) =>
  a.group === b.group && a.kind === b.kind && (a.namespace ?? '') === (b.namespace ?? '') && a.name === b.name;

/** The reason a Kubernetes API answer gives, for a manifest's condition. */
function failureOf(e: unknown): { reason: string; message: string } {
  if (e instanceof ApiException) {
    let message = String(e.body ?? e.message);
    try {
      message = (JSON.parse(String(e.body)) as { message?: string }).message ?? message;
    } catch {
      // not a Status body
    }
    if (e.code === 404 && /namespaces? "[^"]*" not found/.test(message)) return { reason: 'NamespaceNotFound', message };
    if (e.code === 404) return { reason: 'ResourceTypeNotFound', message };
    if (e.code === 422 || e.code === 400) return { reason: 'ManifestInvalid', message };
    return { reason: 'ApplyFailed', message: `${e.code}: ${message}` };
  }
  return { reason: 'ApplyFailed', message: (e as Error).message };
}

const readyOnceApplied = new Set([
  'Namespace',
  'ConfigMap',
  'Secret',
  'Service',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'ClusterRole',
  'ClusterRoleBinding',
  'LimitRange',
  'ResourceQuota',
  'NetworkPolicy',
  'CustomResourceDefinition',
]);

/** Whether a placed object is available, as KubeFleet judges the kinds it tracks; others count once applied. */
function availability(o: KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> }): {
  ok: boolean;
  reason: string;
  message: string;
} {
  const generation = o.metadata?.generation ?? 0;
  const observed = Number(o.status?.observedGeneration ?? 0);
  if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
    const want = Number(o.spec?.replicas ?? 1);
    const have = Number((o.kind === 'Deployment' ? o.status?.availableReplicas : o.status?.readyReplicas) ?? 0);
    const ok = observed >= generation && have >= want;
    return {
      ok,
      reason: ok ? 'WorkloadAvailable' : 'WorkloadNotAvailable',
      message: `${have} of ${want} replicas available${observed < generation ? ' (the change is not yet observed)' : ''}`,
    };
  }
  if (o.kind === 'DaemonSet') {
    const want = Number(o.status?.desiredNumberScheduled ?? 0);
    const have = Number(o.status?.numberAvailable ?? 0);
    return { ok: have >= want, reason: have >= want ? 'WorkloadAvailable' : 'WorkloadNotAvailable', message: `${have} of ${want} pods available` };
  }
  if (o.kind === 'Service' && (o.spec?.type as string | undefined) === 'LoadBalancer') {
    const ingress = ((o.status?.loadBalancer as { ingress?: unknown[] } | undefined)?.ingress ?? []).length;
    return {
      ok: ingress > 0,
      reason: ingress ? 'ServiceAvailable' : 'ServiceNotAvailable',
      message: ingress ? 'the load balancer has an address' : 'the load balancer has no address yet',
    };
  }
  if (o.kind === 'ServiceExport' && o.apiVersion?.startsWith('networking.fleet.azure.com/')) return exportAvailability(o);
  // What KubeFleet counts as available once applied; any other kind it cannot judge ("untrackable").
  if (readyOnceApplied.has(o.kind ?? '')) return { ok: true, reason: 'ManifestAvailable', message: `a ${o.kind} is available once applied` };
  return { ok: true, reason: 'NotTrackable', message: `the availability of a ${o.kind} is not tracked; it counts as available once applied` };
}

/**
 * A placed ServiceExport is available once it exports: Valid and not in conflict (our addition:
 * KubeFleet cannot track it, so its placement says Available while the export is refused). Its
 * status is written by this agent's networking controllers, so a new one is judged at a later pass.
 */
function exportAvailability(o: KubernetesObject & { status?: Record<string, unknown> }): { ok: boolean; reason: string; message: string } {
  const conditions = (o.status?.conditions ?? []) as Condition[];
  const valid = conditions.find((c) => c.type === 'Valid');
  const conflict = conditions.find((c) => c.type === 'Conflict');
  const no = (message: string) => ({ ok: false, reason: 'ServiceExportNotAvailable', message });
  if (!valid) return no('the export is not checked yet');
  if (valid.status !== 'True') return no(`the export is not valid: ${valid.message ?? valid.reason}`);
  if (conflict?.status === 'True') return no(`the export is in conflict: ${conflict.message ?? conflict.reason}`);
  // Weight 0 is a drain the user asked for: nothing is exported, and nothing is wrong.
  if (o.metadata?.annotations?.[weightAnnotation]?.trim() === '0')
    return { ok: true, reason: 'ServiceExportAvailable', message: 'the export has weight 0: drained, as asked' };
  if (conflict?.status !== 'False') return no('the export is pending conflict resolution on the hub');
  return { ok: true, reason: 'ServiceExportAvailable', message: 'the service is exported, valid and without conflict' };
}

export interface ApplyContext {
  hub: CustomObjects;
  cluster: KubeConfig;
  namespace: string;
  now: () => string;
  log: (line: string) => void;
}

/** The member's Works on the hub. */
export async function listWorks(ctx: Pick<ApplyContext, 'hub' | 'namespace'>): Promise<Work[]> {
  return ((await ctx.hub.listNamespacedCustomObject({ group, version, namespace: ctx.namespace, plural: 'works' })) as { items: Work[] }).items;
}

/**
 * Applies every Work and takes away what Works no longer place. Returns the Works as the hub now
 * has them (each status write answers with the Work), or undefined when one could not be handled
 * (the caller lists them again next time).
 */
export async function syncWorks(ctx: ApplyContext, works: Work[]): Promise<Work[] | undefined> {
  const member = apiClientWithTimeout(ctx.cluster, CustomObjectsApi);
  const objects = apiClientWithTimeout(ctx.cluster, KubernetesObjectApi);
  const applied = ((await member.listClusterCustomObject({ group, version, plural: 'appliedworks' })) as { items: AppliedWork[] }).items;
  const mine = applied.filter((a) => a.spec?.workNamespace === ctx.namespace);
  const now: Work[] = [];
  let complete = true;
  for (const work of works) {
    try {
      now.push(
        await applyWork(
          ctx,
          member,
          objects,
          work,
          mine.find((a) => a.metadata?.name === work.metadata?.name),
        ),
      );
    } catch (e) {
      complete = false;
      ctx.log(`work ${work.metadata?.name}: ${(e as Error).message}`);
    }
  }
  const names = new Set(works.map((w) => w.metadata?.name));
  for (const a of mine) if (!names.has(a.spec.workName)) await removeApplied(ctx, member, objects, a);
  return complete ? now : undefined;
}

/** Takes away everything the fleet placed on this cluster (the member leaves). */
export async function removeAllWorks(ctx: Omit<ApplyContext, 'hub'>): Promise<number> {
  const member = apiClientWithTimeout(ctx.cluster, CustomObjectsApi);
  const objects = apiClientWithTimeout(ctx.cluster, KubernetesObjectApi);
  const applied = ((await member.listClusterCustomObject({ group, version, plural: 'appliedworks' })) as { items: AppliedWork[] }).items;
  const mine = applied.filter((a) => a.spec?.workNamespace === ctx.namespace);
  for (const a of mine) await removeApplied(ctx, member, objects, a);
  return mine.length;
}

const ownerRef = (a: AppliedWork) => ({ apiVersion: `${group}/${version}`, kind: 'AppliedWork', name: a.metadata!.name!, uid: a.metadata!.uid! });
const ownedBy = (o: KubernetesObject, a: AppliedWork) => (o.metadata?.ownerReferences ?? []).some((r) => r.kind === 'AppliedWork' && r.uid === a.metadata?.uid);

/** What happens to a Work's objects when the Work goes, as its deleteOptions said when last applied. */
const propagationAnnotation = 'placement.kubernetes-fleet.io/delete-propagation-policy';

async function removeApplied(ctx: Pick<ApplyContext, 'log'>, member: CustomObjects, objects: KubernetesObjectApi, a: AppliedWork) {
  const abandon = a.metadata?.annotations?.[propagationAnnotation] === 'Abandon';
  for (const r of a.status?.appliedResources ?? []) await (abandon ? releaseIfOwned(objects, r, a) : removeIfOwned(objects, r, a));
  await member.deleteClusterCustomObject({ group, version, plural: 'appliedworks', name: a.metadata!.name! }).catch((e) => {
    if (!(e instanceof ApiException && e.code === 404)) throw e;
  });
  ctx.log(
    `work ${a.spec.workName} is gone: ${abandon ? 'left (deleteOptions Abandon)' : 'removed'} the ${(a.status?.appliedResources ?? []).length} object(s) it placed`,
  );
}

const specOf = (r: AppliedResource) => ({
  apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
  kind: r.kind,
  metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) },
});

/** Abandoned: the object stays, without the owner reference that would have the cluster's garbage collector delete it with the AppliedWork. */
async function releaseIfOwned(objects: KubernetesObjectApi, r: AppliedResource, a: AppliedWork) {
  try {
    const live = await objects.read(specOf(r));
    if (!ownedBy(live, a)) return;
    const ownerReferences = (live.metadata?.ownerReferences ?? []).filter((o) => o.uid !== a.metadata?.uid);
    await objects.patch(
      { ...specOf(r), metadata: { ...specOf(r).metadata, ownerReferences } },
      undefined,
      undefined,
      fieldManager,
      undefined,
      PatchStrategy.MergePatch,
    );
  } catch (e) {
    if (!(e instanceof ApiException && e.code === 404)) throw e;
  }
}

async function removeIfOwned(objects: KubernetesObjectApi, r: AppliedResource, a: AppliedWork) {
  const spec = specOf(r);
  try {
    const live = await objects.read(spec);
    // Someone else's now (taken over by another Work, or re-created by hand): left be.
    if (!ownedBy(live, a)) return;
    await objects.delete(spec);
  } catch (e) {
    if (!(e instanceof ApiException && e.code === 404)) throw e;
  }
}

async function applyWork(ctx: ApplyContext, member: CustomObjects, objects: KubernetesObjectApi, work: Work, existing: AppliedWork | undefined): Promise<Work> {
  const name = work.metadata!.name!;
  const generation = work.metadata?.generation ?? 0;
  const appliedWork =
    existing ??
    ((await member.createClusterCustomObject({
      group,
      version,
      plural: 'appliedworks',
      body: { apiVersion: `${group}/${version}`, kind: 'AppliedWork', metadata: { name }, spec: { workName: name, workNamespace: ctx.namespace } },
    })) as AppliedWork);
  const policy = work.spec?.deleteOptions?.propagationPolicy === 'Abandon' ? 'Abandon' : 'Delete';
  if ((appliedWork.metadata?.annotations?.[propagationAnnotation] ?? 'Delete') !== policy) {
    await member.patchClusterCustomObject(
      { group, version, plural: 'appliedworks', name, body: { metadata: { annotations: { [propagationAnnotation]: policy } } } },
      mergePatch,
    );
    appliedWork.metadata = { ...appliedWork.metadata, annotations: { ...(appliedWork.metadata?.annotations ?? {}), [propagationAnnotation]: policy } };
  }
  const takeOver = work.spec?.applyStrategy?.whenToTakeOver === 'Always';
  const manifests = work.spec?.workload?.manifests ?? [];
  const at = ctx.now();
  const previous = work.status?.manifestConditions ?? [];
  const manifestConditions: ManifestCondition[] = [];
  const placed: AppliedResource[] = [];
  for (const [ordinal, raw] of manifests.entries()) {
    const m = (raw ?? {}) as KubernetesObject;
    const gv = splitApiVersion(String(m.apiVersion ?? ''));
    const identifier: Identifier = {
      ordinal,
      group: gv.group,
      version: gv.version,
      kind: String(m.kind ?? ''),
      ...(m.metadata?.namespace ? { namespace: m.metadata.namespace } : {}),
      name: String(m.metadata?.name ?? ''),
    };
    const before = previous.find((p) => p.identifier.ordinal === ordinal)?.conditions;
    const result = (applied: { ok: boolean; reason: string; message: string }, available?: { ok: boolean; reason: string; message: string }) => {
      let conditions = setCondition(
        before,
        { type: 'Applied', status: applied.ok ? 'True' : 'False', reason: applied.reason, message: applied.message, observedGeneration: generation },
        at,
      );
      conditions = setCondition(
        conditions,
        available
          ? { type: 'Available', status: available.ok ? 'True' : 'False', reason: available.reason, message: available.message, observedGeneration: generation }
          : { type: 'Available', status: 'Unknown', reason: 'NotApplied', message: 'the manifest is not applied', observedGeneration: generation },
        at,
      );
      manifestConditions.push({ identifier, conditions });
    };
    if (!m.apiVersion || !m.kind || !m.metadata?.name) {
      result({ ok: false, reason: 'ManifestInvalid', message: 'a manifest needs apiVersion, kind and metadata.name' });
      continue;
    }
    try {
      let live: KubernetesObject | undefined;
      try {
        live = await objects.read({ apiVersion: m.apiVersion, kind: m.kind, metadata: { name: m.metadata.name, namespace: m.metadata.namespace } });
      } catch (e) {
        if (!(e instanceof ApiException && e.code === 404)) throw e;
      }
      if (live && !ownedBy(live, appliedWork) && !takeOver) {
        result({
          ok: false,
          reason: 'NotTakenOver',
          message: `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata.name} exists on the member and the fleet did not place it; set spec.applyStrategy.whenToTakeOver: Always to take it over`,
        });
        continue;
      }
      const owners = [...(m.metadata.ownerReferences ?? []).filter((r) => r.uid !== appliedWork.metadata?.uid), ownerRef(appliedWork)];
      const body = { ...m, metadata: { ...m.metadata, ownerReferences: owners } } as KubernetesObject;
      const out = await objects.patch(body, undefined, undefined, fieldManager, true, PatchStrategy.ServerSideApply);
      placed.push({ ...identifier, uid: out.metadata?.uid });
      result({ ok: true, reason: 'ManifestApplied', message: 'applied' }, availability(out));
    } catch (e) {
      result({ ok: false, ...failureOf(e) });
    }
  }
  // What this Work placed before and no longer holds: taken away.
  const before = appliedWork.status?.appliedResources ?? [];
  for (const r of before) if (!placed.some((p) => sameResource(p, r))) await removeIfOwned(objects, r, appliedWork);
  if (JSON.stringify(before) !== JSON.stringify(placed))
    await member.patchClusterCustomObjectStatus({ group, version, plural: 'appliedworks', name, body: { status: { appliedResources: placed } } }, mergePatch);

  const failed = manifestConditions.filter((c) => c.conditions.find((x) => x.type === 'Applied')?.status !== 'True');
  const unavailable = manifestConditions.filter((c) => c.conditions.find((x) => x.type === 'Available')?.status !== 'True');
  const untrackable = manifestConditions.filter((c) => c.conditions.find((x) => x.type === 'Available')?.reason === 'NotTrackable');
  const describe = (list: ManifestCondition[], type: string) =>
    list
      .slice(0, 5)
      .map(
        (c) =>
          `${c.identifier.kind} ${c.identifier.namespace ? `${c.identifier.namespace}/` : ''}${c.identifier.name}: ${c.conditions.find((x) => x.type === type)?.message}`,
      )
      .join('; ');
  let conditions = setCondition(
    work.status?.conditions,
    failed.length
      ? {
          type: 'Applied',
          status: 'False',
          reason: 'ManifestApplyFailed',
          message: `${failed.length} of ${manifests.length} manifests failed: ${describe(failed, 'Applied')}`,
          observedGeneration: generation,
        }
      : { type: 'Applied', status: 'True', reason: 'WorkApplied', message: `all ${manifests.length} manifests are applied`, observedGeneration: generation },
    at,
  );
  conditions = setCondition(
    conditions,
    failed.length
      ? { type: 'Available', status: 'Unknown', reason: 'WorkNotApplied', message: 'not every manifest is applied', observedGeneration: generation }
      : unavailable.length
        ? { type: 'Available', status: 'False', reason: 'ManifestNotAvailable', message: describe(unavailable, 'Available'), observedGeneration: generation }
        : untrackable.length
          ? {
              // The fleet's rollout waits unavailablePeriodSeconds on such a Work before it counts it available.
              type: 'Available',
              status: 'True',
              reason: 'WorkNotAllManifestsTrackable',
              message: `all ${manifests.length} manifests are applied; the availability of ${untrackable.length} of them cannot be tracked`,
              observedGeneration: generation,
            }
          : {
              type: 'Available',
              status: 'True',
              reason: 'WorkAvailable',
              message: `all ${manifests.length} manifests are available`,
              observedGeneration: generation,
            },
    at,
  );
  const status: WorkStatus = { conditions, manifestConditions };
  // Written only when something changed: a steady Work costs the hub no write.
  if (JSON.stringify(status) === JSON.stringify({ conditions: work.status?.conditions, manifestConditions: work.status?.manifestConditions })) return work;
  return (await ctx.hub.patchNamespacedCustomObjectStatus(
    { group, version, namespace: ctx.namespace, plural: 'works', name, body: { status } },
    mergePatch,
  )) as Work;
}
