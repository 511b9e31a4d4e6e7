// The simulated clusters' data plane, seen as a user sees a real one: pods get addresses of their
// own cluster's range and answer real HTTP, Services get EndpointSlices that follow the ready pods,
// and a Service of type LoadBalancer gets an address whose connections reach the pods of its
// EndpointSlices — another cluster's pods too, which is what a MultiClusterService's derived
// Service relies on. Everything through the real kubectl and real TCP.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { sub1, sub2 } from '../support/clients.js';
import type { Kubectl } from '../support/kubectl.js';
import { clusterKubectl } from '../support/members.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

const stack = useStack({ FLEET_LOCAL_AGENTS: '0' });
let east: Kubectl;
let west: Kubectl;

beforeAll(async () => {
  process.env.IDENTITY_ENDPOINT = stack.env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = stack.env.IDENTITY_HEADER;
  east = await clusterKubectl(stack.env, 'rg-eastus', 'aks-eastus-1', sub1);
  west = await clusterKubectl(stack.env, 'rg-westeurope', 'aks-westeurope-1', sub2);
}, 60_000);

const out = async (k: Kubectl, args: string | string[], input?: string) => {
  const r = await k(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args} failed: ${r.stderr}`);
  return r.stdout;
};

const app = (replicas: number, extra = '') => `apiVersion: apps/v1
kind: Deployment
metadata: {name: kuard, namespace: default}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: kuard}}
  template:
    metadata: {labels: {app: kuard}}
    spec:
      containers:
      - name: kuard
        image: ghcr.io/kuar-demo/kuard-amd64:1
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: kuard, namespace: default}
spec:
  selector: {app: kuard}
  ports: [{name: web, port: 80, targetPort: http}]
${extra}`;

interface Answer {
  cluster: string;
  namespace: string;
  pod: string;
  node: string;
  podIP: string;
}

/** One HTTP request on a connection of its own (a load balancer picks per connection). */
async function ask(ip: string, port: number): Promise<Answer | undefined> {
  try {
    const res = await fetch(`http://${ip}:${port}/`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(3000) });
    return (await res.json()) as Answer;
  } catch {
    return undefined;
  }
}

const podsOf = async (k: Kubectl) =>
  (JSON.parse(await out(k, 'get pods -n default -l app=kuard -o json')).items as { metadata: { name: string }; status: { podIP?: string } }[]).map((p) => ({
    name: p.metadata.name,
    ip: p.status.podIP,
  }));

const slicesOf = async (k: Kubectl, service: string, namespace = 'default') =>
  JSON.parse(await out(k, ['get', 'endpointslices', '-n', namespace, '-l', `kubernetes.io/service-name=${service}`, '-o', 'json'])).items as {
    metadata: { name: string; labels: Record<string, string> };
    endpoints?: { addresses: string[]; conditions: { ready: boolean } }[];
    ports: { name: string; port: number }[];
  }[];

it('gives pods addresses of their own cluster, answering HTTP, and Services EndpointSlices that follow them', async () => {
  await out(east, 'apply -f -', app(2));
  await out(west, 'apply -f -', app(2));
  await until(async () => (await podsOf(east)).length === 2 && (await podsOf(west)).length === 2, { within: 20_000, what: 'two pods in each cluster' });
  const eastPods = await podsOf(east);
  const westPods = await podsOf(west);
  // Addresses of 127.64.0.0/10, each cluster in a range of its own, none shared.
  const all = [...eastPods, ...westPods].map((p) => p.ip!);
  expect(new Set(all).size).toBe(4);
  for (const a of all) expect(a).toMatch(/^127\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+$/);
  expect(eastPods[0].ip!.split('.').slice(0, 3)).not.toEqual(westPods[0].ip!.split('.').slice(0, 3));
  // kubectl get pods -o wide shows them, with the node.
  expect(await out(east, 'get pods -n default -o wide')).toMatch(/NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES/);
  // Each pod answers on its container port, naming itself.
  for (const p of eastPods) {
    const answer = await ask(p.ip!, 8080);
    expect(answer).toMatchObject({ cluster: 'aks-eastus-1', namespace: 'default', pod: p.name, podIP: p.ip });
    expect(answer?.node).toMatch(/^aks-nodepool1-/);
  }

  // The Service's EndpointSlice: both ready pods, the named target port resolved.
  await until(async () => (await slicesOf(east, 'kuard'))[0]?.endpoints?.length === 2, { within: 10_000, what: 'an EndpointSlice with both pods' });
  const [slice] = await slicesOf(east, 'kuard');
  expect(slice.metadata.labels['endpointslice.kubernetes.io/managed-by']).toBe('endpointslice-controller.k8s.io');
  expect(slice.ports).toEqual([{ name: 'web', port: 8080, protocol: 'TCP' }]);
  expect(slice.endpoints!.flatMap((e) => e.addresses).sort()).toEqual(eastPods.map((p) => p.ip).sort());
  expect(await out(east, 'get endpointslices -n default')).toMatch(
    /^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE\nkuard-\w{5}\s+IPv4\s+8080\s+127\.[\d.]+,127\.[\d.]+\s/,
  );

  // Scaled to 1: the slice follows, and the pod that went answers nothing.
  await out(east, 'scale deployment kuard -n default --replicas=1');
  await until(async () => (await slicesOf(east, 'kuard'))[0]?.endpoints?.length === 1, { within: 10_000, what: 'the EndpointSlice to follow the scale-down' });
  const left = await podsOf(east);
  expect(left).toHaveLength(1);
  const gone = eastPods.filter((p) => p.name !== left[0].name);
  expect(gone).toHaveLength(1);
  await until(async () => (await ask(gone[0].ip!, 8080)) === undefined, { within: 10_000, what: 'the removed pod to stop answering' });
  expect((await ask(left[0].ip!, 8080))?.pod).toBe(left[0].name);
});

it('gives a LoadBalancer Service an address that sends connections to the ready endpoints, in any cluster', async () => {
  await out(
    east,
    'apply -f -',
    `apiVersion: v1
kind: Service
metadata: {name: kuard-lb, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: kuard}
  ports: [{name: web, port: 8080, targetPort: http}]
`,
  );
  await out(east, 'scale deployment kuard -n default --replicas=2');
  const external = async () => (await out(east, 'get svc kuard-lb -n default -o jsonpath={.status.loadBalancer.ingress[0].ip}')).trim();
  await until(async () => (await external()) !== '', { within: 10_000, what: 'an EXTERNAL-IP' });
  const ip = await external();
  expect(ip).toMatch(/^127\.192\.\d+\.\d+$/);
  expect(await out(east, 'get svc kuard-lb -n default')).toMatch(
    new RegExp(`kuard-lb\\s+LoadBalancer\\s+10\\.0\\.\\d+\\.\\d+\\s+${ip.replaceAll('.', '\\.')}\\s+8080:\\d+/TCP`),
  );
  await until(async () => (await slicesOf(east, 'kuard-lb'))[0]?.endpoints?.filter((e) => e.conditions.ready).length === 2, {
    within: 10_000,
    what: 'both pods behind the load balancer',
  });
  const pods = new Set<string>();
  for (let i = 0; i < 30; i++) pods.add((await ask(ip, 8080))?.pod ?? 'none');
  expect([...pods].sort()).toEqual((await podsOf(east)).map((p) => p.name).sort());

  // A Service without a selector, its EndpointSlice written by hand with the other cluster's pods
  // (what the member agent does for a MultiClusterService): answered from the other cluster.
  const westPods = await podsOf(west);
  await out(
    east,
    'apply -f -',
    `apiVersion: v1
kind: Service
metadata: {name: elsewhere, namespace: default}
spec:
  type: LoadBalancer
  ports: [{name: web, port: 8080, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: elsewhere-west
  namespace: default
  labels: {kubernetes.io/service-name: elsewhere}
addressType: IPv4
ports: [{name: web, port: 8080, protocol: TCP}]
endpoints:
${westPods.map((p) => `- addresses: [${p.ip}]`).join('\n')}
`,
  );
  const elsewhere = async () => (await out(east, 'get svc elsewhere -n default -o jsonpath={.status.loadBalancer.ingress[0].ip}')).trim();
  await until(async () => (await elsewhere()) !== '', { within: 10_000, what: 'an EXTERNAL-IP for the selector-less Service' });
  const clusters = new Set<string>();
  for (let i = 0; i < 10; i++) clusters.add((await ask(await elsewhere(), 8080))?.cluster ?? 'none');
  expect([...clusters]).toEqual(['aks-westeurope-1']);
  expect(await elsewhere()).not.toBe(ip);

  // Deleted: the address stops answering, and is given to the next Service that needs one.
  await out(east, 'delete svc kuard-lb -n default');
  await until(async () => (await ask(ip, 8080)) === undefined, { within: 10_000, what: 'the deleted Service to stop answering' });
  const state = JSON.parse(readFileSync(join(stack.stateDir, 'arm', 'world.json'), 'utf8')) as {
    name: string;
    api?: { frontends?: Record<string, { ip: string }> };
  }[];
  expect(Object.values(state.find((c) => c.name === 'aks-eastus-1')?.api?.frontends ?? {}).map((f) => f.ip)).not.toContain(ip);
});

it('says in the Service status when a port cannot be listened on (below 1024 without the privilege)', async () => {
  const privileged = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')) > 80 && process.getuid?.() !== 0;
  await out(
    east,
    'apply -f -',
    `apiVersion: v1
kind: Service
metadata: {name: port80, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: kuard}
  ports: [{name: web, port: 80, targetPort: http}]
`,
  );
  await until(async () => (await out(east, 'get svc port80 -n default -o jsonpath={.status.loadBalancer.ingress[0].ip}')).trim() !== '', {
    within: 10_000,
    what: 'an EXTERNAL-IP for port 80',
  });
  const ingress = JSON.parse(await out(east, 'get svc port80 -n default -o jsonpath={.status.loadBalancer.ingress[0]}')) as {
    ip: string;
    ports?: { port: number; error: string }[];
  };
  if (privileged) {
    expect(ingress.ports).toEqual([{ port: 80, protocol: 'TCP', error: 'local.fleet.azure.com/PrivilegedPort' }]);
    await until(async () => (await out(east, 'get events -n default --field-selector reason=SyncLoadBalancerFailed -o name')).trim() !== '', {
      within: 10_000,
      what: 'a SyncLoadBalancerFailed Event',
    });
    expect(await out(east, 'describe svc port80 -n default')).toMatch(/Warning\s+SyncLoadBalancerFailed.*cannot listen on 127\.192\.\d+\.\d+:80/);
  } else {
    expect(ingress.ports).toBeUndefined();
    expect((await ask(ingress.ip, 80))?.cluster).toBe('aks-eastus-1');
  }
});

it('listens again after a restart, on the same addresses', async () => {
  const elsewhere = (await out(east, 'get svc elsewhere -n default -o jsonpath={.status.loadBalancer.ingress[0].ip}')).trim();
  const [pod] = await podsOf(west);
  expect((await ask(elsewhere, 8080))?.cluster).toBe('aks-westeurope-1');
  await stack.restart();
  await until(async () => (await ask(pod.ip!, 8080))?.pod === pod.name, { within: 20_000, what: 'the pod to answer again' });
  await until(async () => (await ask(elsewhere, 8080))?.cluster === 'aks-westeurope-1', { within: 20_000, what: 'the load balancer to answer again' });
});
