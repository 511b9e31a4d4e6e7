// The simulated clusters' data plane, as Azure CNI and an Azure load balancer give a real AKS
// cluster one: pods get addresses of their cluster's own pod range and answer real TCP on their
// ports (the kubelet's and the container's part); Services with a selector get EndpointSlices that
// follow the ready pods (kube-controller-manager's endpointslice controller); a Service of type
// LoadBalancer gets a frontend address that sends each connection to one of the ready endpoints of
// the EndpointSlices labelled with its name, whichever cluster those pods run in (the cloud
// provider's and kube-proxy's part). Level-triggered: a reconcile of a namespace reads its pods,
// Services and EndpointSlices and makes the sockets and objects match; writes schedule one.
import { randomBytes } from 'node:crypto';
import { clusterTypes, eventType, type KubeObject } from '../../shared/hub/kinds.js';
import type { HubObjects } from '../../shared/hub/objects.js';
import { HubError } from '../../shared/hub/status.js';
import type { SimCluster, World } from '../arm/world.js';
import { dotted, frontendRange, ip, nextFree, podRange, podRanges } from './addresses.js';
import { claimAddress, createListeners, type ListenFailure, loopbackRangeUsable } from './listeners.js';
import { type Backend, createContainerResponder, loadBalancedConnection, type PodIdentity } from './traffic.js';

const typeOf = (kind: string) => clusterTypes.find((t) => t.kind === kind)!;
const podType = typeOf('Pod');
const serviceType = typeOf('Service');
const sliceType = typeOf('EndpointSlice');
const namespaceType = typeOf('Namespace');

/** kube-controller-manager's endpointslice controller marks the slices it owns with this. */
export const sliceManager = 'endpointslice-controller.k8s.io';
const serviceNameLabel = 'kubernetes.io/service-name';
const managedByLabel = 'endpointslice.kubernetes.io/managed-by';

/** Why a load balancer port does not listen, as LoadBalancerIngress.ports[].error carries it (a provider's own CamelCase reasons). */
const portErrors: Record<string, string> = {
  EACCES: 'local.fleet.azure.com/PrivilegedPort',
  EADDRNOTAVAIL: 'local.fleet.azure.com/AddressNotAvailable',
  EADDRINUSE: 'local.fleet.azure.com/PortInUse',
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  appProtocol?: string;
  targetPort?: number | string;
}
interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

const portsOf = (svc: KubeObject): ServicePort[] =>
  ((isObj(svc.spec) && Array.isArray(svc.spec.ports) ? svc.spec.ports : []) as ServicePort[]).filter((p) => (p.protocol ?? 'TCP') === 'TCP');
const selectorOf = (svc: KubeObject) => (isObj(svc.spec) && isObj(svc.spec.selector) ? (svc.spec.selector as Record<string, string>) : undefined);
const containerPortsOf = (pod: KubeObject): ContainerPort[] =>
  (isObj(pod.spec) && Array.isArray(pod.spec.containers) ? pod.spec.containers : []).flatMap((c: Obj) =>
    Array.isArray(c.ports) ? (c.ports as ContainerPort[]) : [],
  );
const podIpOf = (pod: KubeObject) => (isObj(pod.status) && typeof pod.status.podIP === 'string' ? pod.status.podIP : undefined);
const isReady = (pod: KubeObject) =>
  !pod.metadata.deletionTimestamp &&
  isObj(pod.status) &&
  pod.status.phase === 'Running' &&
  Array.isArray(pod.status.conditions) &&
  (pod.status.conditions as { type?: string; status?: string }[]).some((c) => c.type === 'Ready' && c.status === 'True');
const selects = (selector: Record<string, string>, pod: KubeObject) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => pod.metadata.labels?.[k] === v);

/** A Service port's target on this pod: a number, or the container port of that name (undefined: the pod has none). */
function targetOn(pod: KubeObject, p: ServicePort): number | undefined {
  const target = p.targetPort ?? p.port;
  if (typeof target === 'number') return target;
  if (/^\d+$/.test(target)) return Number(target);
  return containerPortsOf(pod).find((c) => c.name === target)?.containerPort;
}

/** The EndpointSlices a Service with a selector should have: one per set of resolved ports (named target ports can differ by pod). */
export function desiredSlices(svc: KubeObject, pods: KubeObject[]): { ports: Obj[]; endpoints: Obj[] }[] {
  const selector = selectorOf(svc);
  if (!selector) return [];
  const groups = new Map<string, { ports: Obj[]; endpoints: Obj[] }>();
  for (const pod of pods) {
    const address = podIpOf(pod);
    if (!address || !selects(selector, pod) || pod.metadata.deletionTimestamp) continue;
    if (isObj(pod.status) && (pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed')) continue;
    const ports = portsOf(svc).flatMap((p) => {
      const port = targetOn(pod, p);
      return port === undefined ? [] : [{ name: p.name ?? '', port, protocol: p.protocol ?? 'TCP', ...(p.appProtocol ? { appProtocol: p.appProtocol } : {}) }];
    });
    const key = JSON.stringify(ports);
    const group = groups.get(key) ?? { ports: ports as Obj[], endpoints: [] as Obj[] };
    const ready = isReady(pod);
    group.endpoints.push({
      addresses: [address],
      conditions: { ready, serving: ready, terminating: false },
      ...(isObj(pod.spec) && typeof pod.spec.nodeName === 'string' ? { nodeName: pod.spec.nodeName } : {}),
      targetRef: { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
    });
    groups.set(key, group);
  }
  // Endpoints in a stable order, so that an unchanged set of pods writes nothing.
  return [...groups.values()].map((g) => ({
    ...g,
    endpoints: g.endpoints.sort((a, b) => String((a.addresses as string[])[0]).localeCompare(String((b.addresses as string[])[0]))),
  }));
}

/** The ready endpoints of a namespace's EndpointSlices, by Service name and port name (kube-proxy's view). */
export function backendsOf(slices: KubeObject[]): Map<string, Map<string, Backend[]>> {
  const byService = new Map<string, Map<string, Backend[]>>();
  for (const slice of slices) {
    const service = slice.metadata.labels?.[serviceNameLabel];
    if (!service || slice.addressType !== 'IPv4' || slice.metadata.deletionTimestamp) continue;
    const ports = (Array.isArray(slice.ports) ? slice.ports : []) as { name?: string; port?: number; protocol?: string }[];
    const endpoints = (Array.isArray(slice.endpoints) ? slice.endpoints : []) as { addresses?: string[]; conditions?: { ready?: boolean } }[];
    const byPort = byService.get(service) ?? new Map<string, Backend[]>();
    for (const p of ports) {
      if ((p.protocol ?? 'TCP') !== 'TCP' || typeof p.port !== 'number') continue;
      const list = byPort.get(p.name ?? '') ?? [];
      // As consumers read EndpointSlices: no ready condition means ready.
      for (const e of endpoints) if (e.conditions?.ready !== false) for (const a of e.addresses ?? []) list.push({ ip: a, port: p.port });
      byPort.set(p.name ?? '', list);
    }
    byService.set(service, byPort);
  }
  return byService;
}

export interface DataPlaneOptions {
  world: World;
  /** The objects of a cluster's API (its table). */
  objectsOf: (c: SimCluster) => HubObjects;
  log: (line: string) => void;
  /** How long after a write its namespace is reconciled (writes in between share the reconcile). */
  delayMs?: number;
}

export type DataPlane = ReturnType<typeof createDataPlane>;

export function createDataPlane(o: DataPlaneOptions) {
  const listeners = createListeners();
  const delayMs = o.delayMs ?? 50;
  const clusterKey = (c: Pick<SimCluster, 'subscriptionId' | 'resourceGroup' | 'name'>) => `${c.subscriptionId}|${c.resourceGroup}|${c.name}`.toLowerCase();
  const current = (key: string) => [...o.world.clusters.values()].find((c) => c.kind === 'managedCluster' && clusterKey(c) === key);

  // ---- addresses ------------------------------------------------------------------------------

  // Addresses are shared by every stack on the machine: a pod range and a frontend are this
  // stack's only once claimed (claimAddress), so that two stacks (tests run several) never listen
  // on the same pod or frontend address.
  const claims = new Map<string, () => Promise<void>>();
  async function claim(ip: string): Promise<boolean> {
    if (claims.has(ip)) return true;
    const release = await claimAddress(ip);
    if (!release) return false;
    claims.set(ip, release);
    return true;
  }
  async function unclaim(ip: string) {
    const release = claims.get(ip);
    claims.delete(ip);
    await release?.();
  }
  /** A range is claimed by its network address (never a pod's). */
  const rangeAddress = (index: number) => dotted(podRange(index).first - 1);

  /** The cluster's pod range index: the one the world's state keeps, unless another stack has it; else the lowest free. */
  const ranges = new Map<string, Promise<number | undefined>>();
  function rangeIndexOf(key: string): Promise<number | undefined> {
    let index = ranges.get(key);
    if (!index) {
      index = pickRange(key);
      ranges.set(key, index);
      index.then(
        (i) => i === undefined && ranges.delete(key),
        () => ranges.delete(key),
      );
    }
    return index;
  }
  async function pickRange(key: string): Promise<number | undefined> {
    const c = current(key);
    if (!c?.api) return undefined;
    if (c.api.podRange !== undefined && (await claim(rangeAddress(c.api.podRange)))) return c.api.podRange;
    const used = new Set([...o.world.clusters.values()].filter((x) => x !== c).map((x) => x.api?.podRange));
    for (let index = 0; index < podRanges; index++) {
      if (used.has(index) || !(await claim(rangeAddress(index)))) continue;
      const now = current(key);
      if (!now?.api) return undefined;
      if (now.api.podRange !== undefined)
        o.log(
          `[warning] simulated data plane: ${now.name}'s pod range ${podRange(now.api.podRange).cidr} is another stack's now; new pods get addresses of ${podRange(index).cidr}`,
        );
      o.world.put({ ...now, api: { ...now.api, podRange: index } });
      return index;
    }
    return undefined;
  }

  /** Per cluster: the pod addresses handed out (address → namespace/name, and when), seeded from its pods. */
  const allocators = new Map<string, Promise<Map<string, { pod: string; at: number }>>>();
  const allocatorOf = (c: SimCluster) => {
    const key = clusterKey(c);
    let a = allocators.get(key);
    if (!a) {
      a = o
        .objectsOf(c)
        .listAll(podType)
        .then((pods) => {
          const taken = new Map<string, { pod: string; at: number }>();
          for (const { object } of pods) {
            const address = podIpOf(object);
            if (address) taken.set(address, { pod: `${object.metadata.namespace}/${object.metadata.name}`, at: 0 });
          }
          return taken;
        });
      a.catch(() => allocators.delete(key));
      allocators.set(key, a);
    }
    return a;
  };

  /** An address of the cluster's pod range for a new pod (undefined when the range is full). */
  async function podIP(c: SimCluster, namespace: string, name: string): Promise<string | undefined> {
    const index = await rangeIndexOf(clusterKey(c));
    if (index === undefined) return undefined;
    const taken = await allocatorOf(c);
    const pod = `${namespace}/${name}`;
    for (const [address, owner] of taken) if (owner.pod === pod) return address;
    const address = nextFree(podRange(index), new Set(taken.keys()));
    if (address) taken.set(address, { pod, at: Date.now() });
    return address;
  }

  /** Gives back the addresses of a namespace's pods that are gone (not those handed out a moment ago, whose pod may not be written yet). */
  async function releaseGone(c: SimCluster, namespace: string, pods: KubeObject[]) {
    const taken = await allocatorOf(c);
    const live = new Set(pods.map((p) => `${namespace}/${p.metadata.name}`));
    for (const [address, owner] of taken)
      if (owner.pod.startsWith(`${namespace}/`) && !live.has(owner.pod) && Date.now() - owner.at > 30_000) taken.delete(address);
  }

  /** The frontend address of a LoadBalancer Service, given once and kept in the world's state until the Service goes. */
  async function frontendOf(key: string, svc: KubeObject): Promise<string | undefined> {
    const c = current(key);
    if (!c?.api) return undefined;
    const uid = svc.metadata.uid!;
    const have = c.api.frontends?.[uid];
    if (have && (await claim(have.ip))) return have.ip;
    const taken = new Set([...o.world.clusters.values()].flatMap((x) => Object.values(x.api?.frontends ?? {}).map((f) => f.ip)));
    for (;;) {
      const address = nextFree(frontendRange, taken);
      if (!address) return undefined;
      taken.add(address);
      if (!(await claim(address))) continue; // another stack's
      const now = current(key);
      if (!now?.api) return undefined;
      const entry = { ip: address, namespace: svc.metadata.namespace!, service: svc.metadata.name! };
      o.world.put({ ...now, api: { ...now.api, frontends: { ...now.api.frontends, [uid]: entry } } });
      return address;
    }
  }

  /** Frees the frontends of a namespace's LoadBalancer Services that are gone (or no longer LoadBalancers). */
  function releaseFrontends(key: string, namespace: string, keep: Set<string>) {
    const c = current(key);
    if (!c?.api?.frontends) return;
    const kept = Object.fromEntries(Object.entries(c.api.frontends).filter(([uid, f]) => f.namespace !== namespace || keep.has(uid)));
    if (Object.keys(kept).length === Object.keys(c.api.frontends).length) return;
    const freed = Object.values(c.api.frontends).filter((f) => !Object.values(kept).includes(f));
    o.world.put({ ...c, api: { ...c.api, frontends: kept } });
    for (const f of freed) void unclaim(f.ip);
  }

  // ---- sockets ----------------------------------------------------------------------------------

  /** Who answers at each pod address and port ("ip:port"). */
  const answering = new Map<string, PodIdentity>();
  const respond = createContainerResponder((k) => answering.get(k));
  /** The sockets each cluster namespace opened, so a reconcile closes what it no longer wants. */
  const opened = new Map<string, Set<string>>();
  /** kube-proxy's view: per cluster namespace, the ready backends of each Service's ports. */
  const backends = new Map<string, Map<string, Map<string, Backend[]>>>();
  /** Failures logged once per socket, not at every reconcile. */
  const reported = new Set<string>();

  async function listen(scope: string, want: Set<string>, address: string, port: number, accept: Parameters<typeof listeners.ensure>[2]) {
    const k = `${address}:${port}`;
    want.add(k);
    const failure = await listeners.ensure(address, port, accept);
    if (failure && !reported.has(k)) {
      reported.add(k);
      o.log(`[warning] simulated data plane (${scope.split('|').slice(2).join('/')}): cannot listen on ${k}: ${failure.message}${hint(failure)}`);
    }
    return failure;
  }

  async function closeUnwanted(scope: string, want: Set<string>) {
    for (const k of opened.get(scope) ?? []) {
      if (want.has(k)) continue;
      const [address, port] = [k.slice(0, k.lastIndexOf(':')), Number(k.slice(k.lastIndexOf(':') + 1))];
      answering.delete(k);
      reported.delete(k);
      await listeners.close(address, port);
    }
    opened.set(scope, want);
  }

  // ---- reconcile --------------------------------------------------------------------------------

  const ignoreGone = (e: unknown) => {
    if (!(e instanceof HubError && (e.code === 404 || e.code === 409))) throw e;
  };
  /** A write that another writer got to first (or whose object is gone) counts as not written: the next reconcile sees what won. */
  const unlessGone = (e: unknown): undefined => {
    ignoreGone(e);
    return undefined;
  };

  async function reconcile(key: string, namespace: string) {
    const c = current(key);
    const scope = `${key}|${namespace}`;
    if (!c?.api) {
      await closeUnwanted(scope, new Set());
      return;
    }
    const objects = o.objectsOf(c);
    const [pods, services, slices] = (
      await Promise.all([objects.listAll(podType, namespace), objects.listAll(serviceType, namespace), objects.listAll(sliceType, namespace)])
    ).map((list) => list.map((s) => s.object));
    await releaseGone(c, namespace, pods);
    const live = services.filter((s) => !s.metadata.deletionTimestamp);

    // kube-controller-manager: the EndpointSlices of Services with a selector.
    const finalSlices = slices.filter((s) => s.metadata.labels?.[managedByLabel] !== sliceManager);
    for (const svc of live) {
      if (!selectorOf(svc) || (isObj(svc.spec) && svc.spec.type === 'ExternalName')) continue;
      const mine = slices.filter((s) => s.metadata.labels?.[managedByLabel] === sliceManager && s.metadata.labels?.[serviceNameLabel] === svc.metadata.name);
      const desired = desiredSlices(svc, pods);
      for (let i = 0; i < Math.max(desired.length, mine.length); i++) {
        const want = desired[i];
        const have = mine[i];
        if (!want) {
          await objects.delete(sliceType, namespace, have.metadata.name!, { dryRun: false }).catch(ignoreGone);
          continue;
        }
        const body: KubeObject = {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            ...(have ? { name: have.metadata.name } : { name: `${svc.metadata.name}-${randomBytes(4).toString('hex').slice(0, 5)}` }),
            namespace,
            labels: { [serviceNameLabel]: svc.metadata.name!, [managedByLabel]: sliceManager },
            ownerReferences: [
              { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, uid: svc.metadata.uid, controller: true, blockOwnerDeletion: true },
            ],
          },
          addressType: 'IPv4',
          endpoints: want.endpoints,
          ports: want.ports,
        };
        if (have && JSON.stringify([have.endpoints, have.ports]) === JSON.stringify([want.endpoints, want.ports])) {
          finalSlices.push(have);
          continue;
        }
        const written = have
          ? await objects
              .update(
                sliceType,
                namespace,
                have.metadata.name!,
                { ...body, metadata: { ...have.metadata, ...body.metadata } },
                { dryRun: false, fieldManager: 'kube-controller-manager' },
              )
              .catch(unlessGone)
          : await objects.create(sliceType, namespace, body, { dryRun: false, fieldManager: 'kube-controller-manager' }).catch(unlessGone);
        if (written) finalSlices.push(written);
      }
    }
    // Slices of Services that are gone (their owner): garbage, as the garbage collector would take them.
    const selectorServices = new Set(live.filter((s) => selectorOf(s)).map((s) => s.metadata.name));
    for (const s of slices)
      if (s.metadata.labels?.[managedByLabel] === sliceManager && !selectorServices.has(s.metadata.labels?.[serviceNameLabel]))
        await objects.delete(sliceType, namespace, s.metadata.name!, { dryRun: false }).catch(ignoreGone);

    const want = new Set<string>();
    // The kubelet and the containers: a ready pod answers on its container ports and on the target port of every Service selecting it.
    for (const pod of pods) {
      const address = podIpOf(pod);
      if (!address || !isReady(pod)) continue;
      const ports = new Set(
        containerPortsOf(pod)
          .filter((p) => (p.protocol ?? 'TCP') === 'TCP')
          .map((p) => p.containerPort),
      );
      for (const svc of live) {
        const selector = selectorOf(svc);
        if (selector && selects(selector, pod)) for (const p of portsOf(svc)) ports.add(targetOn(pod, p) ?? -1);
      }
      ports.delete(-1);
      const who: PodIdentity = {
        cluster: c.name,
        namespace,
        pod: pod.metadata.name!,
        node: isObj(pod.spec) && typeof pod.spec.nodeName === 'string' ? pod.spec.nodeName : '',
        podIP: address,
      };
      for (const port of ports) {
        answering.set(`${address}:${port}`, who);
        await listen(scope, want, address, port, respond);
      }
    }

    // The cloud provider and kube-proxy: a LoadBalancer Service's frontend, sending each connection to a ready endpoint.
    backends.set(scope, backendsOf(finalSlices));
    const keepFrontends = new Set<string>();
    for (const svc of live) {
      if (!isObj(svc.spec) || svc.spec.type !== 'LoadBalancer') continue;
      const uid = svc.metadata.uid!;
      keepFrontends.add(uid);
      const address = await frontendOf(key, svc);
      if (!address) continue;
      const failed: { port: number; protocol: string; error: string }[] = [];
      for (const p of portsOf(svc)) {
        const name = svc.metadata.name!;
        const failure = await listen(
          scope,
          want,
          address,
          p.port,
          loadBalancedConnection(
            () =>
              backends
                .get(scope)
                ?.get(name)
                ?.get(p.name ?? '') ?? [],
          ),
        );
        if (failure) failed.push({ port: p.port, protocol: 'TCP', error: portErrors[failure.code] ?? `local.fleet.azure.com/${failure.code}` });
      }
      const loadBalancer = { ingress: [{ ip: address, ipMode: 'VIP', ...(failed.length ? { ports: failed } : {}) }] };
      const status = isObj(svc.status) ? svc.status : {};
      if (JSON.stringify(status.loadBalancer) !== JSON.stringify(loadBalancer)) {
        const first = !isObj(status.loadBalancer) || !Array.isArray(status.loadBalancer.ingress);
        await objects
          .update(
            serviceType,
            namespace,
            svc.metadata.name!,
            { ...svc, status: { ...status, loadBalancer } },
            {
              dryRun: false,
              fieldManager: 'cloud-controller-manager',
              subresource: 'status',
            },
          )
          .catch(ignoreGone);
        if (first) await event(objects, svc, 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer');
        for (const f of failed)
          await event(objects, svc, 'Warning', 'SyncLoadBalancerFailed', `Error syncing load balancer: cannot listen on ${address}:${f.port} (${f.error})`);
      }
    }
    await closeUnwanted(scope, want);
    releaseFrontends(key, namespace, keepFrontends);
  }

  async function event(objects: HubObjects, svc: KubeObject, type: string, reason: string, message: string) {
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await objects
      .create(
        eventType,
        svc.metadata.namespace,
        {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { name: `${svc.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: svc.metadata.namespace },
          involvedObject: { apiVersion: 'v1', kind: 'Service', name: svc.metadata.name, namespace: svc.metadata.namespace, uid: svc.metadata.uid },
          type,
          reason,
          message,
          source: { component: 'service-controller' },
          reportingComponent: 'service-controller',
          firstTimestamp: at,
          lastTimestamp: at,
          count: 1,
        },
        { dryRun: false, fieldManager: 'cloud-controller-manager' },
      )
      .catch(() => undefined);
  }

  // ---- scheduling -------------------------------------------------------------------------------

  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Map<string, Promise<void>>();
  const again = new Set<string>();
  let closed = false;
  function run(scope: string) {
    if (running.has(scope)) {
      again.add(scope);
      return;
    }
    const [sub, rg, name, namespace] = scope.split('|');
    const done = reconcile(`${sub}|${rg}|${name}`, namespace)
      .catch((e) => o.log(`[warning] simulated data plane: ${scope}: ${(e as Error).message}`))
      .finally(() => {
        running.delete(scope);
        if (again.delete(scope) && !closed) schedule({ subscriptionId: sub, resourceGroup: rg, name }, namespace);
      });
    running.set(scope, done);
  }
  function schedule(c: Pick<SimCluster, 'subscriptionId' | 'resourceGroup' | 'name'>, namespace: string) {
    if (closed) return;
    const scope = `${clusterKey(c)}|${namespace}`;
    clearTimeout(timers.get(scope));
    timers.set(
      scope,
      setTimeout(() => {
        timers.delete(scope);
        run(scope);
      }, delayMs),
    );
  }

  return {
    podIP,
    schedule,
    /** After a start: every namespace of every cluster with an API, so that what was listening listens again. */
    async resume() {
      const probe = dotted(ip(podRange(0).cidr.split('/')[0]) + 1);
      const failure = await loopbackRangeUsable(probe);
      if (failure)
        o.log(
          `[warning] simulated data plane: cannot listen on ${probe} (${failure.message}): pods get addresses but do not answer, load balancers say why in their status (docs/dataplane.md)`,
        );
      for (const c of [...o.world.clusters.values()]) {
        if (c.kind !== 'managedCluster' || !c.api) continue;
        const namespaces = await o
          .objectsOf(c)
          .listAll(namespaceType)
          .catch(() => []);
        for (const ns of namespaces) schedule(c, ns.object.metadata.name!);
      }
    },
    /** A cluster deleted: its sockets close. */
    async forget(c: SimCluster) {
      const key = clusterKey(c);
      allocators.delete(key);
      ranges.delete(key);
      for (const scope of [...opened.keys()]) if (scope.startsWith(`${key}|`)) await closeUnwanted(scope, new Set());
      if (c.api?.podRange !== undefined) await unclaim(rangeAddress(c.api.podRange));
      for (const f of Object.values(c.api?.frontends ?? {})) await unclaim(f.ip);
    },
    async close() {
      closed = true;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      await Promise.allSettled(running.values());
      await listeners.closeAll();
      for (const ip of [...claims.keys()]) await unclaim(ip);
    },
  };
}

function hint(f: ListenFailure): string {
  if (f.code === 'EACCES') return ' (ports below 1024 need root or net.ipv4.ip_unprivileged_port_start=0; docs/dataplane.md)';
  if (f.code === 'EADDRNOTAVAIL') return ' (this system does not route 127.0.0.0/8 to loopback; docs/dataplane.md)';
  return '';
}
