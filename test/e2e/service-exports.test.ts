// Exporting a Service from a member, as fleet-networking's member agent does it: a ServiceExport
// on the member cluster says whether its Service can be exported (Valid, with fleet-networking's
// reasons and messages), the agent writes the Service's ports and identity to the hub as an
// InternalServiceExport in its fleet-member namespace, and a deleted, invalid or weight-0 export
// takes it away. Through the real kubectl on the member and on the hub.
import { beforeAll, expect, it } from 'vitest';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import { clusterKubectl, createCluster, getJson, joinFleet, untilJoined } from '../support/members.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

// Agents heartbeat every 2 s, and sync their exports with each.
const stack = useStack({ FLEET_HEARTBEAT_PERIOD_SECONDS: '2' });
let hub: Kubectl;
let member: Kubectl;

beforeAll(async () => {
  hub = await fleetWithHub(stack.env, 'rg-export', 'fleet');
  await joinFleet(stack.env, 'rg-export', 'fleet', 'east', await createCluster(stack.env, 'rg-export', 'aks-east', 1));
  await untilJoined(hub, 'east');
  member = await clusterKubectl(stack.env, 'rg-export', 'aks-east');
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
const exportOf = (name: string) => getJson<Export>(member, `get serviceexport ${name} -n kuard-demo`);
const condition = (e: Export, type: string) => e.status?.conditions?.find((c) => c.type === type);
const untilValid = (name: string, status: string, reason: string) =>
  until(
    async () => {
      const e = await exportOf(name);
      return condition(e, 'Valid')?.status === status && condition(e, 'Valid')?.reason === reason && e;
    },
    { within: 20_000, what: `serviceexport ${name} Valid=${status} (${reason})` },
  );
const internalExports = async () => (await ok(hub, 'get internalserviceexports -n fleet-member-east -o name')).trim();

it('exports a valid Service to the hub, pending conflict resolution, and says so in kubectl get svcexport', async () => {
  await ok(member, 'create namespace kuard-demo');
  await ok(
    member,
    'apply -f -',
    `${service('kuard', '{selector: {app: kuard}, ports: [{name: http, port: 8080, targetPort: 8080}]}')}---\n${serviceExport('kuard')}`,
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

  // Deleted: the finalizer holds it until its InternalServiceExport is gone.
  await ok(member, 'delete serviceexport kuard -n kuard-demo --wait=false');
  await until(async () => (await internalExports()) === '' && (await member('get serviceexport kuard -n kuard-demo')).code !== 0, {
    within: 20_000,
    what: 'the deleted export to leave the hub and the member',
  });
});
