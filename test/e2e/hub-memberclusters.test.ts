// MemberCluster: the hub's view of the ARM members, as Azure writes it, with labels that have one
// source of truth (kubectl label shows in ARM, an ARM PATCH shows in kubectl).
import { ContainerServiceClient } from '@azure/arm-containerservice';
import { DefaultAzureCredential } from '@azure/identity';
import { beforeAll, expect, it } from 'vitest';
import { arm, eastus1, fast, fleetClient, fleetPath, sub1, westeurope1 } from '../support/clients.js';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

const stack = useStack();
let k: Kubectl;
const preview = '2025-04-01-preview';
const memberPath = (name: string) => `${fleetPath('rg-mc', 'fleet-mc')}/members/${name}`;

beforeAll(async () => {
  k = await fleetWithHub(stack.env, 'rg-mc', 'fleet-mc');
  const client = fleetClient(stack.env);
  await client.fleetMembers.create('rg-mc', 'fleet-mc', 'east', { properties: { clusterResourceId: eastus1 } }, fast);
  await client.fleetMembers.create('rg-mc', 'fleet-mc', 'west', { properties: { clusterResourceId: westeurope1 } }, fast);
}, 60_000);

const json = async (args: string) => {
  const r = await k(`${args} -o json`);
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
};

async function finished(path: string, res: { headers: Headers }) {
  const op = res.headers.get('azure-asyncoperation');
  if (!op) return;
  await until(async () => (await arm(stack.env, 'GET', memberPath(path), { apiVersion: preview })).body.properties.provisioningState !== 'Updating', {
    within: 10_000,
    what: 'the member update',
  });
}

it('shows each joined member as a MemberCluster with its namespace and InternalMemberCluster', async () => {
  const east = await json('get membercluster east');
  process.env.IDENTITY_ENDPOINT = stack.env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = stack.env.IDENTITY_HEADER;
  const aks = new ContainerServiceClient(new DefaultAzureCredential(), sub1, { endpoint: stack.env.ARM_ENDPOINT });
  const cluster = await aks.managedClusters.get('rg-eastus', 'aks-eastus-1');
  expect(east.metadata.labels).toEqual({
    'fleet.azure.com/location': 'eastus',
    'fleet.azure.com/resource-group': 'rg-eastus',
    'fleet.azure.com/subscription-id': sub1,
  });
  expect(east.metadata.annotations['fleet.azure.com/cluster-resource-id']).toBe(eastus1);
  expect(east.spec).toMatchObject({ identity: { kind: 'User', name: cluster.identity!.principalId }, heartbeatPeriodSeconds: 15 });
  const table = (await k('get memberclusters')).stdout;
  expect(table.split('\n')[0]).toMatch(/^NAME\s+JOINED\s+NODE-COUNT\s+AGE$/);
  expect(table).toMatch(/\neast\s/);
  expect(table).toMatch(/\nwest\s/);
  expect(
    (await json('get imc -n fleet-member-west')).items.map((i: { metadata: { name: string }; spec: { state: string } }) => [i.metadata.name, i.spec.state]),
  ).toEqual([['west', 'Join']]);
  expect((await k('get ns fleet-member-east -o name')).stdout).toBe('namespace/fleet-member-east\n');
});

it('carries a kubectl label to the ARM member, and an ARM PATCH of labels to the MemberCluster', async () => {
  expect((await k('label membercluster east env=prod')).code).toBe(0);
  const got = await arm(stack.env, 'GET', memberPath('east'), { apiVersion: preview });
  expect(got.body.properties.labels).toEqual({ env: 'prod' });
  expect((await k('get memberclusters -l env=prod -o name')).stdout).toBe('membercluster.cluster.kubernetes-fleet.io/east\n');

  const patched = await arm(stack.env, 'PATCH', memberPath('west'), { apiVersion: preview, body: { properties: { labels: { tier: 'gold' } } } });
  expect(patched.status).toBe(202);
  await finished('west', patched);
  await until(async () => (await json('get membercluster west')).metadata.labels.tier === 'gold', { within: 10_000, what: 'the label on the MemberCluster' });
  expect((await json('get membercluster west')).metadata.labels['fleet.azure.com/location']).toBe('westeurope');

  // Removing a label with kubectl removes it from ARM too.
  expect((await k('label membercluster east env-')).code).toBe(0);
  expect((await arm(stack.env, 'GET', memberPath('east'), { apiVersion: preview })).body.properties.labels ?? {}).toEqual({});
});

it('refuses what belongs to ARM: deleting or creating a MemberCluster, its fleet labels, identity and namespace', async () => {
  const del = await k('delete membercluster east');
  expect(del.stderr).toContain('Error from server (Forbidden)');
  expect(del.stderr).toContain('az fleet member');
  expect((await k('get memberclusters east -o name')).code).toBe(0);
  const relabel = await k('label membercluster east fleet.azure.com/location=mars --overwrite');
  expect(relabel.stderr).toContain('fleet.azure.com/ prefix are set by the fleet');
  const identity = await k(['patch', 'membercluster', 'east', '--type=merge', '-p', '{"spec":{"identity":{"kind":"User","name":"someone-else"}}}']);
  expect(identity.stderr).toContain('Forbidden');
  const create = await k('apply -f -', {
    input: 'apiVersion: cluster.kubernetes-fleet.io/v1\nkind: MemberCluster\nmetadata: {name: rogue}\nspec: {identity: {kind: User, name: x}}\n',
  });
  expect(create.stderr).toContain('Forbidden');
  expect((await k('delete ns fleet-member-east')).stderr).toContain('Forbidden');
  // Taints are the user's (placements will honour them).
  expect(
    (await k(['patch', 'membercluster', 'east', '--type=merge', '-p', '{"spec":{"taints":[{"key":"gpu","value":"none","effect":"NoSchedule"}]}}'])).code,
  ).toBe(0);
  // An ARM label in the fleet's reserved prefix is refused there too.
  const armReserved = await arm(stack.env, 'PATCH', memberPath('east'), {
    apiVersion: preview,
    body: { properties: { labels: { 'fleet.azure.com/location': 'x' } } },
  });
  expect(armReserved.status).toBe(400);
});

it('follows a new cluster identity when member create runs again, and removes the view when the member leaves', async () => {
  process.env.IDENTITY_ENDPOINT = stack.env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = stack.env.IDENTITY_HEADER;
  const aks = new ContainerServiceClient(new DefaultAzureCredential(), sub1, { endpoint: stack.env.ARM_ENDPOINT });
  const cluster = await aks.managedClusters.get('rg-eastus', 'aks-eastus-1');
  const uami = `/subscriptions/${sub1}/resourceGroups/rg-eastus/providers/Microsoft.ManagedIdentity/userAssignedIdentities/new-id`;
  const changed = await aks.managedClusters.beginCreateOrUpdateAndWait('rg-eastus', 'aks-eastus-1', {
    location: cluster.location!,
    identity: { type: 'UserAssigned', userAssignedIdentities: { [uami]: {} } },
  });
  const principal = changed.identity!.userAssignedIdentities![uami].principalId;
  const client = fleetClient(stack.env);
  await client.fleetMembers.create('rg-mc', 'fleet-mc', 'east', { properties: { clusterResourceId: eastus1 } }, fast);
  const east = await json('get memberclusters east');
  expect(east.spec.identity.name).toBe(principal);
  expect(east.spec.taints).toEqual([{ key: 'gpu', value: 'none', effect: 'NoSchedule' }]);

  await client.fleetMembers.delete('rg-mc', 'fleet-mc', 'west', fast);
  expect((await k('get memberclusters -o name')).stdout).toBe('membercluster.cluster.kubernetes-fleet.io/east\n');
  expect((await k('get ns fleet-member-west')).code).toBe(1);
  expect((await k('get imc -A -o name')).stdout).toBe('internalmembercluster.cluster.kubernetes-fleet.io/east\n');
}, 60_000);
