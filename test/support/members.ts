// Simulated AKS clusters that join a hub fleet and run their member agents (npm start starts one
// per member), and what a test reads of them: MemberClusters through kubectl, the cluster's own
// objects through kubectl on its admin kubeconfig (listClusterAdminCredentials), as a user would.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerServiceClient } from '@azure/arm-containerservice';
import { DefaultAzureCredential } from '@azure/identity';
import { aks, fast, fleetClient, sub1 } from './clients.js';
import { fleetWithHub, type Kubectl, kubectlWith } from './kubectl.js';
import { until } from './until.js';

export function aksClient(env: Record<string, string>, subscriptionId = sub1) {
  process.env.IDENTITY_ENDPOINT = env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = env.IDENTITY_HEADER;
  return new ContainerServiceClient(new DefaultAzureCredential(), subscriptionId, { endpoint: env.ARM_ENDPOINT });
}

/** A new AKS cluster (system-assigned identity, one pool of `nodes`) in the simulated subscription 1. */
export async function createCluster(env: Record<string, string>, rg: string, name: string, nodes = 2, location = 'eastus'): Promise<string> {
  await aksClient(env).managedClusters.beginCreateOrUpdateAndWait(
    rg,
    name,
    { location, identity: { type: 'SystemAssigned' }, agentPoolProfiles: [{ name: 'pool1', count: nodes, vmSize: 'Standard_D2s_v3' }] },
    fast,
  );
  return aks(sub1, rg, name);
}

/** A new one-node cluster `aks-<member>` in `location`, joined to `fleet` as `member`; kubectl on it. */
export async function addClusterMember(env: Record<string, string>, rg: string, fleet: string, member: string, location: string): Promise<Kubectl> {
  await joinFleet(env, rg, fleet, member, await createCluster(env, rg, `aks-${member}`, 1, location));
  return clusterKubectl(env, rg, `aks-${member}`);
}

/** Gives the cluster a user-assigned identity (az aks update --assign-identity): returns its principal. */
export async function changeIdentity(env: Record<string, string>, rg: string, name: string, identityName: string): Promise<string> {
  const client = aksClient(env);
  const current = await client.managedClusters.get(rg, name);
  const uami = `/subscriptions/${sub1}/resourceGroups/${rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${identityName}`;
  const next = await client.managedClusters.beginCreateOrUpdateAndWait(
    rg,
    name,
    { ...current, identity: { type: 'UserAssigned', userAssignedIdentities: { [uami]: {} } } },
    fast,
  );
  return Object.values(next.identity!.userAssignedIdentities!)[0].principalId!;
}

/** kubectl on the cluster itself, with the admin kubeconfig ARM hands out. */
export async function clusterKubectl(env: Record<string, string>, rg: string, name: string, subscriptionId = sub1): Promise<Kubectl> {
  const creds = await aksClient(env, subscriptionId).managedClusters.listClusterAdminCredentials(rg, name);
  const file = join(mkdtempSync(join(process.env.FLEET_TEST_DIR ?? '/tmp', 'cluster-')), 'config');
  writeFileSync(file, Buffer.from(creds.kubeconfigs![0].value!));
  return kubectlWith(file, env);
}

export async function joinFleet(env: Record<string, string>, rg: string, fleet: string, member: string, clusterId: string) {
  await fleetClient(env).fleetMembers.create(rg, fleet, member, { properties: { clusterResourceId: clusterId } }, fast);
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface MemberClusterView {
  metadata: { resourceVersion: string };
  spec: { identity: { name: string } };
  status?: {
    conditions?: Condition[];
    properties?: Record<string, { value: string }>;
    resourceUsage?: { allocatable?: { cpu: string; memory: string }; available?: { cpu: string; memory: string } };
    agentStatus?: { type: string; lastReceivedHeartbeat: string; conditions: Condition[] }[];
  };
}

export async function getJson<T>(k: Kubectl, args: string): Promise<T> {
  const r = await k(`${args} -o json`);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as T;
}

export const memberCluster = (k: Kubectl, name: string) => getJson<MemberClusterView>(k, `get membercluster ${name}`);
/** A member's InternalMemberCluster: its status is the agent's latest report (the MemberCluster's, the last change). */
export const internalMemberCluster = (k: Kubectl, name: string) => getJson<MemberClusterView>(k, `get internalmembercluster ${name} -n fleet-member-${name}`);
export const conditionOf = (mc: MemberClusterView, type: string) => mc.status?.conditions?.find((c) => c.type === type);

/** Waits until the member's agent has reported: joined and healthy. */
export async function untilJoined(k: Kubectl, name: string, within = 40_000) {
  return until(
    async () => {
      const mc = await memberCluster(k, name);
      return conditionOf(mc, 'Joined')?.status === 'True' && conditionOf(mc, 'Healthy')?.status === 'True' && mc;
    },
    { within, every: 500, what: `member ${name}'s agent to join and report healthy` },
  );
}

/** A fleet with a hub and one joined member whose agent reports: where each identity story starts. */
export async function joinedMember(env: Record<string, string>, rg: string): Promise<{ hub: Kubectl; clusterId: string }> {
  const hub = await fleetWithHub(env, rg, 'fleet');
  const clusterId = await createCluster(env, rg, 'aks-1', 1);
  await joinFleet(env, rg, 'fleet', 'm1', clusterId);
  await untilJoined(hub, 'm1');
  return { hub, clusterId };
}

/** Waits until the hub accepts m1's agent again as `principal`, with a heartbeat after `since`. */
export async function untilAccepted(hub: Kubectl, principal: string, since: number, within: number) {
  return until(
    async () => {
      const mc = await memberCluster(hub, 'm1');
      const beat = mc.status?.agentStatus?.[0]?.lastReceivedHeartbeat;
      return (
        mc.spec.identity.name === principal && conditionOf(mc, 'AgentIdentityAccepted')?.status === 'True' && beat && Date.parse(beat) >= since - 1000 && mc
      );
    },
    { within, every: 500, what: `the agent accepted again as ${principal}` },
  );
}
