// The embedded stack's member agents: one per member of a fleet with a hub whose cluster is a
// simulated AKS cluster, started when the member appears on its hub and stopped when it leaves (as
// Azure Fleet installs and removes its agents). Each runs the real agent (agent/memberAgent.ts):
// its token comes from the local managed-identity endpoint for the cluster's own resource id (so
// it carries the cluster's identity, and a new one after an identity change), and it applies work
// to the simulated cluster through the admin kubeconfig `listClusterAdminCredential` returns.
// A cluster tagged `fleet-local-agent: stopped` has its agent stopped (a dead agent, for tests and
// for trying what the fleet then shows); a cluster that is gone loses its agent too.
import { ContainerServiceClient } from '@azure/arm-containerservice';
import { ManagedIdentityCredential } from '@azure/identity';
import { KubeConfig } from '@kubernetes/client-node';
import { createHubClient } from '../agent/hubClient.js';
import { runMemberAgent } from '../agent/memberAgent.js';
import { createHubDirectory, createHubTableStore } from '../shared/azure/hubTableStore.js';
import { parseResourceId } from '../shared/domain/armIds.js';
import { builtInTypes } from '../shared/hub/kinds.js';
import { resourceKey } from '../shared/hub/objects.js';

export interface AgentSupervisorOptions {
  tablesConnectionString: string;
  armEndpoint: string;
  /** The fleet API's base URL: hubs answer under {api}/hubs/{name}. */
  apiUrl: string;
  audience: string;
  caPem: string;
  identityEndpoint: string;
  identityHeader: string;
  pollMs?: number;
  log?: (line: string) => void;
}

const memberClusters = builtInTypes.find((t) => t.kind === 'MemberCluster')!;
export const stoppedTag = 'fleet-local-agent';
const callTimeoutMs = 30_000;

interface Running {
  stop: AbortController;
  done: Promise<void>;
  /** The cluster's identity it started with: a new one restarts it, as AKS reconfigures its agent. */
  principal: string;
}

const principalOf = (mc: { identity?: { principalId?: string; userAssignedIdentities?: Record<string, { principalId?: string }> } }) =>
  mc.identity?.principalId ?? Object.values(mc.identity?.userAssignedIdentities ?? {})[0]?.principalId ?? '';

export function superviseAgents(options: AgentSupervisorOptions): { close(): Promise<void> } {
  // The agents' credentials read the identity endpoint from the environment, as in App Service.
  process.env.IDENTITY_ENDPOINT = options.identityEndpoint;
  process.env.IDENTITY_HEADER = options.identityHeader;
  const log = options.log ?? ((line: string) => console.log(line));
  const connection = { connectionString: options.tablesConnectionString };
  const directory = createHubDirectory(connection);
  const store = createHubTableStore(connection);
  const operator = new ManagedIdentityCredential();
  const aks = new Map<string, ContainerServiceClient>();
  const aksFor = (sub: string) => {
    let c = aks.get(sub);
    if (!c) {
      c = new ContainerServiceClient(operator, sub, { endpoint: options.armEndpoint });
      aks.set(sub, c);
    }
    return c;
  };
  const running = new Map<string, Running>();
  let closed = false;

  /**
   * The cluster as its agent needs it: its identity, and its admin kubeconfig (unless `runs`, its
   * agent running already); undefined when it is gone or its agent is to be stopped.
   */
  async function clusterOf(clusterId: string, runs: boolean): Promise<{ principal: string; kubeconfig?: KubeConfig } | undefined> {
    const id = parseResourceId(clusterId);
    if (!id) return undefined;
    const client = aksFor(id.subscriptionId);
    try {
      // A deadline on each call: one that hangs would hold every pass, and no new agent would start.
      const mc = await client.managedClusters.get(id.resourceGroup, id.name, { abortSignal: AbortSignal.timeout(callTimeoutMs) });
      if (mc.tags?.[stoppedTag] === 'stopped') return undefined;
      if (runs) return { principal: principalOf(mc) };
      const creds = await client.managedClusters.listClusterAdminCredentials(id.resourceGroup, id.name, { abortSignal: AbortSignal.timeout(callTimeoutMs) });
      const kubeconfig = new KubeConfig();
      kubeconfig.loadFromString(new TextDecoder().decode(creds.kubeconfigs![0].value!));
      return { principal: principalOf(mc), kubeconfig };
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  function start(key: string, hubName: string, memberName: string, clusterId: string, cluster: KubeConfig, principal: string) {
    const stop = new AbortController();
    const hub = createHubClient({
      server: `${options.apiUrl}/hubs/${hubName}`,
      caPem: options.caPem,
      audience: options.audience,
      credential: () => new ManagedIdentityCredential({ resourceId: clusterId }),
    });
    const done = runMemberAgent({ memberName, hub, cluster, signal: stop.signal, log: (line) => log(`[member-agent ${hubName}/${memberName}] ${line}`) }).catch(
      (e) => log(`[member-agent ${hubName}/${memberName}] stopped on an error: ${(e as Error).message}`),
    );
    running.set(key, { stop, done, principal });
    log(`[member-agents] started the agent of member ${memberName} (hub ${hubName}, cluster ${clusterId})`);
  }

  async function stopAgent(key: string, why: string) {
    const r = running.get(key);
    if (!r) return;
    running.delete(key);
    r.stop.abort();
    await r.done;
    log(`[member-agents] stopped the agent of ${key}: ${why}`);
  }

  async function pass() {
    const wanted = new Map<string, { hub: string; member: string; clusterId: string }>();
    for await (const { name, record } of directory.list()) {
      let continueToken: string | undefined;
      do {
        const page = await store
          .list({ name, table: record.table }, { resource: resourceKey(memberClusters), namespace: '' }, { limit: 1000, continueToken })
          .catch(() => ({ items: [], continueToken: undefined }));
        for (const s of page.items) {
          const clusterId = s.object.metadata.annotations?.['fleet.azure.com/cluster-resource-id'];
          if (clusterId) wanted.set(`${name}/${s.object.metadata.name}`, { hub: name, member: s.object.metadata.name!, clusterId });
        }
        continueToken = page.continueToken;
      } while (continueToken);
    }
    for (const key of [...running.keys()]) if (!wanted.has(key)) await stopAgent(key, 'the member left its fleet');
    await Promise.all(
      [...wanted].map(async ([key, w]) => {
        const cluster = await clusterOf(w.clusterId, running.has(key)).catch(() => null);
        if (cluster === null) return; // ARM did not answer: decide next time
        if (!cluster) return stopAgent(key, `its cluster is gone or tagged ${stoppedTag}: stopped`);
        const now = running.get(key);
        if (now && now.principal !== cluster.principal) {
          // Started again on the next pass, with a credential (and token) of the new identity.
          return stopAgent(key, `the cluster's identity changed (${now.principal} -> ${cluster.principal}); it starts again with the new one`);
        }
        if (cluster.kubeconfig && !closed) start(key, w.hub, w.member, w.clusterId, cluster.kubeconfig, cluster.principal);
      }),
    );
  }

  const loop = (async () => {
    while (!closed) {
      // Before the function app's first start there is no hubs table yet: nothing to run.
      await pass().catch((e) => {
        if (!/TableNotFound/.test((e as Error).message)) log(`[member-agents] ${(e as Error).message}`);
      });
      await new Promise((r) => setTimeout(r, options.pollMs ?? 2000));
    }
  })();

  return {
    async close() {
      closed = true;
      await Promise.all([...running.keys()].map((k) => stopAgent(k, 'the stack stops')));
      await loop;
    },
  };
}
