// The first minutes of a kubectl user on a fresh hub: every `kubectl create <generator>` (kubectl's
// typed client sends each object as protobuf), checked by reading back what the hub stored; a
// protobuf body the hub cannot read is refused with a 415 that says what to do instead.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { tokenFor } from '../support/clients.js';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import { useStack } from '../support/stackProcess.js';

const stack = useStack({ FLEET_LOCAL_AGENTS: '0' });
let k: Kubectl;
beforeAll(async () => {
  k = await fleetWithHub(stack.env, 'rg-create', 'created', 'created');
}, 60_000);

const ok = async (args: string[] | string) => {
  const r = await k(args);
  if (r.code !== 0) throw new Error(`kubectl ${Array.isArray(args) ? args.join(' ') : args} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};
const get = async (what: string) => JSON.parse(await ok(`get ${what} -o json`));
const b64 = (s: string) => Buffer.from(s).toString('base64');
// The envelope and ObjectMeta, as the published .proto files declare them (the test's own copy).
const wire = protobuf.parse(`syntax = "proto2";
message TypeMeta { optional string apiVersion = 1; optional string kind = 2; }
message Unknown { optional TypeMeta typeMeta = 1; optional bytes raw = 2; optional string contentEncoding = 3; optional string contentType = 4; }
message ObjectMeta { optional string name = 1; }`).root;
const unknownType = wire.lookupType('Unknown');
const metaType = wire.lookupType('ObjectMeta');

describe('kubectl create, as against kube-apiserver', () => {
  it('namespace, configmap, and the three kinds of secret', async () => {
    expect(await ok('create namespace shop')).toBe('namespace/shop created\n');
    expect((await get('namespace shop')).metadata.name).toBe('shop');

    expect(await ok(['create', 'configmap', 'cfg', '-n', 'shop', '--from-literal=a=1', '--from-literal=b=two words'])).toBe('configmap/cfg created\n');
    const cm = await get('configmap cfg -n shop');
    expect(cm.data).toEqual({ a: '1', b: 'two words' });
    expect(cm.metadata).toMatchObject({ namespace: 'shop', uid: expect.any(String), creationTimestamp: expect.any(String) });

    await ok('create secret generic creds -n shop --from-literal=password=s3cret --from-literal=empty=');
    expect(await get('secret creds -n shop')).toMatchObject({ type: 'Opaque', data: { password: b64('s3cret'), empty: '' } });

    const dir = mkdtempSync(join(process.env.FLEET_TEST_DIR ?? '/tmp', 'tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=shop.example.com',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
      ],
      {
        stdio: 'ignore',
      },
    );
    await ok(`create secret tls web-tls -n shop --cert=${join(dir, 'c.pem')} --key=${join(dir, 'k.pem')}`);
    const tls = await get('secret web-tls -n shop');
    expect(tls.type).toBe('kubernetes.io/tls');
    expect(Buffer.from(tls.data['tls.crt'], 'base64').toString()).toContain('BEGIN CERTIFICATE');

    await ok('create secret docker-registry reg -n shop --docker-server=registry.example.com --docker-username=u --docker-password=p');
    const reg = await get('secret reg -n shop');
    expect(reg.type).toBe('kubernetes.io/dockerconfigjson');
    expect(JSON.parse(Buffer.from(reg.data['.dockerconfigjson'], 'base64').toString()).auths['registry.example.com']).toMatchObject({
      username: 'u',
      password: 'p',
    });

    await ok('create serviceaccount robot -n shop');
    expect((await get('serviceaccount robot -n shop')).metadata.name).toBe('robot');
  });

  it('the four kinds of service', async () => {
    await ok('create service clusterip web -n shop --tcp=80:8080');
    expect((await get('service web -n shop')).spec).toMatchObject({
      type: 'ClusterIP',
      selector: { app: 'web' },
      ports: [{ name: '80-8080', protocol: 'TCP', port: 80, targetPort: 8080 }],
    });
    await ok('create service nodeport np -n shop --tcp=80:http --node-port=30080');
    expect((await get('service np -n shop')).spec).toMatchObject({ type: 'NodePort', ports: [{ port: 80, targetPort: 'http', nodePort: 30080 }] });
    await ok('create service loadbalancer lb -n shop --tcp=443:8443');
    expect((await get('service lb -n shop')).spec).toMatchObject({ type: 'LoadBalancer', ports: [{ port: 443, targetPort: 8443 }] });
    await ok('create service externalname db -n shop --external-name=db.example.com');
    expect((await get('service db -n shop')).spec).toMatchObject({ type: 'ExternalName', externalName: 'db.example.com' });
  });

  it('deployment, job, cronjob, and a job made from the cronjob', async () => {
    await ok(['create', 'deployment', 'web', '-n', 'shop', '--image=nginx:1.27', '--replicas=0', '--port=80']);
    const d = await get('deployment web -n shop');
    // replicas 0 is a value (a pointer in Go), not an absent field defaulted to 1.
    expect(d.spec).toMatchObject({ replicas: 0, selector: { matchLabels: { app: 'web' } } });
    expect(d.spec.template.spec.containers).toEqual([
      expect.objectContaining({ name: 'nginx', image: 'nginx:1.27', ports: [{ containerPort: 80, protocol: 'TCP' }] }),
    ]);

    await ok(['create', 'job', 'once', '-n', 'shop', '--image=busybox:1', '--', 'echo', 'hi there']);
    const job = await get('job once -n shop');
    expect(job.spec.template.spec).toMatchObject({ restartPolicy: 'Never', containers: [{ name: 'once', image: 'busybox:1', command: ['echo', 'hi there'] }] });

    await ok(['create', 'cronjob', 'nightly', '-n', 'shop', '--image=busybox:1', '--schedule=0 3 * * *', '--', 'date']);
    const cron = await get('cronjob nightly -n shop');
    expect(cron.spec).toMatchObject({ schedule: '0 3 * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure' } } } } });

    await ok('create job from-cron -n shop --from=cronjob/nightly');
    const made = await get('job from-cron -n shop');
    expect(made.metadata.annotations).toMatchObject({ 'cronjob.kubernetes.io/instantiate': 'manual' });
    expect(made.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'CronJob', name: 'nightly', uid: cron.metadata.uid })]);
    expect(made.spec.template.spec.containers[0]).toMatchObject({ image: 'busybox:1', command: ['date'] });
  });

  it('roles and bindings, a quota, a priority class, a disruption budget, an ingress', async () => {
    await ok('create role reader -n shop --verb=get,list --resource=configmaps,secrets --resource-name=cfg');
    expect((await get('role reader -n shop')).rules).toEqual([
      { verbs: ['get', 'list'], apiGroups: [''], resources: ['configmaps', 'secrets'], resourceNames: ['cfg'] },
    ]);
    await ok('create rolebinding reader -n shop --role=reader --user=alice --serviceaccount=shop:robot');
    expect(await get('rolebinding reader -n shop')).toMatchObject({
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
      subjects: [
        { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice' },
        { kind: 'ServiceAccount', name: 'robot', namespace: 'shop' },
      ],
    });
    await ok('create clusterrole viewer --verb=get,list --resource=namespaces');
    expect((await get('clusterrole viewer')).rules).toEqual([{ verbs: ['get', 'list'], apiGroups: [''], resources: ['namespaces'] }]);
    await ok('create clusterrolebinding viewer --clusterrole=viewer --group=ops');
    expect((await get('clusterrolebinding viewer')).subjects).toEqual([{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'ops' }]);

    await ok('create quota q -n shop --hard=pods=10,cpu=4,memory=8Gi --scopes=NotTerminating');
    expect((await get('resourcequota q -n shop')).spec).toEqual({ hard: { pods: '10', cpu: '4', memory: '8Gi' }, scopes: ['NotTerminating'] });

    await ok(['create', 'priorityclass', 'high', '--value=1000', '--description=the urgent ones', '--preemption-policy=Never']);
    expect(await get('priorityclass high')).toMatchObject({ value: 1000, description: 'the urgent ones', preemptionPolicy: 'Never' });
    await ok('create priorityclass zero --value=0');
    expect((await get('priorityclass zero')).value).toBe(0);

    await ok('create poddisruptionbudget pdb -n shop --selector=app=web --min-available=50%');
    expect((await get('pdb pdb -n shop')).spec).toEqual({ minAvailable: '50%', selector: { matchLabels: { app: 'web' } } });

    await ok(['create', 'ingress', 'web', '-n', 'shop', '--class=nginx', '--rule=shop.example.com/*=web:80,tls=web-tls']);
    expect((await get('ingress web -n shop')).spec).toEqual({
      ingressClassName: 'nginx',
      rules: [
        {
          host: 'shop.example.com',
          http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] },
        },
      ],
      tls: [{ hosts: ['shop.example.com'], secretName: 'web-tls' }],
    });
  });

  it('answers a second create of the same name with AlreadyExists, and --dry-run=server stores nothing', async () => {
    const again = await k('create configmap cfg -n shop --from-literal=a=2');
    expect(again.code).toBe(1);
    // As against kube-apiserver: the generators print the server's message after their own words.
    expect(again.stderr).toBe('error: failed to create configmap: configmaps "cfg" already exists\n');
    expect(await ok('create configmap dry -n shop --from-literal=a=b --dry-run=server')).toBe('configmap/dry created (server dry run)\n');
    expect((await k('get configmap dry -n shop')).code).toBe(1);
  });

  it("kubectl auth can-i and whoami answer from the hub's own checks", async () => {
    expect(await k('auth can-i create deployments -n shop')).toMatchObject({ code: 0, stdout: 'yes\n' });
    expect(await k('auth can-i delete namespaces')).toMatchObject({ code: 0, stdout: 'yes\n' });
    // What the fleet itself keeps, no one may write.
    const mc = await k('auth can-i create memberclusters.cluster.kubernetes-fleet.io');
    expect(mc).toMatchObject({ code: 1, stdout: expect.stringContaining('no - a MemberCluster comes and goes with its ARM member') });
    expect((await k('auth can-i update clusterresourcesnapshots.placement.kubernetes-fleet.io')).stdout).toMatch(/^no - the fleet's scheduler writes them/);
    expect((await k('auth can-i get /version')).stdout).toBe('yes\n');
    const who = await k('auth whoami');
    expect(who.code).toBe(0);
    expect(who.stdout).toMatch(/Username\s+\S+/);
    expect(who.stdout).toContain('system:authenticated');
  });

  it('kubectl expose makes its Service the same way', async () => {
    await ok('expose deployment web -n shop --port=80 --target-port=8080 --name=web-exposed');
    expect((await get('service web-exposed -n shop')).spec).toMatchObject({
      selector: { app: 'web' },
      ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }],
    });
  });

  it('refuses protobuf it does not decode with a 415 that says what to do, and stores nothing', async () => {
    // As a Go client sends them: the k8s\0 prefix, then a runtime.Unknown naming the object's kind.
    const envelope = (apiVersion: string, kind: string, raw: Uint8Array) =>
      Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from(unknownType.encode({ typeMeta: { apiVersion, kind }, raw }).finish())]);
    const named = (name: string) => Buffer.from(metaType.encode({ name }).finish());
    const field = (n: number, value: string) => Buffer.concat([Buffer.from([(n << 3) | 2, value.length]), Buffer.from(value)]);
    const server = (await k('config view --raw -o jsonpath={.clusters[0].cluster.server}')).stdout;
    const bearer = await tokenFor(stack.env, stack.env.FLEET_API);
    const post = async (path: string, body: Buffer) => {
      const r = await fetch(`${server}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/vnd.kubernetes.protobuf', accept: 'application/json' },
        body,
      });
      return { status: r.status, body: (await r.json()) as { kind: string; reason: string; message: string } };
    };
    // A kind the hub serves that no generator sends.
    const limits = await post('/api/v1/namespaces/shop/limitranges', envelope('v1', 'LimitRange', field(1, named('l').toString('latin1'))));
    expect(limits).toMatchObject({ status: 415, body: { kind: 'Status', reason: 'UnsupportedMediaType' } });
    expect(limits.body.message).toContain('not LimitRange (v1)');
    expect(limits.body.message).toContain('--dry-run=client -o yaml | kubectl apply -f -');
    expect((await k('get limitrange l -n shop')).code).toBe(1);
    // A ConfigMap with a field (9) this hub does not know: refused, not stored with it dropped.
    const extra = await post(
      '/api/v1/namespaces/shop/configmaps',
      envelope('v1', 'ConfigMap', Buffer.concat([field(1, named('extra').toString('latin1')), field(9, 'x')])),
    );
    expect(extra).toMatchObject({ status: 415, body: { reason: 'UnsupportedMediaType' } });
    expect(extra.body.message).toContain('ConfigMap: field 9 of ConfigMap');
    expect((await k('get configmap extra -n shop')).code).toBe(1);
    // Not protobuf at all.
    expect(await post('/api/v1/namespaces/shop/configmaps', Buffer.from('{"kind":"ConfigMap"}'))).toMatchObject({
      status: 400,
      body: { reason: 'BadRequest' },
    });
  });
});

describe('what kube-apiserver does to built-in kinds', () => {
  const apply = async (yaml: string) => {
    const r = await k('apply -f -', { input: yaml });
    return { ...r, ok: r.code === 0 };
  };

  it("folds a Secret's stringData into data, never returns it, and defaults its type", async () => {
    expect((await apply('apiVersion: v1\nkind: Secret\nmetadata: {name: plain, namespace: shop}\ndata: {a: YQ==}\nstringData: {b: bee, a: ay}\n')).ok).toBe(
      true,
    );
    const secret = await get('secret plain -n shop');
    expect(secret.data).toEqual({ a: b64('ay'), b: b64('bee') });
    expect(secret).not.toHaveProperty('stringData');
    expect(secret.type).toBe('Opaque');
    const bad = await apply('apiVersion: v1\nkind: Secret\nmetadata: {name: bad, namespace: shop}\ndata: {a: not base64!}\n');
    expect(bad.stderr).toContain('data[a]: Invalid value: "not base64!": must be base64-encoded bytes');
    const tls = await apply('apiVersion: v1\nkind: Secret\nmetadata: {name: half, namespace: shop}\ntype: kubernetes.io/tls\ndata: {tls.crt: YQ==}\n');
    expect(tls.stderr).toContain('data[tls.key]: Required value');
  });

  it('keeps immutable ConfigMaps and Secrets as they are', async () => {
    expect((await apply('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen, namespace: shop}\nimmutable: true\ndata: {a: "1"}\n')).ok).toBe(true);
    const change = await k(['patch', 'configmap', 'frozen', '-n', 'shop', '--type=merge', '-p', '{"data":{"a":"2"}}']);
    expect(change.code).toBe(1);
    expect(change.stderr).toContain('data: Forbidden: field is immutable when `immutable` is set');
    const thaw = await k(['patch', 'configmap', 'frozen', '-n', 'shop', '--type=merge', '-p', '{"immutable":false}']);
    expect(thaw.stderr).toContain('immutable: Forbidden: field is immutable when `immutable` is set');
    expect((await get('configmap frozen -n shop')).data).toEqual({ a: '1' });
    // Its labels may still change.
    await ok('label configmap frozen -n shop tier=gold');
  });

  it('gives a Service a clusterIP once, and keeps it', async () => {
    const svc = 'apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\nspec: {selector: {app: api}, ports: [{port: 80}]}\n';
    expect((await apply(svc)).ok).toBe(true);
    const first = (await get('service api -n shop')).spec;
    expect(first).toMatchObject({
      clusterIP: expect.stringMatching(/^10\.0\.\d+\.\d+$/),
      type: 'ClusterIP',
      sessionAffinity: 'None',
      ports: [{ port: 80, targetPort: 80, protocol: 'TCP' }],
    });
    expect(first.clusterIPs).toEqual([first.clusterIP]);
    // Applied again without it: still there. Changed: refused.
    expect((await apply(`${svc}`.replace('port: 80}', 'port: 80, name: http}'))).ok).toBe(true);
    expect((await get('service api -n shop')).spec.clusterIP).toBe(first.clusterIP);
    const moved = await k(['patch', 'service', 'api', '-n', 'shop', '--type=merge', '-p', '{"spec":{"clusterIP":"10.0.0.99"}}']);
    expect(moved.stderr).toContain('spec.clusterIP: Invalid value: "10.0.0.99": field is immutable');
    const other = await get('service web -n shop');
    expect(other.spec.clusterIP).not.toBe(first.clusterIP);
  });

  it("fills in a Deployment's defaults, so kubectl diff of what was applied shows nothing", async () => {
    const dir = mkdtempSync(join(process.env.FLEET_TEST_DIR ?? '/tmp', 'diff-'));
    const file = join(dir, 'api.yaml');
    writeFileSync(
      file,
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: api, image: "example.com/api:1.0", ports: [{containerPort: 8080}]}]}\n',
    );
    await ok(`apply -f ${file}`);
    const d = await get('deployment api -n shop');
    expect(d.spec).toMatchObject({
      replicas: 1,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
    });
    expect(d.spec.template.spec).toMatchObject({
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
    });
    expect(d.spec.template.spec.containers[0]).toMatchObject({
      imagePullPolicy: 'IfNotPresent',
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      ports: [{ containerPort: 8080, protocol: 'TCP' }],
    });
    const diff = await k(`diff -f ${file}`);
    expect({ code: diff.code, stdout: diff.stdout }).toEqual({ code: 0, stdout: '' });
    writeFileSync(file, readFileSync(file, 'utf8').replace('api:1.0', 'api:1.1'));
    const changed = await k(`diff -f ${file}`);
    expect(changed.code).toBe(1);
    expect(changed.stdout).toContain('+      - image: example.com/api:1.1');
    const mismatch = await apply(
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: odd, namespace: shop}\nspec:\n  selector: {matchLabels: {app: odd}}\n  template:\n    metadata: {labels: {app: even}}\n    spec: {containers: [{name: c, image: busybox}]}\n',
    );
    expect(mismatch.stderr).toContain('spec.template.metadata.labels: Invalid value');
    expect(mismatch.stderr).toContain('`selector` does not match template `labels`');
  });
});

describe('schemas: kubectl explain and field validation', () => {
  const apply = (yaml: string, flags = '') => k(`apply ${flags} -f -`, { input: yaml });
  const deployment = (extra: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: typo, namespace: shop}\nspec:\n  ${extra}\n  selector: {matchLabels: {app: typo}}\n  template:\n    metadata: {labels: {app: typo}}\n    spec: {containers: [{name: c, image: busybox:1}]}\n`;

  it("kubectl explain prints the built-in kinds' fields with their types and descriptions", async () => {
    const spec = await ok('explain deployment.spec');
    expect(spec).toMatch(/KIND:\s+Deployment/);
    expect(spec).toMatch(/GROUP:\s+apps/);
    expect(spec).toMatch(/FIELD: spec <DeploymentSpec>/);
    expect(spec).toMatch(/replicas\s+<integer>\n\s+Number of desired pods/);
    expect(spec).toMatch(/template\s+<PodTemplateSpec> -required-/);
    expect(await ok('explain deployment.spec.template.spec.containers.image')).toMatch(/image\s+<string>\n[\s\S]*Container image name/);
    expect(await ok('explain secret.stringData')).toMatch(/stringData\s+<map\[string\]string>/);
    expect(await ok('explain service.spec.ports.targetPort')).toMatch(
      /FIELD: targetPort <string>[\s\S]*IntOrString is a type that can hold an int32 or a string/,
    );
  });

  it('refuses unknown fields when kubectl asks for Strict, warns of them with --validate=warn, and never stores them', async () => {
    const strict = await apply(deployment('replicass: 2'));
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('unknown field "spec.replicass"');
    expect((await k('get deployment typo -n shop')).code).toBe(1);
    const warn = await apply(deployment('replicass: 2'), '--validate=warn');
    expect(warn.code).toBe(0);
    expect(warn.stderr).toContain('Warning: unknown field "spec.replicass"');
    expect((await get('deployment typo -n shop')).spec).not.toHaveProperty('replicass');
    const ignored = await apply(deployment('paused: true\n  pausd: true'), '--validate=false');
    expect(ignored).toMatchObject({ code: 0, stderr: '' });
    expect((await get('deployment typo -n shop')).spec).toMatchObject({ paused: true });
    expect((await get('deployment typo -n shop')).spec).not.toHaveProperty('pausd');
    const nested = await apply(deployment('replicas: 1').replace('image: busybox:1', 'image: busybox:1, imagePullPolicyy: Always'));
    expect(nested.stderr).toContain('unknown field "spec.template.spec.containers[0].imagePullPolicyy"');
  });

  it('refuses a field named twice in a JSON body under Strict', async () => {
    const server = (await k('config view --raw -o jsonpath={.clusters[0].cluster.server}')).stdout;
    const bearer = await tokenFor(stack.env, stack.env.FLEET_API);
    const res = await fetch(`${server}/api/v1/namespaces/shop/configmaps?fieldValidation=Strict`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"twice"},"data":{"a":"1","a":"2"}}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe('strict decoding error: duplicate field "data.a"');
  });

  it("holds custom resources to their CRD's schema: 422 with causes, defaults filled in, unknown fields refused", async () => {
    const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What a widget should be.
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10, description: How big the widget is.}
              mode: {type: string, enum: [fast, slow]}
              color: {type: string, default: blue}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
`;
    expect((await k('apply -f -', { input: crd })).code).toBe(0);
    const widget = (spec: string) => `apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\nspec: ${spec}\n`;
    const wrong = await apply(widget('{size: big, mode: medium}'));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('The Widget "w" is invalid');
    expect(wrong.stderr).toContain('spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"');
    expect(wrong.stderr).toContain('spec.mode: Unsupported value: "medium": supported values: "fast", "slow"');
    expect((await apply(widget('{size: 11}'))).stderr).toContain('spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10');
    expect((await apply(widget('{mode: fast}'))).stderr).toContain('spec.size: Required value');
    expect((await apply(widget('{size: 3, sizee: 4}'))).stderr).toContain('unknown field "spec.sizee"');
    expect((await apply(widget('{size: 3, extra: {anything: [1, 2]}}'))).code).toBe(0);
    expect((await get('widget w -n shop')).spec).toEqual({ size: 3, color: 'blue', extra: { anything: [1, 2] } });
    const explained = await ok('explain widgets.spec');
    expect(explained).toContain('What a widget should be.');
    expect(explained).toMatch(/size\s+<integer> -required-\n\s+How big the widget is\./);
  });
});
