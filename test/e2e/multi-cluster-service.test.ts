// Multi-cluster L4 load balancing end to end, as Azure Fleet's kuard walkthrough does it: the same
// Deployment, Service and ServiceExport in two members (in two regions), a MultiClusterService on
// one of them, and real HTTP requests to its EXTERNAL-IP answered by pods of both clusters. Then a
// cluster scaled to 0, and the MultiClusterService deleted. Through the real kubectl and fetch.
import { beforeAll, expect, it } from 'vitest';
import { fast, fleetClient } from '../support/clients.js';
import { kuardDeployment } from '../support/kuard.js';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import { addClusterMember, aksClient, getJson, untilJoined } from '../support/members.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

// Heartbeats every 2 s and a health sweep every 2 s: a stopped agent's member is Unknown within seconds.
const stack = useStack({ FLEET_HEARTBEAT_PERIOD_SECONDS: '2', FLEET_MEMBER_HEALTH_SCHEDULE: '*/2 * * * * *' });
const rg = 'rg-mcs';
let hub: Kubectl;
const members = new Map<string, Kubectl>();

async function addMember(name: string, location: string) {
  members.set(name, await addClusterMember(stack.env, rg, 'fleet', name, location));
}

const ok = async (k: Kubectl, args: string, input?: string) => {
  const r = await k(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args} failed: ${r.stderr}`);
  return r.stdout;
};

const app = (replicas: number) => `${kuardDeployment(replicas)}---
apiVersion: v1
kind: Service
metadata: {name: kuard, namespace: kuard-demo}
spec:
  selector: {app: kuard}
  ports: [{port: 8080, targetPort: 8080}]
---
apiVersion: networking.fleet.azure.com/v1alpha1
kind: ServiceExport
metadata: {name: kuard, namespace: kuard-demo}
`;
const mcs = `apiVersion: networking.fleet.azure.com/v1alpha1
kind: MultiClusterService
metadata: {name: kuard, namespace: kuard-demo}
spec:
  serviceImport: {name: kuard}
`;

beforeAll(async () => {
  hub = await fleetWithHub(stack.env, rg, 'fleet');
  await Promise.all([addMember('east', 'eastus'), addMember('west', 'westeurope')]);
  await Promise.all(['east', 'west'].map((m) => untilJoined(hub, m)));
  await ok(hub, 'create namespace kuard-demo');
  for (const k of members.values()) {
    await ok(k, 'create namespace kuard-demo');
    await ok(k, 'apply -f -', app(2));
  }
}, 120_000);

/** Who answered each of `n` requests, each on a connection of its own. */
async function answers(ip: string, n: number): Promise<string[]> {
  const who: string[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const res = await fetch(`http://${ip}:8080/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(3000) });
      const body = (await res.json()) as { cluster: string; pod: string };
      who.push(`${body.cluster}/${body.pod}`);
    } catch {
      who.push('none');
    }
  }
  return who;
}

const externalIp = async () => (await ok(members.get('east')!, 'get mcs kuard -n kuard-demo -o jsonpath={.status.loadBalancer.ingress[0].ip}')).trim();

it('puts one load balancer in front of the pods of both clusters', async () => {
  const east = members.get('east')!;
  await ok(east, 'apply -f -', mcs);
  await until(async () => (await externalIp()) !== '', { within: 30_000, what: 'the MultiClusterService to get an EXTERNAL-IP' });
  const table = await ok(east, 'get mcs kuard -n kuard-demo');
  expect(table).toMatch(/^NAME\s+SERVICE-IMPORT\s+EXTERNAL-IP\s+IS-VALID\s+AGE\nkuard\s+kuard\s+127\.192\.\d+\.\d+\s+True\s+\d+s/);
  // What stands behind it, in the Valid message (our addition), once both clusters' endpoints are in.
  await until(
    async () =>
      (await ok(east, 'get mcs kuard -n kuard-demo -o jsonpath={.status.conditions[?(@.type=="Valid")].message}')).trim() ===
      'found valid service import: 4 endpoints from 2 clusters (east 2, west 2)',
    { within: 30_000, what: 'the MultiClusterService to say 4 endpoints from 2 clusters' },
  );
  // The derived Service, as fleet-networking names and labels it.
  const derived = await getJson<{ metadata: { labels: Record<string, string> }; spec: { type: string; selector?: unknown } }>(
    east,
    'get svc kuard-demo-kuard -n fleet-system',
  );
  expect(derived.spec.type).toBe('LoadBalancer');
  expect(derived.spec.selector).toBeUndefined();
  expect(derived.metadata.labels).toMatchObject({
    'networking.fleet.azure.com/multi-cluster-service-name': 'kuard',
    'networking.fleet.azure.com/multi-cluster-service-namespace': 'kuard-demo',
  });
  // 40 requests: answered by pods of both clusters.
  const ip = await externalIp();
  await until(async () => new Set((await answers(ip, 20)).map((a) => a.split('/')[0])).size === 2, {
    within: 30_000,
    what: 'answers from both clusters',
  });
  const who = await answers(ip, 40);
  expect(who).not.toContain('none');
  expect(new Set(who.map((a) => a.split('/')[0]))).toEqual(new Set(['aks-east', 'aks-west']));
});

it('sends nothing to a cluster scaled to 0, and takes it back when it scales up', async () => {
  const west = members.get('west')!;
  const ip = await externalIp();
  await ok(west, 'scale deployment kuard -n kuard-demo --replicas=0');
  await until(async () => (await answers(ip, 20)).every((a) => a.startsWith('aks-east/')), { within: 30_000, what: 'east alone to answer' });
  await ok(west, 'scale deployment kuard -n kuard-demo --replicas=2');
  await until(async () => (await answers(ip, 20)).some((a) => a.startsWith('aks-west/')), { within: 30_000, what: 'west to answer again' });
});

it('withdraws a cluster whose agent stops reporting, and restores it when it reports again', async () => {
  const ip = await externalIp();
  const client = aksClient(stack.env);
  const cluster = await client.managedClusters.get(rg, 'aks-west');
  await client.managedClusters.beginCreateOrUpdateAndWait(rg, 'aks-west', { ...cluster, tags: { 'fleet-local-agent': 'stopped' } }, fast);
  await until(async () => (await answers(ip, 20)).every((a) => a.startsWith('aks-east/')), { within: 60_000, what: 'east alone to answer' });
  await client.managedClusters.beginCreateOrUpdateAndWait(rg, 'aks-west', { ...cluster, tags: {} }, fast);
  await until(async () => (await answers(ip, 20)).some((a) => a.startsWith('aks-west/')), { within: 60_000, what: 'west to answer again' });
});

it('lets no pod of a cluster whose export is in conflict answer, and names the cluster that won', async () => {
  const ip = await externalIp();
  await addMember('north', 'northeurope');
  await untilJoined(hub, 'north');
  const north = members.get('north')!;
  await ok(north, 'create namespace kuard-demo');
  // The same Service name, another port: the oldest export (east's or west's) keeps the import.
  await ok(north, 'apply -f -', app(2).replace('ports: [{port: 8080, targetPort: 8080}]', 'ports: [{port: 9090, targetPort: 8080}]'));
  const conflict = await until(
    async () => {
      const se = await getJson<{ status?: { conditions?: { type: string; status: string; message: string }[] } }>(north, 'get svcexport kuard -n kuard-demo');
      const c = se.status?.conditions?.find((x) => x.type === 'Conflict');
      return c?.status === 'True' && c;
    },
    { within: 30_000, what: "north's export to be in conflict" },
  );
  expect(conflict.message).toMatch(/cluster (east|west) exported it first .*port/);
  expect((await ok(north, 'get svcexport kuard -n kuard-demo')).split('\n')[1]).toMatch(/^kuard\s+True\s+True\s/);
  const who = await answers(ip, 40);
  expect(who.filter((a) => a.startsWith('aks-north/'))).toEqual([]);
  expect(new Set(who.map((a) => a.split('/')[0]))).toEqual(new Set(['aks-east', 'aks-west']));
  await ok(north, 'delete svcexport kuard -n kuard-demo');
});

it('drains a cluster at weight 0 and when its export is deleted, and takes it back after each', async () => {
  const west = members.get('west')!;
  const ip = await externalIp();
  const onlyEast = async (what: string) => until(async () => (await answers(ip, 20)).every((a) => a.startsWith('aks-east/')), { within: 30_000, what });
  const westBack = async (what: string) => until(async () => (await answers(ip, 20)).some((a) => a.startsWith('aks-west/')), { within: 30_000, what });
  await ok(west, 'annotate svcexport kuard -n kuard-demo networking.fleet.azure.com/weight=0');
  await onlyEast('east alone to answer at weight 0');
  await ok(west, 'annotate svcexport kuard -n kuard-demo networking.fleet.azure.com/weight-');
  await westBack('west to answer at weight 1');
  await ok(west, 'delete svcexport kuard -n kuard-demo');
  await onlyEast('east alone to answer once west unexported');
  await ok(west, 'apply -f -', app(2));
  await westBack('west to answer once exported again');
});

it('gives a second importer its own address, and says Unknown for an MCS naming nothing exported', async () => {
  const west = members.get('west')!;
  await ok(west, 'apply -f -', mcs);
  const westIp = await until(async () => (await ok(west, 'get mcs kuard -n kuard-demo -o jsonpath={.status.loadBalancer.ingress[0].ip}')).trim() || false, {
    within: 30_000,
    what: "west's MultiClusterService to get an EXTERNAL-IP",
  });
  expect(westIp).not.toBe(await externalIp());
  await until(async () => new Set((await answers(westIp, 20)).map((a) => a.split('/')[0])).size === 2, {
    within: 30_000,
    what: "answers from both clusters through west's address",
  });
  await ok(west, 'delete mcs kuard -n kuard-demo');
  await ok(west, 'apply -f -', mcs.replace('name: kuard, namespace', 'name: nothing, namespace').replace('{name: kuard}', '{name: nothing-exported}'));
  const valid = await until(
    async () => {
      const m = await getJson<{ status?: { conditions?: { type: string; status: string; reason: string }[] } }>(west, 'get mcs nothing -n kuard-demo');
      return m.status?.conditions?.find((c) => c.type === 'Valid');
    },
    { within: 30_000, what: 'the MultiClusterService naming nothing to get a Valid condition' },
  );
  expect([valid.status, valid.reason]).toEqual(['Unknown', 'UnknownServiceImport']);
  expect((await ok(west, 'get mcs nothing -n kuard-demo')).split('\n')[1]).toMatch(/^nothing\s+nothing-exported\s+Unknown\s/);
  await ok(west, 'delete mcs nothing -n kuard-demo');
});

it('withdraws a member that leaves the fleet from the load balancer', async () => {
  const ip = await externalIp();
  await fleetClient(stack.env).fleetMembers.delete(rg, 'fleet', 'west', fast);
  await until(async () => (await answers(ip, 20)).every((a) => a.startsWith('aks-east/')), { within: 30_000, what: 'east alone to answer once west left' });
});

it('takes the derived Service and its address away with the MultiClusterService', async () => {
  const east = members.get('east')!;
  const ip = await externalIp();
  await ok(east, 'delete mcs kuard -n kuard-demo');
  await until(async () => (await east('get svc kuard-demo-kuard -n fleet-system')).code !== 0, { within: 30_000, what: 'the derived Service to go' });
  expect(await answers(ip, 1)).toEqual(['none']);
  await until(async () => (await hub('get internalserviceimports -n fleet-member-east -o name')).stdout.trim() === '', {
    within: 30_000,
    what: "the hub's InternalServiceImport to go",
  });
});
