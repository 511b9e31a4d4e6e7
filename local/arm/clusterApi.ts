// A Kubernetes API for every simulated AKS cluster, served by the hub's own Kubernetes API code
// (shared/hub) over a table of the cluster's own in Azurite, at
// https://{ARM emulator}/_clusters/{subscription}/{resource group}/{cluster}. What
// `az aks get-credentials` gets: listClusterAdminCredential (a static admin token, as AKS local
// accounts) and listClusterUserCredential (an exec plugin for an Entra token with AKS's server app
// as audience, as kubelogin). The cluster starts with its namespaces and one Node per agent-pool
// node; the small controller in clusterController.ts plays kube-controller-manager.
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createHubTableStore } from '../../shared/azure/hubTableStore.js';
import { defaultWatch, type HubCall, handleHubCall } from '../../shared/hub/api.js';
import { clusterTypes, crdType, type KubeObject } from '../../shared/hub/kinds.js';
import { memberNetworkingCrds } from '../../shared/hub/networking.js';
import { HubObjects } from '../../shared/hub/objects.js';
import { HubError, statusBody } from '../../shared/hub/status.js';
import type { HubRef } from '../../shared/hub/store.js';
import { wakingWatches } from '../../shared/hub/watchPolls.js';
import { createDataPlane } from '../dataplane/dataPlane.js';
import { createController, reconcileWorkload, workloadKinds } from './clusterController.js';
import type { Issuer } from './tokens.js';
import { defaultAgentPools, type SimCluster, type World } from './world.js';

/** The AKS AAD server application: the audience of Entra tokens for AKS API servers. */
export const aksServerAppId = '6dae42f8-4368-4678-94ff-3960e28e3630';

/** vCPUs and GiB of the VM sizes AKS node pools commonly use; others count as 4 vCPU / 16 GiB. */
const vmSizes: Record<string, [number, number]> = {
  standard_b2s: [2, 4],
  standard_ds2_v2: [2, 7],
  standard_d2s_v3: [2, 8],
  standard_d2s_v5: [2, 8],
  standard_d4s_v3: [4, 16],
  standard_d4s_v5: [4, 16],
  standard_d8s_v3: [8, 32],
  standard_d8s_v5: [8, 32],
  standard_d16s_v5: [16, 64],
  standard_e4s_v5: [4, 32],
};

/** A node as AKS reports it: allocatable is what the kubelet and system reserve leave. */
function nodeObject(cluster: SimCluster, pool: { name: string; vmSize: string }, index: number): KubeObject {
  const [cpu, gib] = vmSizes[pool.vmSize.toLowerCase()] ?? [4, 16];
  const name = `aks-${pool.name}-${createHash('sha256').update(`${cluster.subscriptionId}/${cluster.name}`).digest('hex').slice(0, 8)}-vmss${String(index).padStart(6, '0')}`;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.azure.com/agentpool': pool.name,
        'node.kubernetes.io/instance-type': pool.vmSize,
        'topology.kubernetes.io/region': cluster.location,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/hostname': name,
      },
    },
    spec: {
      providerID: `azure:///subscriptions/${cluster.subscriptionId}/resourceGroups/mc_${cluster.resourceGroup}_${cluster.name}/virtualMachineScaleSets/${name}`,
    },
    status: {
      capacity: { cpu: String(cpu), memory: `${gib * 1024 * 1024}Ki`, pods: '110' },
      allocatable: { cpu: `${cpu * 1000 - 140 - 60 * Math.max(0, cpu - 1)}m`, memory: `${Math.floor(gib * 1024 * 1024 * 0.78)}Ki`, pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
      nodeInfo: { kubeletVersion: `v${cluster.kubernetesVersion ?? '1.32.4'}`, osImage: 'Ubuntu 22.04.5 LTS', architecture: 'amd64', operatingSystem: 'linux' },
    },
  };
}

const nodeType = clusterTypes.find((t) => t.kind === 'Node')!;

/** Installs the CRDs a member cluster has from the agent's manifests (fleet-networking's member kinds) where they are missing (a cluster made before they shipped, too). */
async function installMemberCrds(objects: HubObjects) {
  for (const crd of memberNetworkingCrds)
    if (!(await objects.read(crdType, undefined, crd.metadata.name!)))
      await objects.create(crdType, undefined, crd, { dryRun: false, fieldManager: 'kubectl' });
}

/** What the data plane follows. */
const dataPlaneResources = new Set(['pods', 'services', 'endpointslices']);

/** The namespace and resource of /api/v1/namespaces/{ns}/{plural}... or /apis/{group}/{version}/namespaces/{ns}/{plural}... */
function namespacedPath(path: string[]): { namespace: string; plural: string } | undefined {
  const at = path[0] === 'api' ? 2 : path[0] === 'apis' ? 3 : -1;
  if (at < 0 || path[at] !== 'namespaces' || path.length < at + 3) return undefined;
  return { namespace: path[at + 1], plural: path[at + 2] };
}

export function createClusterApis(options: { world: World; issuer: Issuer; tablesConnectionString: string; caPem: string; base: () => string }) {
  // Every write to a simulated cluster comes through this process, and wakes its watches at once
  // (watchPolls.ts): so a watch that sees nothing polls every 5 s, not every second — a cluster's
  // API server costs the stack little while its agent watches it (agent/networkingLoop.ts).
  const store = wakingWatches(createHubTableStore({ connectionString: options.tablesConnectionString }));
  const deps = { store, now: () => new Date(), kinds: clusterTypes, watch: { ...defaultWatch, pollMs: 5000 } };
  const hubOf = (c: SimCluster): HubRef => ({ name: c.name, table: c.api!.table });
  const nodesOf = (c: SimCluster) =>
    (c.agentPoolProfiles ?? defaultAgentPools).flatMap((pool) => Array.from({ length: pool.count }, (_, i) => nodeObject(c, pool, i).metadata.name!));
  const find = (sub: string, rg: string, name: string) => options.world.get('managedCluster', sub, rg, name);
  const dataPlane = createDataPlane({ world: options.world, objectsOf: (c) => new HubObjects(deps, hubOf(c)), log: (line) => console.error(line) });
  const controller = createController({
    delayMs: 1000,
    onError: (e) => console.error(`[warning] simulated cluster controller: ${(e as Error).message}`),
    run: async (key) => {
      const [sub, rg, name, kind, namespace, objectName] = key.split('|');
      const c = find(sub, rg, name);
      if (!c?.api) return;
      const t = clusterTypes.find((x) => x.kind === kind)!;
      await reconcileWorkload(new HubObjects(deps, hubOf(c)), t, namespace, objectName, nodesOf(c), deps.now, (pod) => dataPlane.podIP(c, namespace, pod));
      dataPlane.schedule(c, namespace);
    },
  });
  void (async () => {
    for (const c of [...options.world.clusters.values()]) if (c.kind === 'managedCluster' && c.api) await installMemberCrds(new HubObjects(deps, hubOf(c)));
    await dataPlane.resume();
  })().catch((e) => console.error(`[warning] simulated clusters at start: ${(e as Error).message}`));

  // Callers asking at once for a cluster's first credentials (a user's get-credentials and the local
  // agent supervisor, say) share one making: each used to make its own table and admin token, and the
  // one whose world.put lost held a kubeconfig the cluster refused (401) for good, or wrote to a table
  // nobody read.
  const making = new Map<string, Promise<SimCluster>>();

  /** The cluster's API, made on first use: its table, namespaces and nodes. */
  async function ensureApi(c: SimCluster): Promise<SimCluster> {
    const now = find(c.subscriptionId, c.resourceGroup, c.name) ?? c;
    if (now.api) return now;
    const k = `${c.subscriptionId}|${c.resourceGroup}|${c.name}`.toLowerCase();
    let made = making.get(k);
    if (!made) {
      made = makeApi(now).finally(() => making.delete(k));
      making.set(k, made);
    }
    return made;
  }

  async function makeApi(c: SimCluster): Promise<SimCluster> {
    const seed = createHash('sha256').update(`${c.subscriptionId}/${c.resourceGroup}/${c.name}/${randomUUID()}`.toLowerCase()).digest('hex');
    const ready: SimCluster = { ...c, api: { table: `aks${seed.slice(0, 24)}`, adminToken: randomUUID().replaceAll('-', '') + seed.slice(24, 40) } };
    await store.createHub(hubOf(ready));
    const objects = new HubObjects(deps, hubOf(ready));
    await objects.bootstrap(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
    for (const pool of ready.agentPoolProfiles ?? defaultAgentPools)
      for (let i = 0; i < pool.count; i++) {
        const node = nodeObject(ready, pool, i);
        if (await objects.read(nodeType, undefined, node.metadata.name!)) continue;
        await objects.create(nodeType, undefined, { ...node, status: undefined }, { dryRun: false, fieldManager: 'kubelet' });
        await objects.update(nodeType, undefined, node.metadata.name!, node, { dryRun: false, fieldManager: 'kubelet', subresource: 'status' });
      }
    await installMemberCrds(objects);
    // Onto the cluster as it is now: a PUT (an identity change) may have landed while this ran, or
    // a DELETE (then nothing is put back).
    const current = find(c.subscriptionId, c.resourceGroup, c.name);
    if (!current) return ready;
    const latest: SimCluster = { ...current, api: ready.api };
    options.world.put(latest);
    return latest;
  }

  const server = (c: SimCluster) => `${options.base()}/_clusters/${c.subscriptionId}/${c.resourceGroup}/${c.name}`;

  /** The kubeconfig listClusterAdminCredential / listClusterUserCredential return (base64 in `value`). */
  async function kubeconfig(cluster: SimCluster, who: 'admin' | 'user'): Promise<{ name: string; value: string }> {
    const c = await ensureApi(cluster);
    const clusterName = c.name;
    const user =
      who === 'admin'
        ? { name: `clusterAdmin_${c.resourceGroup}_${c.name}`, user: { token: c.api!.adminToken } }
        : {
            name: `clusterUser_${c.resourceGroup}_${c.name}`,
            user: {
              exec: {
                apiVersion: 'client.authentication.k8s.io/v1',
                command: process.execPath,
                args: [fileURLToPath(new URL('../kubeCredential.js', import.meta.url)), '--audience', aksServerAppId],
                interactiveMode: 'IfAvailable',
                provideClusterInfo: false,
              },
            },
          };
    const config = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: clusterName, cluster: { server: server(c), 'certificate-authority-data': Buffer.from(options.caPem).toString('base64') } }],
      contexts: [{ name: who === 'admin' ? `${clusterName}-admin` : clusterName, context: { cluster: clusterName, user: user.name } }],
      'current-context': who === 'admin' ? `${clusterName}-admin` : clusterName,
      users: [user],
    };
    return { name: who === 'admin' ? 'clusterAdmin' : 'clusterUser', value: Buffer.from(stringify(config)).toString('base64') };
  }

  const send = (res: ServerResponse, status: number, body: unknown, contentType = 'application/json') => {
    res.writeHead(status, { 'content-type': contentType });
    res.end(typeof body === 'string' && !contentType.includes('json') ? body : JSON.stringify(body));
  };

  /** Serves /_clusters/{sub}/{rg}/{name}/{path...}. */
  async function handle(req: IncomingMessage, res: ServerResponse, parts: string[], url: URL): Promise<void> {
    try {
      const [sub, rg, name, ...path] = parts;
      const c = sub && rg && name ? find(sub, rg, name) : undefined;
      if (!c?.api) throw new HubError(404, 'NotFound', "no such cluster API: get the cluster's credentials first (listClusterAdminCredential)");
      const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const admitted =
        auth === c.api.adminToken ||
        (auth !== undefined &&
          (await options.issuer.verify(auth, [aksServerAppId]).then(
            () => true,
            () => false,
          )));
      if (!admitted) throw new HubError(401, 'Unauthorized', 'Unauthorized');
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const abort = new AbortController();
      res.on('close', () => abort.abort());
      const call: HubCall = {
        hub: hubOf(c),
        method: req.method ?? 'GET',
        path,
        query: url.searchParams,
        accept: req.headers.accept,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks),
        userAgent: req.headers['user-agent'],
        host: url.host,
        signal: abort.signal,
      };
      const result = await handleHubCall(deps, call);
      if ('events' in result) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        for await (const event of result.events) {
          if (abort.signal.aborted) break;
          res.write(`${JSON.stringify(event)}\n`);
        }
        res.end();
        return;
      }
      send(res, result.status, result.body, result.contentType);
      // A workload written: the controller brings its pods and status along a moment later.
      const target = path.length >= 6 && path[0] === 'apis' && path[3] === 'namespaces' ? { namespace: path[4], plural: path[5], name: path[6] } : undefined;
      if (target && req.method !== 'GET' && result.status < 300) {
        const t = clusterTypes.find((x) => x.plural === target.plural && workloadKinds.has(x.kind));
        const objectName = target.name ?? (result.body as KubeObject | undefined)?.metadata?.name;
        if (t && objectName) controller.schedule([c.subscriptionId, c.resourceGroup, c.name, t.kind, target.namespace, objectName].join('|'));
      }
      // Pods, Services and EndpointSlices written: the data plane of their namespace follows.
      const scoped = namespacedPath(path);
      if (scoped && req.method !== 'GET' && result.status < 300 && dataPlaneResources.has(scoped.plural)) dataPlane.schedule(c, scoped.namespace);
    } catch (e) {
      const error = e instanceof HubError ? e : new HubError(500, 'InternalError', (e as Error).message);
      if (!res.headersSent) send(res, error.code, statusBody(error));
      else res.end();
    }
  }

  return {
    handle,
    kubeconfig,
    async deleted(c: SimCluster) {
      await dataPlane.forget(c);
      if (c.api) await store.deleteHub(hubOf(c));
    },
    async close() {
      controller.stop();
      await dataPlane.close();
    },
  };
}
