// `placement.sync`: brings one ClusterResourcePlacement on a fleet's hub to what its spec, the
// members and the selected resources say now. Level-triggered and idempotent — it reads everything
// each time and writes only what differs — so a duplicate, late or coalesced message is harmless.
//
// The pipeline is KubeFleet's (anchors §3.3), with its objects on the hub for `kubectl get`:
//   policy → ClusterSchedulingPolicySnapshot `<crp>-<i>` (each member's decision and reason)
//   selected resources → ClusterResourceSnapshot `<crp>-<i>-snapshot` (a new index only when their hash changes)
//   per picked member: overrides applied → Work `<crp>-work` in `fleet-member-<name>`, rolled out within maxUnavailable
//   → status from the agents' Work reports.
// KubeFleet keeps a ClusterResourceBinding per member besides the Work; here the Work's own labels and
// annotations carry the same (resource index, content hash, when written), one object less per member.
import { inParallel } from '../batches.js';
import type { FleetRef } from '../domain/armIds.js';
import type { FleetCommand } from '../domain/commands.js';
import { applyOverrides, type Override, overridesOfPlacement } from '../domain/placement/overrides.js';
import { availability, type MemberWork, planRollout } from '../domain/placement/rollout.js';
import { type Candidate, type Decision, schedule } from '../domain/placement/scheduler.js';
import { type PlacementSpec, parseOverrideSpec, parsePlacementSpec } from '../domain/placement/spec.js';
import { fitDecisions, fitStatus, type MemberReport, placementStatus, type WorkReport } from '../domain/placement/status.js';
import { type Condition, setCondition, timestamp } from '../hub/conditions.js';
import { builtInTypes, type KubeObject, type ResourceType } from '../hub/kinds.js';
import { HubObjects } from '../hub/objects.js';
import { HubError } from '../hub/status.js';
import { HubGone, HubWriteConflict, type StoredObject } from '../hub/store.js';
import type { AppDeps } from './context.js';
import { memberClusterType, memberNamespace, memberOfNamespace } from './memberClusters.js';
import { hashOf, resourceIdOf, selectResources } from './placementResources.js';
import { requestPlacementSync } from './placementTriggers.js';
import { announceWorkChanges } from './workHints.js';

const typeOf = (kind: string) => builtInTypes.find((t) => t.kind === kind)!;
export const placementType = typeOf('ClusterResourcePlacement');
const policySnapshotType = typeOf('ClusterSchedulingPolicySnapshot');
const resourceSnapshotType = typeOf('ClusterResourceSnapshot');
const workType = typeOf('Work');
const clusterOverrideType = typeOf('ClusterResourceOverride');
const resourceOverrideType = typeOf('ResourceOverride');

export const parentLabel = 'kubernetes-fleet.io/parent-CRP';
const latestLabel = 'kubernetes-fleet.io/is-latest-snapshot';
const policyIndexLabel = 'kubernetes-fleet.io/policy-index';
const resourceIndexLabel = 'kubernetes-fleet.io/resource-index';
const workIndexLabel = 'kubernetes-fleet.io/parent-resource-snapshot-index';
const workHashAnnotation = 'fleet.azure.com/work-hash';
const writtenAtAnnotation = 'fleet.azure.com/written-at';
export const cleanupFinalizer = 'kubernetes-fleet.io/crp-cleanup';
/** A snapshot is one object: what does not fit (1.5 MiB less room for metadata) is refused, not split. */
const maxSnapshotBytes = 1_400_000;
const writes = { dryRun: false, fieldManager: 'fleet-placement-controller' };

export const workName = (placement: string) => `${placement}-work`;

/** What the rollout reads of a member's Work: what it holds, its generation, when the fleet wrote it, the agent's Available. */
function memberWorkOf(work: KubeObject): MemberWork {
  const available = conditionOf(work, 'Available');
  return {
    hash: work.metadata.annotations?.[workHashAnnotation] ?? '',
    generation: work.metadata.generation ?? 1,
    writtenAt: Date.parse(work.metadata.annotations?.[writtenAtAnnotation] ?? '') || 0,
    ...(available ? { available } : {}),
  };
}

const ofPlacement = (items: StoredObject[], name: string) => items.filter((s) => s.object.metadata.labels?.[parentLabel] === name);
const indexOf = (s: StoredObject, label: string) => Number(s.object.metadata.labels?.[label] ?? -1);
const conditionOf = (o: KubeObject, type: string) => ((o.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === type);
const ignoreMissing = (e: unknown) => {
  if (!(e instanceof HubError && e.code === 404)) throw e;
};

/** Retries a write that lost a race with another writer (a user's edit, an agent's status). */
async function withRetry(run: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      const lost = e instanceof HubWriteConflict || (e instanceof HubError && e.code === 409);
      if (!lost || attempt >= 4) throw e;
    }
  }
}

export async function syncPlacement(deps: AppDeps, command: FleetCommand, abortSignal?: AbortSignal): Promise<void> {
  const name = command.placementName;
  if (!name) return;
  const fleet = (await deps.store.readFleet(command.fleet, { abortSignal })).fleet?.value;
  if (!fleet?.hub?.ready) return;
  const objects = new HubObjects({ store: deps.hubStore, now: deps.now }, { name: fleet.hub.name, table: fleet.hub.table });
  try {
    await sync(deps, objects, command.fleet, name);
  } catch (e) {
    if (e instanceof HubGone) return;
    throw e;
  }
}

/** A member as the scheduler sees it, from its MemberCluster. */
export function candidateOf(mc: KubeObject): Candidate {
  const status = (mc.status ?? {}) as { properties?: Record<string, { value?: string }> };
  const joined = conditionOf(mc, 'Joined');
  const healthy = conditionOf(mc, 'Healthy');
  const state = (c: Condition | undefined, type: string) =>
    c ? `${type} is ${c.status} (${c.reason}: ${c.message})` : `its agent has not reported ${type} yet`;
  return {
    name: mc.metadata.name!,
    labels: mc.metadata.labels ?? {},
    properties: Object.fromEntries(Object.entries(status.properties ?? {}).flatMap(([k, v]) => (typeof v?.value === 'string' ? [[k, v.value]] : []))),
    taints: ((mc.spec as { taints?: Candidate['taints'] } | undefined)?.taints ?? []).filter((t) => t && typeof t.key === 'string'),
    eligible:
      joined?.status !== 'True'
        ? { ok: false, why: state(joined, 'Joined') }
        : healthy?.status !== 'True'
          ? { ok: false, why: state(healthy, 'Healthy') }
          : { ok: true },
    leaving: !!mc.metadata.deletionTimestamp || (joined?.status === 'False' && joined.reason === 'MemberLeft'),
  };
}

async function cleanup(objects: HubObjects, name: string): Promise<void> {
  const works = ofPlacement(await objects.listAll(workType), name);
  await inParallel(works, 16, (w) =>
    objects.delete(workType, w.object.metadata.namespace, w.object.metadata.name!, { dryRun: false }).then(() => undefined, ignoreMissing),
  );
  await announceWorkChanges(
    objects,
    works.flatMap((w) => memberOfNamespace(w.object.metadata.namespace) ?? []),
  );
  for (const t of [policySnapshotType, resourceSnapshotType])
    for (const s of ofPlacement(await objects.listAll(t), name))
      await objects.delete(t, undefined, s.object.metadata.name!, { dryRun: false }).catch(ignoreMissing);
}

async function sync(deps: AppDeps, objects: HubObjects, fleet: FleetRef, name: string): Promise<void> {
  const stored = await objects.read(placementType, undefined, name);
  if (!stored || stored.object.metadata.deletionTimestamp) {
    // Deleted: what it placed leaves every member (their agents remove it with the Work), then the placement goes.
    await cleanup(objects, name);
    if (stored)
      await withRetry(async () => {
        const s = await objects.read(placementType, undefined, name);
        if (!s) return;
        const finalizers = (s.object.metadata.finalizers ?? []).filter((f) => f !== cleanupFinalizer);
        await objects.update(placementType, undefined, name, { ...s.object, metadata: { ...s.object.metadata, finalizers } }, { ...writes, current: s });
      });
    return;
  }
  if (!(stored.object.metadata.finalizers ?? []).includes(cleanupFinalizer))
    await withRetry(async () => {
      const s = await objects.read(placementType, undefined, name);
      if (!s || s.object.metadata.deletionTimestamp || s.object.metadata.finalizers?.includes(cleanupFinalizer)) return;
      const finalizers = [...(s.object.metadata.finalizers ?? []), cleanupFinalizer];
      await objects.update(placementType, undefined, name, { ...s.object, metadata: { ...s.object.metadata, finalizers } }, { ...writes, current: s });
    });
  const crp = stored.object;
  const generation = crp.metadata.generation ?? 1;
  const now = deps.now();
  const parsed = parsePlacementSpec(crp.spec);
  if (!parsed.ok) {
    // Stored before the hub validated placements: said, not acted on.
    await writePlacementStatus(objects, name, (previous) => ({
      conditions: setCondition(
        previous?.conditions,
        {
          type: 'ClusterResourcePlacementScheduled',
          status: 'False',
          reason: 'InvalidSpec',
          message: parsed.problems.map((p) => `${p.field}: ${p.message}`).join('; '),
          observedGeneration: generation,
        },
        timestamp(now),
      ),
    }));
    return;
  }
  const spec = parsed.value;
  const [memberClusters, works, policySnapshots, resourceSnapshots, overrides, selection] = await Promise.all([
    objects.listAll(memberClusterType, ''),
    objects.listAll(workType).then((all) => ofPlacement(all, name)),
    objects.listAll(policySnapshotType, '').then((all) => ofPlacement(all, name)),
    objects.listAll(resourceSnapshotType, '').then((all) => ofPlacement(all, name)),
    overridesOf(objects, name),
    selectResources(objects, spec.resourceSelectors),
  ]);
  const candidates = memberClusters.map((s) => candidateOf(s.object));
  const labelsOf = new Map(candidates.map((c) => [c.name, c.labels]));
  const memberOfWork = (w: StoredObject) => w.object.metadata.namespace!.slice('fleet-member-'.length);

  // ---- schedule
  const policyHash = hashOf(spec.policy);
  const latestPolicy = latestOf(policySnapshots, policyIndexLabel);
  const samePolicy = (latestPolicy?.object.spec as { policyHash?: string } | undefined)?.policyHash === policyHash;
  const previousTargets = ((latestPolicy?.object.status as { targetClusters?: Decision[] } | undefined)?.targetClusters ?? []).filter((d) => d.selected);
  const decision = schedule({
    policy: spec.policy,
    candidates,
    kept: samePolicy ? previousTargets.map((d) => d.clusterName) : [],
    holders: works.map(memberOfWork),
  });
  await recordDecision(objects, name, spec, policyHash, samePolicy ? latestPolicy : undefined, policySnapshots, decision, generation, now);

  // ---- resources
  const size = JSON.stringify(selection.manifests).length;
  if (size > maxSnapshotBytes) selection.problems.push(`the selected resources take ${size} bytes; a placement holds at most ${maxSnapshotBytes}`);
  if (selection.problems.length) {
    await writePlacementStatus(objects, name, (previous) =>
      placementStatus({
        generation,
        now: timestamp(now),
        previous,
        scheduling: { invalid: selection.problems },
        selectedResources: [],
        members: [],
        maxUnavailable: 0,
        unavailable: [],
        anyOverrides: false,
      }),
    );
    return;
  }
  const resourceHash = hashOf(selection.manifests);
  const resourceIndex = String(await snapshotResources(objects, name, spec, resourceSnapshots, selection.manifests, resourceHash));

  // ---- per member: overrides, then the rollout
  const applyStrategy = spec.strategy.applyStrategy;
  // The agent keeps a Work's objects when the Work goes if it said Abandon when last applied.
  const deleteOptions = { propagationPolicy: spec.strategy.deleteStrategy?.propagationPolicy ?? 'Delete' };
  const outcomes = new Map(
    decision.selected.map((m) => [m, applyOverrides(selection.manifests, { name: m, labels: labelsOf.get(m) ?? {} }, overrides)] as const),
  );
  const desired = new Map<string, string>();
  for (const [m, o] of outcomes) if (!o.error) desired.set(m, hashOf({ manifests: o.manifests, applyStrategy, deleteOptions }));
  const current = new Map<string, MemberWork & { stored: StoredObject }>();
  for (const w of works) current.set(memberOfWork(w), { stored: w, ...memberWorkOf(w.object) });
  const rolling = spec.strategy.rollingUpdate;
  const plan = planRollout({
    selected: decision.selected,
    desired,
    current,
    maxUnavailable: rolling.maxUnavailable,
    unavailablePeriodSeconds: rolling.unavailablePeriodSeconds,
    wanted: decision.wanted,
    now: now.getTime(),
  });
  const written = new Map<string, KubeObject>();
  await inParallel(plan.write, 32, async (m) => {
    const work: KubeObject = {
      apiVersion: 'placement.kubernetes-fleet.io/v1',
      kind: 'Work',
      metadata: {
        name: workName(name),
        namespace: memberNamespace(m),
        labels: { [parentLabel]: name, [workIndexLabel]: resourceIndex },
        annotations: { [workHashAnnotation]: desired.get(m)!, [writtenAtAnnotation]: now.toISOString() },
      },
      spec: { workload: { manifests: outcomes.get(m)!.manifests }, applyStrategy, deleteOptions },
    };
    const have = current.get(m)?.stored;
    try {
      written.set(
        m,
        have
          ? await objects.update(
              workType,
              memberNamespace(m),
              workName(name),
              { ...have.object, metadata: { ...have.object.metadata, ...work.metadata }, spec: work.spec },
              { ...writes, current: have },
            )
          : await objects.create(workType, memberNamespace(m), work, writes),
      );
    } catch (e) {
      // The member's namespace is gone or going (it is leaving): it is deselected on the next pass.
      if (!(e instanceof HubError && (e.code === 404 || e.code === 403))) throw e;
    }
  });
  await inParallel(plan.remove, 32, (m) =>
    objects.delete(workType, memberNamespace(m), workName(name), { dryRun: false }).then(() => undefined, ignoreMissing),
  );
  await announceWorkChanges(objects, [...written.keys(), ...plan.remove]);

  // ---- status
  const decisionOf = new Map(decision.decisions.map((d) => [d.clusterName, d]));
  const waiting = new Set(plan.waiting);
  const members: MemberReport[] = decision.selected.map((m) => {
    const o = outcomes.get(m)!;
    const object = written.get(m) ?? current.get(m)?.stored.object;
    let work: WorkReport | undefined;
    if (object) {
      const status = (object.status ?? {}) as { conditions?: Condition[]; manifestConditions?: WorkReport['manifestConditions'] };
      const w = memberWorkOf(object);
      work = {
        synced: desired.has(m) && w.hash === desired.get(m),
        generation: w.generation,
        resourceIndex: object.metadata.labels?.[workIndexLabel],
        conditions: status.conditions ?? [],
        manifestConditions: status.manifestConditions ?? [],
        availableNow: availability(w, rolling.unavailablePeriodSeconds, now.getTime()).ok,
      };
    }
    return {
      name: m,
      scheduledReason: decisionOf.get(m)?.reason ?? '',
      overrides: { ...o.applied, ...(o.error ? { error: o.error } : {}) },
      waiting: waiting.has(m),
      ...(work ? { work } : {}),
    };
  });
  await writePlacementStatus(objects, name, (previous) =>
    placementStatus({
      generation,
      now: timestamp(now),
      previous,
      scheduling: { fulfilled: decision.fulfilled, message: decision.message, wanted: decision.wanted, placementType: spec.policy.placementType },
      resourceIndex,
      selectedResources: selection.manifests.map(resourceIdOf),
      members,
      maxUnavailable: plan.maxUnavailable,
      unavailable: plan.unavailable,
      anyOverrides: overrides.length > 0,
    }),
  );
  // An untrackable member counts as available only after unavailablePeriodSeconds: look again then.
  if (plan.recheckAt !== undefined) await requestPlacementSync(deps, fleet, [name], { at: new Date(plan.recheckAt + 1000) });
}

function latestOf(snapshots: StoredObject[], indexLabel: string): StoredObject | undefined {
  return (
    snapshots.find((s) => s.object.metadata.labels?.[latestLabel] === 'true') ??
    [...snapshots].sort((a, b) => indexOf(b, indexLabel) - indexOf(a, indexLabel))[0]
  );
}

/** Drops the oldest snapshots beyond revisionHistoryLimit, and marks the older ones not latest. */
async function retire(objects: HubObjects, t: ResourceType, snapshots: StoredObject[], indexLabel: string, keep: number): Promise<void> {
  const sorted = [...snapshots].sort((a, b) => indexOf(b, indexLabel) - indexOf(a, indexLabel));
  for (const [i, s] of sorted.entries()) {
    if (i >= keep - 1) await objects.delete(t, undefined, s.object.metadata.name!, { dryRun: false }).catch(ignoreMissing);
    else if (s.object.metadata.labels?.[latestLabel] === 'true')
      await withRetry(async () => {
        const c = await objects.read(t, undefined, s.object.metadata.name!);
        if (!c) return;
        await objects.update(
          t,
          undefined,
          s.object.metadata.name!,
          { ...c.object, metadata: { ...c.object.metadata, labels: { ...c.object.metadata.labels, [latestLabel]: 'false' } } },
          { ...writes, current: c },
        );
      });
  }
}

async function recordDecision(
  objects: HubObjects,
  name: string,
  spec: PlacementSpec,
  policyHash: string,
  latest: StoredObject | undefined,
  all: StoredObject[],
  decision: ReturnType<typeof schedule>,
  generation: number,
  now: Date,
): Promise<void> {
  let snapshotName = latest?.object.metadata.name;
  if (!latest) {
    const index = Math.max(-1, ...all.map((s) => indexOf(s, policyIndexLabel))) + 1;
    await retire(objects, policySnapshotType, all, policyIndexLabel, spec.revisionHistoryLimit);
    snapshotName = `${name}-${index}`;
    await objects
      .create(
        policySnapshotType,
        undefined,
        {
          apiVersion: 'placement.kubernetes-fleet.io/v1',
          kind: 'ClusterSchedulingPolicySnapshot',
          metadata: {
            name: snapshotName,
            labels: { [parentLabel]: name, [policyIndexLabel]: String(index), [latestLabel]: 'true' },
            ...(spec.policy.placementType === 'PickN'
              ? { annotations: { 'kubernetes-fleet.io/number-of-clusters': String(spec.policy.numberOfClusters ?? 0) } }
              : {}),
          },
          spec: { policy: spec.policy, policyHash },
        },
        writes,
      )
      .catch((e) => {
        if (!(e instanceof HubError && e.code === 409)) throw e;
      });
  }
  await withRetry(async () => {
    const s = await objects.read(policySnapshotType, undefined, snapshotName!);
    if (!s) return;
    const before = (s.object.status ?? {}) as { conditions?: Condition[]; targetClusters?: Decision[] };
    const fitted = fitDecisions(decision.decisions);
    const status = {
      observedCRPGeneration: generation,
      conditions: setCondition(
        before.conditions,
        {
          type: 'Scheduled',
          status: decision.fulfilled ? 'True' : 'False',
          reason: decision.fulfilled ? 'SchedulingPolicyFulfilled' : 'SchedulingPolicyUnfulfilled',
          message: fitted.summary ? `${decision.message}; ${fitted.summary}` : decision.message,
          observedGeneration: s.object.metadata.generation ?? 1,
        },
        timestamp(now),
      ),
      targetClusters: fitted.kept,
    };
    if (JSON.stringify(status) === JSON.stringify(before)) return;
    await objects.update(policySnapshotType, undefined, snapshotName!, { ...s.object, status }, { ...writes, subresource: 'status', current: s });
  });
}

/** The index of the snapshot holding these resources: the latest one if its hash matches, else a new one. */
async function snapshotResources(
  objects: HubObjects,
  name: string,
  spec: PlacementSpec,
  all: StoredObject[],
  manifests: unknown[],
  hash: string,
): Promise<number> {
  const latest = latestOf(all, resourceIndexLabel);
  if (latest && latest.object.metadata.annotations?.['kubernetes-fleet.io/resource-hash'] === hash) return indexOf(latest, resourceIndexLabel);
  const index = Math.max(-1, ...all.map((s) => indexOf(s, resourceIndexLabel))) + 1;
  await retire(objects, resourceSnapshotType, all, resourceIndexLabel, spec.revisionHistoryLimit);
  await objects
    .create(
      resourceSnapshotType,
      undefined,
      {
        apiVersion: 'placement.kubernetes-fleet.io/v1',
        kind: 'ClusterResourceSnapshot',
        metadata: {
          name: `${name}-${index}-snapshot`,
          labels: { [parentLabel]: name, [resourceIndexLabel]: String(index), [latestLabel]: 'true' },
          annotations: { 'kubernetes-fleet.io/resource-hash': hash, 'kubernetes-fleet.io/number-of-resource-snapshots': '1' },
        },
        spec: { selectedResources: manifests },
      },
      writes,
    )
    .catch((e) => {
      if (!(e instanceof HubError && e.code === 409)) throw e;
    });
  return index;
}

async function overridesOf(objects: HubObjects, placement: string): Promise<Override[]> {
  const [cluster, namespaced] = await Promise.all([objects.listAll(clusterOverrideType, ''), objects.listAll(resourceOverrideType)]);
  const all: Override[] = [];
  for (const [kind, items] of [
    ['ClusterResourceOverride', cluster],
    ['ResourceOverride', namespaced],
  ] as const)
    for (const s of items) {
      const r = parseOverrideSpec(kind, s.object.spec);
      // Refused on write; one stored before that is skipped rather than failing every member.
      if (r.ok)
        all.push({ kind, name: s.object.metadata.name!, ...(s.object.metadata.namespace ? { namespace: s.object.metadata.namespace } : {}), spec: r.value });
    }
  return overridesOfPlacement(all, placement);
}

type PlacementStatus = { conditions?: Condition[]; placementStatuses?: { clusterName?: string; conditions?: Condition[] }[] };

async function writePlacementStatus(
  objects: HubObjects,
  name: string,
  build: (previous: PlacementStatus | undefined) => Record<string, unknown>,
): Promise<void> {
  await withRetry(async () => {
    const s = await objects.read(placementType, undefined, name);
    if (!s || s.object.metadata.deletionTimestamp) return;
    const previous = s.object.status as PlacementStatus | undefined;
    const built = build(previous);
    // The largest fleets' statuses are trimmed to fit one object (fitStatus says how).
    const status = Array.isArray(built.placementStatuses) ? fitStatus(built as { placementStatuses: Record<string, unknown>[] }) : built;
    if (JSON.stringify(status) === JSON.stringify(previous ?? {})) return;
    await objects.update(placementType, undefined, name, { ...s.object, status }, { ...writes, subresource: 'status', current: s });
  });
}
