// Exporting a Service from a member, as fleet-networking's member agent does it: a ServiceExport
// on the member cluster says whether its Service can be exported (Valid, with fleet-networking's
// reasons and messages), the agent writes the Service's ports and identity to the hub as an
// InternalServiceExport in its fleet-member namespace, and a deleted, invalid or weight-0 export
// takes it away. Through the real kubectl on the member and on the hub.
import { beforeAll, expect, it } from 'vitest';
import { kuardDeployment } from '../support/kuard.js';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import { clusterKubectl, createCluster, getJson, joinFleet, untilJoined } from '../support/members.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

// Agents heartbeat every 2 s, and sync their exports with each.
const stack = useStack({ FLEET_HEARTBEAT_PERIOD_SECONDS: '2' });
let hub: Kubectl;
let member: Kubectl;
let west: Kubectl;

beforeAll(async () => {
  hub = await fleetWithHub(stack.env, 'rg-export', 'fleet');
  await joinFleet(stack.env, 'rg-export', 'fleet', 'east', await createCluster(stack.env, 'rg-export', 'aks-east', 1));
  await joinFleet(stack.env, 'rg-export', 'fleet', 'west', await createCluster(stack.env, 'rg-export', 'aks-west', 1));
  await untilJoined(hub, 'east');
  await untilJoined(hub, 'west');
  member = await clusterKubectl(stack.env, 'rg-export', 'aks-east');
  west = await clusterKubectl(stack.env, 'rg-export', 'aks-west');
  // The namespace is on the hub too, as it is when a placement puts it on the members: the
  // ServiceImport lives there.
  await ok(hub, 'create namespace kuard-demo');
}, 90_000);

const ok = async (k: Kubectl, args: string, input?: string) => {
  const r = await k(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${args} failed: ${r.stderr}`);
  return r.stdout;
};

const service = (name: string, spec: string) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: kuard-demo}
spec: ${spec}
`;
const serviceExport = (name: string, annotations = '{}') => `apiVersion: networking.fleet.azure.com/v1alpha1
kind: ServiceExport
metadata: {name: ${name}, namespace: kuard-demo, annotations: ${annotations}}
`;

interface Export {
  metadata: { finalizers?: string[] };
  status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
}
const exportOf = (name: string, k = member) => getJson<Export>(k, `get serviceexport ${name} -n kuard-demo`);
const condition = (e: Export, type: string) => e.status?.conditions?.find((c) => c.type === type);
const untilCondition = (name: string, type: string, status: string, reason: string, k = member) =>
  until(
    async () => {
      const e = await exportOf(name, k);
      return condition(e, type)?.status === status && condition(e, type)?.reason === reason && e;
    },
    { within: 20_000, what: `serviceexport ${name} ${type}=${status} (${reason})` },
  );
const untilValid = (name: string, status: string, reason: string) => untilCondition(name, 'Valid', status, reason);
interface Import {
  metadata: { annotations?: Record<string, string> };
  status?: { type: string; ports: unknown[]; clusters: { cluster: string }[] };
}
const importOf = async (name: string) => {
  const r = await hub(`get serviceimport ${name} -n kuard-demo -o json`);
  return r.code === 0 ? (JSON.parse(r.stdout) as Import) : undefined;
};
const internalExports = async () => (await ok(hub, 'get internalserviceexports -n fleet-member-east -o name')).trim();

const deployment = kuardDeployment;
const podIPs = async (k: Kubectl) =>
  (await getJson<{ items: { status: { podIP?: string } }[] }>(k, 'get pods -n kuard-demo -l app=kuard')).items.map((p) => p.status.podIP).sort();
const exportedAddresses = async (namespace: string, plural: string) =>
  (await getJson<{ items: { spec: { endpoints: { addresses: string[] }[] } }[] }>(hub, `get ${plural} -n ${namespace}`)).items
    .flatMap((e) => e.spec.endpoints.flatMap((x) => x.addresses))
    .sort();

it('exports a valid Service to the hub, pending conflict resolution, and says so in kubectl get svcexport', async () => {
  await ok(member, 'create namespace kuard-demo');
  await ok(
    member,
    'apply -f -',
    `${deployment(1)}---\n${service('kuard', '{selector: {app: kuard}, ports: [{name: http, port: 8080, targetPort: 8080}]}')}---\n${serviceExport('kuard')}`,
  );
  const e = await untilValid('kuard', 'True', 'ServiceIsValid');
  expect(condition(e, 'Valid')?.message).toBe('service kuard-demo/kuard is valid for export');
  expect(condition(e, 'Conflict')).toMatchObject({
    status: 'Unknown',
    reason: 'ServicePendingConflictResolution',
    message: 'service kuard-demo/kuard is pending export conflict resolution',
  });
  expect(e.metadata.finalizers).toEqual(['networking.fleet.azure.com/svc-export-cleanup']);
  expect(await ok(member, 'get svcexport -n kuard-demo')).toMatch(/^NAME\s+IS-VALID\s+IS-CONFLICTED\s+AGE\nkuard\s+True\s+Unknown\s+\d+s/);
  // On the hub: the Service's ports and identity, naming the member.
  const ise = await getJson<{ spec: { ports: unknown[]; serviceReference: Record<string, unknown>; type: string; weight: number } }>(
    hub,
    'get internalserviceexport kuard-demo-kuard -n fleet-member-east',
  );
  const svc = await getJson<{ metadata: { uid: string } }>(member, 'get svc kuard -n kuard-demo');
  expect(ise.spec).toMatchObject({
    ports: [{ name: 'http', protocol: 'TCP', port: 8080, targetPort: 8080 }],
    serviceReference: { clusterId: 'east', kind: 'Service', namespace: 'kuard-demo', name: 'kuard', namespacedName: 'kuard-demo/kuard', uid: svc.metadata.uid },
    type: 'ClusterIP',
    weight: 1,
  });
  // The hub resolves it: no conflict, and a ServiceImport with its ports and cluster.
  expect(condition(await untilCondition('kuard', 'Conflict', 'False', 'NoConflictFound'), 'Conflict')?.message).toBe(
    'service kuard-demo/kuard is exported without conflict',
  );
  expect(await ok(member, 'get svcexport kuard -n kuard-demo --no-headers')).toMatch(/^kuard\s+True\s+False\s/);
  expect((await importOf('kuard'))?.status).toEqual({
    type: 'ClusterSetIP',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080, targetPort: 8080 }],
    clusters: [{ cluster: 'east' }],
  });
  // Its endpoints: the ready pods' addresses, following a scale-up.
  await until(async () => (await exportedAddresses('fleet-member-east', 'endpointsliceexports')).length === 1, { within: 20_000, what: 'the pod exported' });
  expect(await exportedAddresses('fleet-member-east', 'endpointsliceexports')).toEqual(await podIPs(member));
  await ok(member, 'scale deployment kuard -n kuard-demo --replicas=2');
  await until(async () => (await exportedAddresses('fleet-member-east', 'endpointsliceexports')).length === 2, { within: 20_000, what: 'both pods exported' });
  expect(await exportedAddresses('fleet-member-east', 'endpointsliceexports')).toEqual(await podIPs(member));
  // An importer (its InternalServiceImport, written here as west's agent would) gets the import's
  // status and the endpoints, and loses them when it stops importing.
  await ok(
    hub,
    'apply -f -',
    `apiVersion: networking.fleet.azure.com/v1alpha1
kind: InternalServiceImport
metadata: {name: kuard-demo-kuard, namespace: fleet-member-west}
spec:
  serviceImportReference: {clusterId: west, kind: ServiceImport, namespace: kuard-demo, name: kuard, resourceVersion: "1", generation: 1, uid: u, namespacedName: kuard-demo/kuard}
`,
  );
  await until(async () => (await exportedAddresses('fleet-member-west', 'endpointsliceimports')).length === 2, {
    within: 20_000,
    what: 'west to get the endpoints',
  });
  expect(await exportedAddresses('fleet-member-west', 'endpointsliceimports')).toEqual(await podIPs(member));
  const isi = await getJson<{ status?: { clusters?: unknown } }>(hub, 'get internalserviceimport kuard-demo-kuard -n fleet-member-west');
  expect(isi.status?.clusters).toEqual([{ cluster: 'east' }]);
  expect((await importOf('kuard'))?.metadata.annotations?.['networking.fleet.azure.com/service-in-use-by']).toBe(
    '{"MemberClusters":{"fleet-member-west":"west"}}',
  );
  await ok(hub, 'delete internalserviceimport kuard-demo-kuard -n fleet-member-west');
  await until(async () => (await exportedAddresses('fleet-member-west', 'endpointsliceimports')).length === 0, { within: 20_000, what: 'west to lose them' });
});

it('lets the oldest export win, names it to a conflicting one, and takes in a later export with the same ports in another order', async () => {
  const web = (ports: string) => `${service('web', `{selector: {app: web}, ports: ${ports}}`)}---\n${serviceExport('web')}`;
  const a = '{name: a, port: 80, targetPort: 8080}';
  const b = '{name: b, port: 81, targetPort: 8081}';
  await ok(member, 'apply -f -', web(`[${a}, ${b}]`));
  await untilCondition('web', 'Conflict', 'False', 'NoConflictFound');
  await ok(west, 'create namespace kuard-demo');
  await ok(west, 'apply -f -', web(`[${a}]`));
  const lost = await untilCondition('web', 'Conflict', 'True', 'ConflictFound', west);
  expect(condition(lost, 'Conflict')?.message).toMatch(
    /^service kuard-demo\/web is in conflict with other exported services: cluster east exported it first \(since [^)]+\), and its ports differ from this export's: b 81->8081\/TCP is missing here$/,
  );
  expect(await ok(west, 'get svcexport web -n kuard-demo --no-headers')).toMatch(/^web\s+True\s+True\s/);
  expect((await importOf('web'))?.status?.clusters).toEqual([{ cluster: 'east' }]);
  // The same ports, listed the other way round: one service, two clusters.
  await ok(west, 'apply -f -', web(`[${b}, ${a}]`));
  await untilCondition('web', 'Conflict', 'False', 'NoConflictFound', west);
  await until(async () => (await importOf('web'))?.status?.clusters.length === 2, { within: 20_000, what: 'both clusters behind the import' });
  expect((await importOf('web'))?.status?.clusters).toEqual([{ cluster: 'east' }, { cluster: 'west' }]);
  // The first export gone, the import is the other's.
  await ok(member, 'delete serviceexport web -n kuard-demo');
  await until(async () => JSON.stringify((await importOf('web'))?.status?.clusters) === '[{"cluster":"west"}]', {
    within: 20_000,
    what: 'the import to be west alone',
  });
});

it('brings back what a lost message would have left wrong, at the next resync', async () => {
  // A ServiceImport deleted by hand names no export: no pass is asked for, and the resync timer
  // (every 30 s locally) finds the export and makes it again.
  await ok(hub, 'delete serviceimport kuard -n kuard-demo');
  await until(async () => (await importOf('kuard'))?.status?.clusters?.length === 1, {
    within: 60_000,
    every: 1000,
    what: 'the resync to make the ServiceImport again',
  });
});

it('says why a ServiceExport is not valid, and exports nothing for it', async () => {
  await ok(
    member,
    'apply -f -',
    `${serviceExport('missing')}---\n${service('external', '{type: ExternalName, externalName: example.com}')}---\n${serviceExport('external')}`,
  );
  expect(condition(await untilValid('missing', 'False', 'ServiceNotFound'), 'Valid')?.message).toBe('service kuard-demo/missing is not found');
  expect(condition(await untilValid('external', 'False', 'ServiceIneligible'), 'Valid')?.message).toBe(
    'service kuard-demo/external is not eligible for export',
  );
  expect(await internalExports()).toBe('internalserviceexport.networking.fleet.azure.com/kuard-demo-kuard');
  expect(await importOf('missing')).toBeUndefined();
});

it('keeps the export through a bad weight annotation, drains it at weight 0, and takes it away when deleted', async () => {
  await ok(member, 'annotate serviceexport kuard -n kuard-demo networking.fleet.azure.com/weight=heavy');
  const bad = await untilValid('kuard', 'False', 'ServiceExportInvalidWeightAnnotation');
  expect(condition(bad, 'Valid')?.message).toBe(
    'serviceExport kuard-demo/kuard has an invalid weight annotation, err = the weight annotation is not a valid integer: heavy',
  );
  expect(await internalExports()).toBe('internalserviceexport.networking.fleet.azure.com/kuard-demo-kuard');

  await ok(member, 'annotate serviceexport kuard -n kuard-demo --overwrite networking.fleet.azure.com/weight=0');
  await until(async () => (await internalExports()) === '', { within: 20_000, what: 'the weight-0 export to leave the hub' });
  expect(condition(await exportOf('kuard'), 'Valid')).toMatchObject({ status: 'True', message: 'exported service kuard-demo/kuard with 0 weight' });

  await ok(member, 'annotate serviceexport kuard -n kuard-demo --overwrite networking.fleet.azure.com/weight=50');
  await until(async () => (await internalExports()) !== '', { within: 20_000, what: 'the export to come back at weight 50' });
  expect((await getJson<{ spec: { weight: number } }>(hub, 'get internalserviceexport kuard-demo-kuard -n fleet-member-east')).spec.weight).toBe(50);

  // Deleted: the finalizer holds it until its InternalServiceExport is gone; the import goes with its last export.
  await ok(member, 'delete serviceexport kuard -n kuard-demo --wait=false');
  await until(async () => (await internalExports()) === '' && (await member('get serviceexport kuard -n kuard-demo')).code !== 0, {
    within: 20_000,
    what: 'the deleted export to leave the hub and the member',
  });
  await until(async () => (await importOf('kuard')) === undefined, { within: 20_000, what: 'the ServiceImport to go with its last export' });
});
