// Member agents on the embedded stack, through kubectl: an agent per joined member heartbeats and
// reports its cluster; the hub refuses what is not a member's own agent acting in its namespace; Work objects created with kubectl land in the member's cluster (seen with
// kubectl on the cluster's admin kubeconfig) with their status; a stopped agent makes its member
// Healthy Unknown; a deleted cluster is shown; a leaving member takes away what it placed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';
import { beforeAll, expect, it } from 'vitest';
import { arm, fast, fleetClient, fleetPath, sub1 } from '../support/clients.js';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import {
  aksClient,
  clusterKubectl,
  conditionOf,
  createCluster,
  getJson,
  internalMemberCluster,
  joinFleet,
  memberCluster,
  untilJoined,
} from '../support/members.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

// Heartbeats every 3 s (Azure: 15 s), so that each step shows within seconds.
// A dead agent's member is removed after 10 s (Azure: 15 minutes).
// The sweeper re-sends a waiting delete after 5 s (locally 20 s), every 2 s, so that test is short.
const stack = useStack({
  FLEET_HEARTBEAT_PERIOD_SECONDS: '3',
  FLEET_FORCE_DELETE_SECONDS: '10',
  FLEET_STUCK_OPERATION_SECONDS: '5',
  FLEET_SWEEP_SCHEDULE: '*/2 * * * * *',
});
let hub: Kubectl;
let one: Kubectl;

beforeAll(async () => {
  hub = await fleetWithHub(stack.env, 'rg-agents', 'fleet-agents');
  const [c1, c2] = await Promise.all([createCluster(stack.env, 'rg-agents', 'aks-agent-1', 2), createCluster(stack.env, 'rg-agents', 'aks-agent-2', 1)]);
  await Promise.all([joinFleet(stack.env, 'rg-agents', 'fleet-agents', 'one', c1), joinFleet(stack.env, 'rg-agents', 'fleet-agents', 'two', c2)]);
  one = await clusterKubectl(stack.env, 'rg-agents', 'aks-agent-1');
}, 60_000);

it('runs an agent per member that joins, heartbeats and reports its cluster, shown by kubectl get memberclusters', async () => {
  const mc = await untilJoined(hub, 'one');
  const table = await until(
    async () => {
      const t = (await hub('get memberclusters')).stdout;
      return /\none\s+True\s+2\s/.test(t) && /\ntwo\s+True\s+1\s/.test(t) && t;
    },
    // Generous: CI runs two test files at once on 2 cores, and the agents start with the stack's load.
    { within: 90_000, every: 500, what: 'both members joined with their node counts' },
  );
  expect(table.split('\n')[0]).toMatch(/^NAME\s+JOINED\s+NODE-COUNT\s+AGE$/);
  const agent = mc.status!.agentStatus!.find((a) => a.type === 'MemberAgent')!;
  expect(Date.now() - Date.parse(agent.lastReceivedHeartbeat)).toBeLessThan(10_000);
  expect(agent.conditions.map((c) => [c.type, c.status])).toEqual([
    ['Joined', 'True'],
    ['Healthy', 'True'],
  ]);
  // fleet-networking's two agents, whose work the member agent does, report beside it as in Azure Fleet.
  expect(mc.status!.agentStatus!.map((a) => [a.type, a.conditions.find((c) => c.type === 'Joined')?.status])).toEqual([
    ['MemberAgent', 'True'],
    ['ServiceExportImportAgent', 'True'],
    ['MultiClusterServiceAgent', 'True'],
  ]);
  // Two Standard_D2s_v3 nodes: 2 vCPU and 8 GiB each, less what AKS reserves.
  expect(mc.status!.properties!['kubernetes-fleet.io/node-count'].value).toBe('2');
  expect(mc.status!.properties!['resources.kubernetes-fleet.io/total-cpu'].value).toBe('4000m');
  expect(mc.status!.properties!['kubernetes-fleet.io/kubernetes-version'].value).toMatch(/^v1\.\d+/);
  expect(mc.status!.resourceUsage!.allocatable!.cpu).toBe(mc.status!.properties!['resources.kubernetes-fleet.io/allocatable-cpu'].value);
  expect(conditionOf(mc, 'AgentIdentityAccepted')?.status).toBe('True');
  // Heartbeats go on, each in the InternalMemberCluster; the MemberCluster's copy is written only
  // when the report says something new, so two heartbeats later it is the same object.
  const heartbeat = async () =>
    Date.parse((await internalMemberCluster(hub, 'one')).status!.agentStatus!.find((a) => a.type === 'MemberAgent')!.lastReceivedHeartbeat);
  const copied = (await memberCluster(hub, 'one')).metadata.resourceVersion;
  const first = await heartbeat();
  const second = await until(async () => (await heartbeat()) > first && (await heartbeat()), { within: 30_000, every: 1000, what: 'a second heartbeat' });
  await until(async () => (await heartbeat()) > second, { within: 30_000, every: 1000, what: 'a third heartbeat' });
  expect((await memberCluster(hub, 'one')).metadata.resourceVersion).toBe(copied);
  const wide = (await hub('get memberclusters -o wide')).stdout;
  expect(wide.split('\n')[0]).toContain('MEMBER-AGENT-LAST-SEEN');
}, 150_000);

const clusterId = (name: string) => `/subscriptions/${sub1}/resourceGroups/rg-agents/providers/Microsoft.ContainerService/managedClusters/${name}`;

/** A token from the local managed-identity endpoint for a cluster's identity, as the agent gets one. */
async function clusterToken(resource: string, cluster: string): Promise<string> {
  const url = `${stack.env.IDENTITY_ENDPOINT}?resource=${encodeURIComponent(resource)}&api-version=2019-08-01&mi_res_id=${encodeURIComponent(clusterId(cluster))}`;
  const res = await fetch(url, { headers: { 'X-IDENTITY-HEADER': stack.env.IDENTITY_HEADER } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

it('refuses requests to agent endpoints without a valid token of that member, and changes nothing', async () => {
  const fleet = await fleetClient(stack.env).fleets.get('rg-agents', 'fleet-agents');
  const hubUrl = `https://${fleet.properties!.hubProfile!.fqdn}`;
  const imc = (member: string) => `${hubUrl}/apis/cluster.kubernetes-fleet.io/v1/namespaces/fleet-member-${member}/internalmemberclusters/${member}`;
  const call = async (url: string, token: string | undefined, method = 'GET', body?: unknown) => {
    const res = await fetch(url, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/merge-patch+json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { kind: string; reason: string; message: string } };
  };
  const forged = { status: { properties: { 'example.com/forged': { value: 'yes' } } } };
  const own = await clusterToken(stack.env.FLEET_API, 'aks-agent-1');
  const claims = decodeJwt(own);
  const saved = JSON.parse(readFileSync(join(stack.stateDir, 'arm', 'signing-key.json'), 'utf8')) as { kid: string; privateJwk: JWK };
  const stackKey = await importJWK(saved.privateJwk, 'RS256');
  const { privateKey: otherKey } = await generateKeyPair('RS256');
  const sign = (key: Parameters<SignJWT['sign']>[0], patch: Record<string, unknown>) =>
    new SignJWT({ ...claims, ...patch }).setProtectedHeader({ alg: 'RS256', kid: saved.kid }).sign(key);
  const now = Math.floor(Date.now() / 1000);
  const refusals: [string, string | undefined, number][] = [
    ['no token', undefined, 401],
    ['an expired token', await sign(stackKey, { iat: now - 7200, nbf: now - 7200, exp: now - 3600 }), 401],
    ['a token for another audience', await clusterToken('https://management.azure.com', 'aks-agent-1'), 401],
    ['a token from another issuer', await sign(stackKey, { iss: 'https://login.microsoftonline.com/3e1f6a2b-9c8d-4e7f-a6b5-c4d3e2f1a0b9/v2.0' }), 401],
    ['a token signed with another key', await sign(otherKey, {}), 401],
    ["another member's identity", await clusterToken(stack.env.FLEET_API, 'aks-agent-2'), 403],
  ];
  for (const [what, token, status] of refusals) {
    for (const [method, url, body] of [
      ['GET', imc('one'), undefined],
      ['PATCH', `${imc('one')}/status`, forged],
      ['GET', `${hubUrl}/apis/placement.kubernetes-fleet.io/v1/namespaces/fleet-member-one/works`, undefined],
    ] as const) {
      const r = await call(url, token, method, body);
      expect([what, method, r.status, r.body.kind]).toEqual([what, method, status, 'Status']);
    }
  }
  const other = await call(imc('one'), refusals[5][1]);
  expect(other.body.message).toContain('it is the identity of member "two"');
  // The member's own identity: its InternalMemberCluster and Works, their status, and nothing else.
  expect((await call(imc('one'), own)).status).toBe(200);
  for (const [method, url, body] of [
    ['GET', imc('two'), undefined],
    ['PATCH', `${imc('two')}/status`, forged],
    ['PATCH', imc('one'), { spec: { state: 'Leave' } }],
    ['GET', `${hubUrl}/api/v1/namespaces/fleet-member-one/secrets`, undefined],
    ['GET', `${hubUrl}/api/v1/namespaces`, undefined],
    ['GET', `${hubUrl}/apis/cluster.kubernetes-fleet.io/v1/memberclusters`, undefined],
  ] as const) {
    const r = await call(url, own, method, body);
    expect([method, url, r.status]).toEqual([method, url, 403]);
    expect(r.body.message).toContain('a member agent may only read its InternalMemberCluster and Works');
  }
  // fleet-networking: its own exports and imports, naming itself; EndpointSliceImports read only;
  // never another member's namespace, never a ServiceImport.
  const net = (namespace: string, plural: string) => `${hubUrl}/apis/networking.fleet.azure.com/v1alpha1/namespaces/${namespace}/${plural}`;
  const ise = (clusterId: string, name = 'shop-web') => ({
    apiVersion: 'networking.fleet.azure.com/v1alpha1',
    kind: 'InternalServiceExport',
    metadata: { name, namespace: 'fleet-member-one' },
    spec: {
      ports: [{ port: 80 }],
      serviceReference: { clusterId, namespace: 'shop', name: 'web', resourceVersion: '1', generation: 1, uid: 'u', namespacedName: 'shop/web' },
    },
  });
  const post = (url: string, body: unknown) =>
    fetch(url, { method: 'POST', headers: { authorization: `Bearer ${own}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(
      async (r) => ({ status: r.status, body: (await r.json()) as { message: string } }),
    );
  expect((await post(net('fleet-member-one', 'internalserviceexports'), ise('one'))).status).toBe(201);
  const posing = await post(net('fleet-member-one', 'internalserviceexports'), ise('two', 'posing'));
  expect(posing.status).toBe(403);
  expect(posing.body.message).toContain('names the cluster "two", and an agent\'s InternalServiceExports must name its own member ("one")');
  expect(
    (await post(net('fleet-member-two', 'internalserviceexports'), { ...ise('one'), metadata: { name: 'x', namespace: 'fleet-member-two' } })).status,
  ).toBe(403);
  const esi = { apiVersion: 'networking.fleet.azure.com/v1alpha1', kind: 'EndpointSliceImport', metadata: { name: 'given', namespace: 'fleet-member-one' } };
  expect((await post(net('fleet-member-one', 'endpointsliceimports'), esi)).status).toBe(403);
  expect((await call(net('fleet-member-one', 'endpointsliceimports'), own)).status).toBe(200);
  expect(
    (await post(net('shop', 'serviceimports'), { apiVersion: 'networking.fleet.azure.com/v1alpha1', kind: 'ServiceImport', metadata: { name: 'web' } })).status,
  ).toBe(403);
  // Nothing refused was written (the accepted one may be gone already: the agent withdraws an
  // InternalServiceExport that no ServiceExport of its cluster wants, at its next heartbeat).
  expect((await hub('get internalserviceexports,endpointsliceimports,serviceimports -A -o name')).stdout.trim()).toMatch(
    /^(internalserviceexport\.networking\.fleet\.azure\.com\/shop-web)?$/,
  );
  for (const name of ['one', 'two']) {
    const seen = await getJson<{ spec: { state: string }; status?: { properties?: Record<string, unknown> } }>(hub, `get imc ${name} -n fleet-member-${name}`);
    expect(seen.spec.state).toBe('Join');
    expect(seen.status?.properties?.['example.com/forged']).toBeUndefined();
    expect((await memberCluster(hub, name)).status?.properties?.['example.com/forged']).toBeUndefined();
  }
});

const work = (manifests: unknown[], extra: Record<string, unknown> = {}, member = 'one') =>
  JSON.stringify({
    apiVersion: 'placement.kubernetes-fleet.io/v1',
    kind: 'Work',
    metadata: { name: 'shop', namespace: `fleet-member-${member}` },
    spec: { workload: { manifests }, ...extra },
  });
const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } };
const settings = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' }, data: { color: 'blue' } };
const web = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
  },
};
const lost = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'lost', namespace: 'nowhere' }, data: {} };
const theirs = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'theirs', namespace: 'default' }, data: { owner: 'someone else' } };

interface WorkView {
  metadata: { generation: number };
  status?: {
    conditions?: { type: string; status: string; reason: string; message: string; observedGeneration: number }[];
    manifestConditions?: { identifier: { kind: string; name: string }; conditions: { type: string; status: string; reason: string; message: string }[] }[];
  };
}

const workStatus = () => getJson<WorkView>(hub, 'get work shop -n fleet-member-one');
const workCondition = (w: WorkView, type: string) => w.status?.conditions?.find((c) => c.type === type && c.observedGeneration === w.metadata.generation);
const manifest = (w: WorkView, name: string, type: string) =>
  w.status?.manifestConditions?.find((m) => m.identifier.name === name)?.conditions.find((c) => c.type === type);

it('applies a Work created with kubectl to the member cluster, with Applied and Available per Work and per manifest', async () => {
  // Something the fleet did not place: not taken over.
  expect((await one('apply -f -', { input: JSON.stringify(theirs) })).code).toBe(0);
  expect((await hub('apply -f -', { input: work([namespace, settings, web, lost, theirs]) })).code).toBe(0);

  const applied = await until(
    async () => {
      const w = await workStatus();
      return workCondition(w, 'Applied') && manifest(w, 'web', 'Available')?.status === 'True' && w;
    },
    { within: 120_000, every: 1000, what: 'the Work applied and the deployment available' },
  );
  expect((await one('get configmap settings -n shop -o jsonpath={.data.color}')).stdout).toBe('blue');
  expect((await one('get deploy web -n shop -o jsonpath={.status.availableReplicas}')).stdout).toBe('2');
  expect(workCondition(applied, 'Applied')).toMatchObject({ status: 'False', reason: 'ManifestApplyFailed' });
  expect(manifest(applied, 'lost', 'Applied')).toMatchObject({ status: 'False', reason: 'NamespaceNotFound' });
  expect(manifest(applied, 'theirs', 'Applied')).toMatchObject({ status: 'False', reason: 'NotTakenOver' });
  expect(manifest(applied, 'theirs', 'Applied')!.message).toContain('whenToTakeOver: Always');
  expect((await one('get configmap theirs -n default -o jsonpath={.data.owner}')).stdout).toBe('someone else');

  // The broken manifests taken out: Applied and Available.
  expect((await hub('apply -f -', { input: work([namespace, settings, web]) })).code).toBe(0);
  const good = await until(
    async () => {
      const w = await workStatus();
      return workCondition(w, 'Available')?.status === 'True' && w;
    },
    { within: 40_000, every: 1000, what: 'the Work available' },
  );
  expect(workCondition(good, 'Applied')).toMatchObject({ status: 'True', reason: 'WorkApplied' });
  expect(workCondition(good, 'Available')).toMatchObject({ status: 'True', reason: 'WorkAvailable' });

  // A manifest that leaves the Work leaves the cluster; deleting the Work removes exactly what it placed.
  expect((await hub('apply -f -', { input: work([namespace, web]) })).code).toBe(0);
  await until(async () => (await one('get configmap settings -n shop')).code !== 0, { within: 40_000, every: 1000, what: 'the configmap removed' });
  expect((await hub('delete work shop -n fleet-member-one')).code).toBe(0);
  await until(async () => (await one('get ns shop')).code !== 0, { within: 40_000, every: 1000, what: 'the namespace removed' });
  expect((await one('get appliedworks -o name')).stdout).toBe('');
  expect((await one('get configmap theirs -n default -o name')).stdout).toBe('configmap/theirs\n');
}, 240_000);

it('shows a member whose agent stopped as Healthy Unknown, and healthy again when it is back', async () => {
  const client = aksClient(stack.env);
  const cluster = await client.managedClusters.get('rg-agents', 'aks-agent-1');
  await client.managedClusters.beginCreateOrUpdateAndWait('rg-agents', 'aks-agent-1', { ...cluster, tags: { 'fleet-local-agent': 'stopped' } }, fast);
  const unknown = await until(
    async () => {
      const mc = await memberCluster(hub, 'one');
      return conditionOf(mc, 'Healthy')?.status === 'Unknown' && mc;
    },
    { within: 90_000, every: 1000, what: 'the member Healthy Unknown' },
  );
  expect(conditionOf(unknown, 'Healthy')!.reason).toBe('MemberAgentHeartbeatMissed');
  expect(conditionOf(unknown, 'Healthy')!.message).toContain('3 heartbeats of 3 s missed');
  await client.managedClusters.beginCreateOrUpdateAndWait('rg-agents', 'aks-agent-1', { ...cluster, tags: {} }, fast);
  await untilJoined(hub, 'one', 40_000);
  // kubectl describe tells the story from the Events the conditions' changes recorded.
  const described = await until(
    async () => {
      const out = (await hub('describe membercluster one')).stdout;
      return /Normal\s+MemberHealthy/.test(out.slice(out.indexOf('Events:'))) && out;
    },
    { within: 30_000, every: 1000, what: 'describe to show the member healthy again' },
  );
  const events = described.slice(described.indexOf('Events:'));
  expect(events).toMatch(/Normal\s+MemberJoined\s+\S+\s+fleet-member-controller\s+Joined is True/);
  expect(events).toMatch(/Warning\s+MemberAgentHeartbeatMissed\s+\S+\s+fleet-member-controller\s+Healthy is Unknown: .*3 heartbeats of 3 s missed/);
  expect(events).toMatch(/Normal\s+MemberHealthy\s+\S+ \(x2 over \S+\)\s+fleet-member-controller/);
}, 150_000);

it('says so when a member cluster is deleted, and lets that member leave at once', async () => {
  await aksClient(stack.env).managedClusters.beginDeleteAndWait('rg-agents', 'aks-agent-2', fast);
  const gone = await until(
    async () => {
      const mc = await memberCluster(hub, 'two');
      return conditionOf(mc, 'ClusterFound')?.status === 'False' && mc;
    },
    { within: 30_000, every: 500, what: 'the member to say its cluster is gone' },
  );
  expect(conditionOf(gone, 'ClusterFound')!.reason).toBe('ClusterDeleted');
  const member = await arm(stack.env, 'GET', `${fleetPath('rg-agents', 'fleet-agents')}/members/two`);
  expect(member.body.properties.status.lastOperationError.code).toBe('MemberClusterDeleted');
  expect(member.body.properties.status.lastOperationError.message).toContain('no longer exists');
  const started = Date.now();
  await fleetClient(stack.env).fleetMembers.delete('rg-agents', 'fleet-agents', 'two', fast);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect((await hub('get membercluster two')).code).not.toBe(0);
}, 60_000);

/** Deletes a member through the raw API and returns its operation when it ends (with the result it reports). */
async function leave(member: string): Promise<{ status: string; properties?: { result?: string }; startTime: string; endTime: string }> {
  const res = await arm(stack.env, 'DELETE', `${fleetPath('rg-agents', 'fleet-agents')}/members/${member}`);
  expect(res.status).toBe(202);
  const url = res.headers.get('azure-asyncoperation')!;
  return until(
    async () => {
      const op = await arm(stack.env, 'GET', new URL(url).pathname + new URL(url).search, { apiVersion: null });
      return op.body.status !== 'InProgress' && op.body;
    },
    { within: 90_000, every: 500, what: `member ${member} to leave` },
  );
}

it('takes away what a member had placed when it leaves the fleet', async () => {
  expect((await hub('apply -f -', { input: work([namespace, settings]) })).code).toBe(0);
  await until(async () => (await one('get configmap settings -n shop')).code === 0, { within: 40_000, every: 1000, what: 'the Work placed' });
  const op = await leave('one');
  expect(op).toMatchObject({ status: 'Succeeded', properties: { result: 'The member left the fleet: its agent left.' } });
  expect((await one('get ns shop')).code).not.toBe(0);
  expect((await one('get appliedworks -o name')).stdout).toBe('');
  expect((await hub('get ns fleet-member-one')).code).not.toBe(0);
  expect(stack.output()).toMatch(
    /member-agent [^\]]*\/one\] the fleet asks this member to leave: withdrew \d+ service export\(s\), removed what 1 Work\(s\) placed/,
  );
}, 90_000);

it('removes a member whose agent is dead after FLEET_FORCE_DELETE_SECONDS, and says so', async () => {
  const id = await createCluster(stack.env, 'rg-agents', 'aks-agent-3', 1);
  await joinFleet(stack.env, 'rg-agents', 'fleet-agents', 'three', id);
  await untilJoined(hub, 'three');
  const client = aksClient(stack.env);
  const cluster = await client.managedClusters.get('rg-agents', 'aks-agent-3');
  await client.managedClusters.beginCreateOrUpdateAndWait('rg-agents', 'aks-agent-3', { ...cluster, tags: { 'fleet-local-agent': 'stopped' } }, fast);
  await until(async () => stack.output().includes('stopped the agent of') && stack.output().includes('/three: its cluster is gone or tagged'), {
    within: 10_000,
    what: 'the agent stopped',
  });
  const op = await leave('three');
  expect(op.status).toBe('Succeeded');
  expect(op.properties!.result).toBe('The member left the fleet: its agent did not leave within 10 s: removed by force.');
  expect(Date.parse(op.endTime) - Date.parse(op.startTime)).toBeGreaterThanOrEqual(10_000);
  expect((await hub('get membercluster three')).code).not.toBe(0);
}, 120_000);

it('asks every member to leave when its fleet is deleted, and they take away what they placed', async () => {
  const id = await createCluster(stack.env, 'rg-agents', 'aks-agent-4', 1);
  await joinFleet(stack.env, 'rg-agents', 'fleet-agents', 'four', id);
  await untilJoined(hub, 'four');
  const four = await clusterKubectl(stack.env, 'rg-agents', 'aks-agent-4');
  expect((await hub('apply -f -', { input: work([namespace, settings], {}, 'four') })).code).toBe(0);
  await until(async () => (await four('get configmap settings -n shop')).code === 0, { within: 40_000, every: 1000, what: 'the Work placed' });
  await fleetClient(stack.env).fleets.delete('rg-agents', 'fleet-agents', fast);
  expect((await four('get ns shop')).code).not.toBe(0);
  expect((await four('get appliedworks -o name')).stdout).toBe('');
  expect(stack.output()).toMatch(
    /member-agent [^\]]*\/four\] the fleet asks this member to leave: withdrew \d+ service export\(s\), removed what 1 Work\(s\) placed/,
  );
}, 120_000);
