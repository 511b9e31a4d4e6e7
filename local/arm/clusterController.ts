// The simulated AKS cluster's controllers, small: what kube-controller-manager and the kubelets of
// a real cluster would do to a workload once it is written. Deployments, StatefulSets and
// DaemonSets get their pods and become ready a moment later, Jobs complete — except that an image
// on the reserved `.invalid` domain (RFC 2606) can never be pulled: its pods stay in
// ImagePullBackOff and the workload never becomes available, as on a real cluster.
import { createHash } from 'node:crypto';
import { clusterTypes, type KubeObject, type ResourceType } from '../../shared/hub/kinds.js';
import type { HubObjects } from '../../shared/hub/objects.js';
import { HubError } from '../../shared/hub/status.js';

const type = (kind: string) => clusterTypes.find((t) => t.kind === kind)!;
const podType = type('Pod');
const manager = { dryRun: false, fieldManager: 'kube-controller-manager' };

export const workloadKinds = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);

/** An image whose registry is on the `.invalid` domain cannot be pulled. */
export const unpullable = (image: string) => {
  const first = image.split('/')[0];
  return image.includes('/') && /\.invalid(:\d+)?$/i.test(first);
};

interface Container {
  name: string;
  image?: string;
}

const templateOf = (o: KubeObject) =>
  (o.spec as { template?: { metadata?: { labels?: Record<string, string> }; spec?: { containers?: Container[] } } } | undefined)?.template;
const containersOf = (o: KubeObject) => templateOf(o)?.spec?.containers ?? [];

/** The pods a workload should have: their names, in order. */
function desiredPods(o: KubeObject, nodes: string[]): { name: string; node: string }[] {
  const name = o.metadata.name!;
  const spec = (o.spec ?? {}) as { replicas?: number; completions?: number; parallelism?: number };
  const hash = createHash('sha256')
    .update(JSON.stringify(templateOf(o) ?? {}))
    .digest('hex')
    .slice(0, 10);
  const node = (i: number) => nodes[i % Math.max(1, nodes.length)] ?? '';
  switch (o.kind) {
    case 'Deployment':
      return Array.from({ length: spec.replicas ?? 1 }, (_, i) => ({ name: `${name}-${hash}-${i}`, node: node(i) }));
    case 'StatefulSet':
      return Array.from({ length: spec.replicas ?? 1 }, (_, i) => ({ name: `${name}-${i}`, node: node(i) }));
    case 'DaemonSet':
      return nodes.map((n, i) => ({ name: `${name}-${hash.slice(0, 5)}-${i}`, node: n }));
    default:
      return [{ name: `${name}-${hash.slice(0, 5)}`, node: node(0) }];
  }
}

function podFor(o: KubeObject, name: string, node: string, at: string, podIP: string | undefined): KubeObject {
  const template = templateOf(o);
  const containers = containersOf(o);
  const bad = containers.filter((c) => unpullable(c.image ?? ''));
  const job = o.kind === 'Job';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: o.metadata.namespace,
      labels: template?.metadata?.labels ?? {},
      ownerReferences: [{ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec: { ...(template?.spec ?? {}), nodeName: node },
    status: {
      phase: bad.length ? 'Pending' : job ? 'Succeeded' : 'Running',
      hostIP: '10.224.0.4',
      ...(podIP ? { podIP, podIPs: [{ ip: podIP }] } : {}),
      startTime: at,
      conditions: [{ type: 'Ready', status: bad.length || job ? 'False' : 'True', lastTransitionTime: at }],
      containerStatuses: containers.map((c) =>
        unpullable(c.image ?? '')
          ? {
              name: c.name,
              image: c.image,
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` } },
            }
          : job
            ? { name: c.name, image: c.image, ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: at } } }
            : { name: c.name, image: c.image, ready: true, restartCount: 0, state: { running: { startedAt: at } } },
      ),
    },
  };
}

/** The workload's status, from how many of its pods can run. */
function statusFor(o: KubeObject, pods: KubeObject[], at: string): Record<string, unknown> {
  const total = pods.length;
  const broken = containersOf(o).some((c) => unpullable(c.image ?? ''));
  const ready = broken ? 0 : total;
  const generation = o.metadata.generation;
  const condition = (t: string, status: boolean, reason: string, message: string) => ({
    type: t,
    status: status ? 'True' : 'False',
    lastUpdateTime: at,
    lastTransitionTime: at,
    reason,
    message,
  });
  switch (o.kind) {
    case 'Deployment':
      return {
        observedGeneration: generation,
        replicas: total,
        updatedReplicas: total,
        readyReplicas: ready,
        availableReplicas: ready,
        ...(broken ? { unavailableReplicas: total } : {}),
        conditions: [
          broken
            ? condition('Available', false, 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.')
            : condition('Available', true, 'MinimumReplicasAvailable', 'Deployment has minimum availability.'),
          condition(
            'Progressing',
            true,
            broken ? 'ReplicaSetUpdated' : 'NewReplicaSetAvailable',
            `ReplicaSet "${o.metadata.name}" ${broken ? 'is progressing' : 'has successfully progressed'}.`,
          ),
        ],
      };
    case 'StatefulSet':
      return {
        observedGeneration: generation,
        replicas: total,
        readyReplicas: ready,
        currentReplicas: total,
        updatedReplicas: total,
        availableReplicas: ready,
      };
    case 'DaemonSet':
      return {
        observedGeneration: generation,
        desiredNumberScheduled: total,
        currentNumberScheduled: total,
        numberReady: ready,
        numberAvailable: ready,
        updatedNumberScheduled: total,
        numberMisscheduled: 0,
        ...(broken ? { numberUnavailable: total } : {}),
      };
    default:
      return broken
        ? { startTime: at, active: total }
        : {
            startTime: at,
            completionTime: at,
            succeeded: total,
            conditions: [condition('Complete', true, 'Completed', 'Job completed')].map(({ lastUpdateTime: _, ...c }) => ({ ...c, lastProbeTime: at })),
          };
  }
}

/** Brings a workload's pods and status to what a cluster would show; a workload that is gone takes its pods. */
export async function reconcileWorkload(
  objects: HubObjects,
  t: ResourceType,
  namespace: string,
  name: string,
  nodes: string[],
  now: () => Date,
  /** An address of the cluster's pod range for the named pod (the data plane's). */
  podIP: (pod: string) => Promise<string | undefined>,
): Promise<void> {
  const at = now()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z');
  const current = await objects.read(t, namespace, name);
  const owned: KubeObject[] = [];
  let continueToken: string | undefined;
  do {
    const page = await objects.deps.store.list(objects.hub, { resource: 'core:pods', namespace }, { limit: 1000, continueToken });
    owned.push(
      ...page.items
        .map((p) => p.object)
        .filter((p) => (p.metadata.ownerReferences as { name?: string; kind?: string }[] | undefined)?.some((r) => r.kind === t.kind && r.name === name)),
    );
    continueToken = page.continueToken;
  } while (continueToken);
  const ignoreGone = (e: unknown) => {
    if (!(e instanceof HubError && (e.code === 404 || e.code === 409))) throw e;
  };
  const workload = current && !current.object.metadata.deletionTimestamp ? current.object : undefined;
  const desired = workload ? desiredPods(workload, nodes) : [];
  const wanted = new Set(desired.map((d) => d.name));
  const ownerUid = workload?.metadata.uid;
  for (const p of owned) {
    const stale = !wanted.has(p.metadata.name!) || (p.metadata.ownerReferences as { uid?: string }[])[0]?.uid !== ownerUid;
    if (stale) await objects.delete(podType, namespace, p.metadata.name!, { dryRun: false }).catch(ignoreGone);
  }
  if (!workload) return;
  const have = new Set(owned.filter((p) => (p.metadata.ownerReferences as { uid?: string }[])[0]?.uid === ownerUid).map((p) => p.metadata.name));
  const pods: KubeObject[] = [];
  for (const d of desired) {
    const pod = podFor(workload, d.name, d.node, at, have.has(d.name) ? undefined : await podIP(d.name));
    pods.push(pod);
    if (have.has(d.name)) continue;
    try {
      await objects.create(podType, namespace, { ...pod, status: undefined }, manager);
      await objects.update(podType, namespace, d.name, pod, { ...manager, subresource: 'status' });
    } catch (e) {
      ignoreGone(e);
    }
  }
  const fresh = await objects.read(t, namespace, name);
  if (!fresh) return;
  const status = statusFor(fresh.object, pods, at);
  await objects.update(t, namespace, name, { ...fresh.object, status }, { ...manager, subresource: 'status', current: fresh }).catch(ignoreGone);
}

/** Runs reconciles a moment after the writes that ask for them, once per object however many writes come. */
export function createController(options: { delayMs: number; run: (key: string) => Promise<void>; onError: (e: unknown) => void }) {
  const pending = new Map<string, NodeJS.Timeout>();
  return {
    schedule(key: string) {
      clearTimeout(pending.get(key));
      pending.set(
        key,
        setTimeout(() => {
          pending.delete(key);
          options.run(key).catch(options.onError);
        }, options.delayMs),
      );
    },
    stop() {
      for (const t of pending.values()) clearTimeout(t);
      pending.clear();
    },
  };
}
