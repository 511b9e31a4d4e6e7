// A fleet's hub driven by the real kubectl, through the kubeconfig listCredentials returns and the
// environment npm start printed: discovery, every verb, CRDs, watches, and bad input refused with
// the Status kubectl prints.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { arm, fast, fleetClient, fleetPath, tokenFor } from '../support/clients.js';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import { useStack } from '../support/stackProcess.js';

const stack = useStack();
let k: Kubectl;
beforeAll(async () => {
  k = await fleetWithHub(stack.env, 'rg-hub', 'hubbed', 'hubbed');
}, 60_000);

const ok = async (args: string[] | string, input?: string) => {
  const r = await k(args, { input });
  if (r.code !== 0) throw new Error(`kubectl ${Array.isArray(args) ? args.join(' ') : args} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const json = async (args: string) => JSON.parse(await ok(`${args} -o json`));

const deployment = (image: string, replicas = 2) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ${image}
      - name: sidecar
        image: busybox:1
`;

describe('a fleet with a hub', () => {
  it('reports the hub in ARM and hands out a kubeconfig that kubectl uses as it is', async () => {
    const client = fleetClient(stack.env);
    const fleet = await client.fleets.get('rg-hub', 'hubbed');
    const hub = fleet.properties!.hubProfile!;
    expect(hub).toMatchObject({ dnsPrefix: 'hubbed', kubernetesVersion: '1.32.4', fqdn: expect.stringMatching(/\/hubs\/hubbed-[0-9a-f]{8}$/) });
    expect(hub.portalFqdn).toBe(hub.fqdn);
    expect(await ok('config view --minify -o jsonpath={.clusters[0].cluster.server}')).toBe(`https://${hub.fqdn}`);
    expect(await ok('version')).toContain('Server Version: v1.32.4');

    // A hubless fleet keeps its clear 400; the hub profile cannot change or be added later.
    await client.fleets.create('rg-hub', 'hubless', { location: 'eastus' }, fast);
    await expect(client.fleets.listCredentials('rg-hub', 'hubless')).rejects.toMatchObject({ statusCode: 400, code: 'HubNotAvailable' });
    const change = await arm(stack.env, 'PUT', fleetPath('rg-hub', 'hubbed'), {
      body: { location: 'eastus', properties: { hubProfile: { dnsPrefix: 'other' } } },
    });
    expect(change).toMatchObject({ status: 400, body: { error: { code: 'PropertyChangeNotAllowed' } } });
    const add = await arm(stack.env, 'PUT', fleetPath('rg-hub', 'hubless'), {
      body: { location: 'eastus', properties: { hubProfile: { dnsPrefix: 'late' } } },
    });
    expect(add).toMatchObject({ status: 400, body: { error: { code: 'PropertyChangeNotAllowed' } } });
    const privateHub = await arm(stack.env, 'PUT', fleetPath('rg-hub', 'private'), {
      body: { location: 'eastus', properties: { hubProfile: { dnsPrefix: 'p', apiServerAccessProfile: { enablePrivateCluster: true } } } },
    });
    expect(privateHub).toMatchObject({ status: 400, body: { error: { code: 'HubProfileNotSupported' } } });
  });

  it('lists its kinds in api-resources, namespaced and cluster-scoped', async () => {
    const out = await ok('api-resources --no-headers');
    const rows = new Map(
      out
        .trim()
        .split('\n')
        .map((l) => [l.split(/\s+/)[0], l] as const),
    );
    for (const [name, namespaced] of [
      ['configmaps', 'true'],
      ['namespaces', 'false'],
      ['deployments', 'true'],
      ['clusterroles', 'false'],
      ['customresourcedefinitions', 'false'],
      ['memberclusters', 'false'],
      ['internalmemberclusters', 'true'],
      ['clusterresourceplacements', 'false'],
      ['works', 'true'],
      ['horizontalpodautoscalers', 'true'],
    ])
      expect(rows.get(name), name).toMatch(new RegExp(`\\s${namespaced}\\s`));
    expect(await ok('get ns -o name')).toContain('namespace/default');
  });

  it("serves fleet-networking's hub kinds with their schemas, as Azure Fleet's hub has them", async () => {
    const out = await ok('api-resources --api-group=networking.fleet.azure.com --no-headers');
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[0])
        .sort(),
      // ServiceExport and MultiClusterService too, stored only: staged on the hub, they are placed on members.
    ).toEqual([
      'endpointsliceexports',
      'endpointsliceimports',
      'internalserviceexports',
      'internalserviceimports',
      'multiclusterservices',
      'serviceexports',
      'serviceimports',
    ]);
    expect(await ok('explain internalserviceexport.spec.serviceReference.clusterId')).toContain('The member cluster the object is in');
    await ok('create namespace net');
    // A misspelled field is refused under Strict, as for a CRD; a good one is stored with its defaults.
    const ise = (ports: string) => `apiVersion: networking.fleet.azure.com/v1alpha1
kind: InternalServiceExport
metadata: {name: net-web, namespace: net}
spec:
  ports: ${ports}
  serviceReference: {clusterId: m1, namespace: net, name: web, resourceVersion: "1", generation: 1, uid: u, namespacedName: net/web}
`;
    const refused = await k(['apply', '--validate=strict', '-f', '-'], { input: ise('[{port: 80, prot: TCP}]') });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('unknown field "spec.ports[0].prot"');
    await ok('apply -f -', ise('[{port: 80}]'));
    expect(await json('get internalserviceexport net-web -n net')).toMatchObject({ spec: { ports: [{ port: 80, protocol: 'TCP' }] } });
  });
});

describe('verbs', () => {
  it('applies, gets, lists with selectors and pages, and replaces with optimistic concurrency', async () => {
    await ok('apply -f -', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n');
    for (const [name, tier] of [
      ['a', 'web'],
      ['b', 'db'],
      ['c', 'web'],
    ])
      await ok('apply -f -', `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: shop, labels: {tier: ${tier}}}\ndata: {k: "${name}"}\n`);
    expect(await ok('apply -f -', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop, labels: {tier: web}}\ndata: {k: "a"}\n')).toContain(
      'configmap/a unchanged',
    );
    expect(await ok('get cm -n shop -l tier=web -o name')).toBe('configmap/a\nconfigmap/c\n');
    expect(await ok('get cm -n shop -l tier!=web -o name')).toBe('configmap/b\n');
    expect(await ok(['get', 'cm', '-n', 'shop', '-l', 'tier in (db,web)', '--field-selector', 'metadata.name=c', '-o', 'name'])).toBe('configmap/c\n');
    expect(await ok('get cm -A --chunk-size=1 -o name')).toBe('configmap/a\nconfigmap/b\nconfigmap/c\n');
    const table = await ok('get cm -A');
    expect(table.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+DATA\s+AGE$/);
    expect(await ok('get cm -n shop --sort-by=.data.k -o name')).toBe('configmap/a\nconfigmap/b\nconfigmap/c\n');

    const a = await json('get cm a -n shop');
    expect(a.metadata).toMatchObject({ uid: expect.any(String), resourceVersion: expect.stringMatching(/^\d+$/), creationTimestamp: expect.any(String) });
    await ok('label cm a -n shop env=prod');
    const stale = { ...a, data: { k: 'stale' } };
    const file = join(k.home, 'stale.json');
    writeFileSync(file, JSON.stringify(stale));
    const refused = await k(['replace', '-f', file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Error from server (Conflict)');
    expect((await json('get cm a -n shop')).data.k).toBe('a');
    const fresh = await json('get cm a -n shop');
    writeFileSync(file, JSON.stringify({ ...fresh, data: { k: 'replaced' } }));
    expect(await ok(['replace', '-f', file])).toContain('configmap/a replaced');
    expect((await json('get cm a -n shop')).data.k).toBe('replaced');
  });

  it('patches with JSON, merge and strategic merge patches, and bumps generation only for spec changes', async () => {
    await ok('apply -f -', deployment('nginx:1.27'));
    const first = await json('get deploy web -n shop');
    expect(first.metadata.generation).toBe(1);
    // The apply of a changed image is a strategic merge patch with $setElementOrder: both containers stay.
    await ok('apply -f -', deployment('nginx:1.28'));
    const applied = await json('get deploy web -n shop');
    expect(applied.spec.template.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`)).toEqual([
      'web=nginx:1.28',
      'sidecar=busybox:1',
    ]);
    expect(applied.metadata.generation).toBe(2);
    await ok(['patch', 'deploy', 'web', '-n', 'shop', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:2"}]}}}}']);
    const patched = await json('get deploy web -n shop');
    expect(patched.spec.template.spec.containers.map((c: { image: string }) => c.image)).toEqual(['nginx:1.28', 'busybox:2']);
    await ok(['patch', 'deploy', 'web', '-n', 'shop', '--type=merge', '-p', '{"spec":{"replicas":5}}']);
    await ok(['patch', 'deploy', 'web', '-n', 'shop', '--type=json', '-p', '[{"op":"replace","path":"/spec/replicas","value":4}]']);
    await ok('label deploy web -n shop release=blue');
    const after = await json('get deploy web -n shop');
    expect(after.spec.replicas).toBe(4);
    expect(after.metadata.generation).toBe(5);
    expect(after.metadata.labels).toEqual({ release: 'blue' });
    const badJson = await k(['patch', 'deploy', 'web', '-n', 'shop', '--type=json', '-p', '[{"op":"test","path":"/spec/replicas","value":9}]']);
    expect(badJson.stderr).toContain('is invalid: the test operation failed');

    // kubectl edit sends a strategic merge patch of what the editor changed.
    const edited = await k('edit deploy web -n shop', { env: { EDITOR: 'sed -i s/busybox:2/busybox:3/' } });
    expect(edited.stdout).toContain('deployment.apps/web edited');
    expect((await json('get deploy web -n shop')).spec.template.spec.containers[1].image).toBe('busybox:3');

    // The status subresource: only status changes there, and the main resource keeps it.
    await ok(['patch', 'deploy', 'web', '-n', 'shop', '--subresource=status', '--type=merge', '-p', '{"status":{"readyReplicas":4,"replicas":4}}']);
    expect(await ok('get deploy web -n shop --no-headers')).toMatch(/^web\s+4\/4\s/);
    await ok(['patch', 'deploy', 'web', '-n', 'shop', '--type=merge', '-p', '{"status":{"readyReplicas":1}}']);
    expect((await json('get deploy web -n shop')).status.readyReplicas).toBe(4);
  });

  it('server-side applies with managedFields, and names conflicting fields unless forced', async () => {
    const cm = (tier: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: shop, labels: {tier: ${tier}}}\ndata: {x: "1"}\n`;
    expect(await ok('apply --server-side -f -', cm('db'))).toContain('configmap/ssa serverside-applied');
    const conflict = await k('apply --server-side --field-manager=ops -f -', { input: cm('web') });
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain('Apply failed with 1 conflict: conflict with "kubectl": .metadata.labels.tier');
    expect((await json('get cm ssa -n shop')).metadata.labels.tier).toBe('db');
    await ok('apply --server-side --field-manager=ops --force-conflicts -f -', cm('web'));
    const got = await json('get cm ssa -n shop --show-managed-fields');
    expect(got.metadata.labels.tier).toBe('web');
    const managers = Object.fromEntries(got.metadata.managedFields.map((m: { manager: string; fieldsV1: unknown }) => [m.manager, m.fieldsV1]));
    expect(managers.ops).toEqual({ 'f:data': { 'f:x': {} }, 'f:metadata': { 'f:labels': { 'f:tier': {} } } });
    expect(managers.kubectl).toEqual({ 'f:data': { 'f:x': {} } });
    // A field the applier stops applying is removed (no one else owns it).
    await ok(
      'apply --server-side --field-manager=ops --force-conflicts -f -',
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa, namespace: shop}\ndata: {x: "1"}\n',
    );
    expect((await json('get cm ssa -n shop')).metadata.labels ?? {}).toEqual({});
  });

  it('watches: get -w streams events at once, wait sees a condition, delete waits for finalizers', async () => {
    // Ended by its timeout: long enough for the two writes below on a busy machine (CI runs two files at once).
    const watching = k('get cm -n shop -w --output-watch-events', { timeoutMs: 14_000 });
    await new Promise((r) => setTimeout(r, 2500));
    await ok('apply -f -', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched, namespace: shop}\ndata: {k: v}\n');
    await new Promise((r) => setTimeout(r, 1500));
    await ok('delete cm watched -n shop');
    const out = (await watching).stdout;
    expect(out).toMatch(/ADDED\s+watched/);
    expect(out).toMatch(/DELETED\s+watched/);

    await ok('apply -f -', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: shop, finalizers: [example.com/hold]}\n');
    const timedOut = await k('delete cm held -n shop --timeout=2s');
    expect(timedOut.stderr).toContain('timed out waiting for the condition');
    expect((await json('get cm held -n shop')).metadata.deletionTimestamp).toEqual(expect.any(String));
    const deleting = k('delete cm held -n shop --timeout=20s');
    await new Promise((r) => setTimeout(r, 1500));
    await ok(['patch', 'cm', 'held', '-n', 'shop', '--type=merge', '-p', '{"metadata":{"finalizers":null}}']);
    expect((await deleting).code).toBe(0);
    expect((await k('get cm held -n shop')).stderr).toContain('Error from server (NotFound): configmaps "held" not found');
  });

  it('serves a CRD at once, prints its columns, and removes its objects with it', async () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns: [{name: Size, type: integer, jsonPath: .spec.size}]
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`;
    await ok('apply -f -', crd);
    expect(await ok('wait --for=condition=Established crd/widgets.example.com --timeout=10s')).toContain('condition met');
    await ok('apply -f -', 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: shop}\nspec: {size: 3}\n');
    await ok('apply -f -', 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: shop}\nspec: {size: 5}\n');
    expect(await ok('get wd -n shop')).toMatch(/NAME\s+SIZE\s+AGE\nw1\s+5\s/);
    expect(await ok('get widgets.example.com -n shop -o name')).toBe('widget.example.com/w1\n');
    await ok('delete crd widgets.example.com');
    await ok('apply -f -', crd);
    expect(await ok('get widgets -n shop -o name')).toBe('');
  });

  it('deletes what a namespace holds with it', async () => {
    await ok('apply -f -', 'apiVersion: v1\nkind: Namespace\nmetadata: {name: doomed}\n');
    await ok('apply -f -', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: in-doomed, namespace: doomed}\n');
    await ok('delete ns doomed --timeout=20s');
    expect(await ok('get cm -A -o name')).not.toContain('in-doomed');
    expect((await k('delete ns default')).stderr).toContain('Error from server (Forbidden)');
  });
});

describe('bad input is refused with the Status kubectl prints, and nothing is stored', () => {
  it('invalid names, unknown kinds, a missing namespace, malformed documents', async () => {
    const invalid = await k('apply -f -', { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name, namespace: shop}\n' });
    expect(invalid.stderr).toContain('The ConfigMap "Bad_Name" is invalid');
    expect(invalid.stderr).toContain('metadata.name: Invalid value: "Bad_Name"');
    const badLabel = await k('apply -f -', { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine, namespace: shop, labels: {"a b": c}}\n' });
    expect(badLabel.stderr).toContain('is invalid');
    expect((await k('get cm fine -n shop')).code).toBe(1);
    expect((await k('get gadgets')).stderr).toContain('the server doesn\'t have a resource type "gadgets"');
    const missing = await k('create -f -', { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: nowhere}\n' });
    expect(missing.stderr).toContain('Error from server (NotFound): error when creating "STDIN": namespaces "nowhere" not found');
    const yaml = await k('apply -f -', { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n' });
    expect(yaml.code).toBe(1);
  });

  it('malformed JSON, a wrong kind in the body and an unknown patch type, sent as raw requests', async () => {
    const server = (await k('config view --raw -o jsonpath={.clusters[0].cluster.server}')).stdout;
    // The hub's audience is the API's (what the kubeconfig's plugin asks a token for).
    const bearer = await tokenFor(stack.env, stack.env.FLEET_API);
    const call = (method: string, path: string, body: string, contentType = 'application/json') =>
      fetch(`${server}${path}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, 'content-type': contentType },
        body: method === 'GET' ? undefined : body,
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { kind: string; reason: string; message: string },
      }));
    expect(await call('POST', '/api/v1/namespaces/shop/configmaps', '{not json')).toMatchObject({
      status: 400,
      body: { kind: 'Status', reason: 'BadRequest' },
    });
    expect(await call('POST', '/api/v1/namespaces/shop/configmaps', '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}')).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining('does not match the expected kind') },
    });
    expect(await call('PATCH', '/api/v1/namespaces/shop/configmaps/a', '{}', 'text/plain')).toMatchObject({
      status: 415,
      body: { reason: 'UnsupportedMediaType' },
    });
    expect(await call('GET', '/api/v1/namespaces/shop/configmaps?labelSelector=a%20in', '')).toMatchObject({ status: 400 });
  });

  it('a stale resourceVersion, an oversized object, and no token', async () => {
    const a = await json('get cm a -n shop');
    await ok('label cm a -n shop bump=1');
    const stale = await k(['label', 'cm', 'a', '-n', 'shop', 'x=y', `--resource-version=${a.metadata.resourceVersion}`]);
    expect(stale.stderr).toContain('Error from server (Conflict)');
    const big = join(k.home, 'big.json');
    writeFileSync(
      big,
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big', namespace: 'shop' }, data: { a: 'x'.repeat(1_700_000) } }),
    );
    expect((await k(['create', '-f', big])).stderr).toContain('Error from server (RequestEntityTooLarge)');
    expect((await k('get cm big -n shop')).code).toBe(1);
    // Up to 1.5 MiB is stored (over several rows) and read back whole.
    writeFileSync(big, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'big', namespace: 'shop' }, data: { a: 'é'.repeat(600_000) } }));
    await ok(['create', '-f', big]);
    await ok('label cm big -n shop size=large');
    expect((await json('get cm big -n shop')).data.a.length).toBe(600_000);
    const anonymous = await k('--token=not-a-token get ns');
    expect(anonymous.stderr).toContain('You must be logged in to the server (Unauthorized)');
  });
});

it('deleting the fleet deletes its hub and everything in it; a new fleet of that name starts empty', async () => {
  const other = await fleetWithHub(stack.env, 'rg-hub', 'shortlived');
  await other('apply -f -', { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keepme, namespace: default}\n' });
  expect((await other('get cm -n default -o name')).stdout).toBe('configmap/keepme\n');
  await fleetClient(stack.env).fleets.delete('rg-hub', 'shortlived', fast);
  const gone = await other('get cm -n default');
  expect(gone.code).toBe(1);
  expect(gone.stderr).toContain('NotFound');
  const again = await fleetWithHub(stack.env, 'rg-hub', 'shortlived');
  expect((await again('get cm -n default -o name')).stdout).toBe('');
}, 60_000);
