// What kube-apiserver does to the built-in kinds beyond storing them, for the kinds the hub serves:
// the defaults it fills in (what `kubectl get -o yaml`, `kubectl diff` and `apply` then see), the
// fields it derives (a Secret's stringData folded into data), and the rules for creates and updates
// (immutable ConfigMaps and Secrets, a Service's clusterIP fixed once set, a Deployment's selector
// matching its template). Pure: objects in, objects changed in place or errors out. docs/hub.md lists
// what each kind does and does not do.
import type { FieldError, KubeObject } from './kinds.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (parent: Obj, key: string): Obj => {
  if (!isObj(parent[key])) parent[key] = {};
  return parent[key] as Obj;
};
const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
const q = (v: unknown) => JSON.stringify(v)?.slice(0, 200);

// ---- defaults ---------------------------------------------------------------------------------

/** A tag (or digest) that names no fixed image is pulled every time, as the kubelet's default says. */
function pullPolicyOf(image: unknown): string {
  if (typeof image !== 'string' || image.includes('@')) return 'IfNotPresent';
  const last = image.slice(image.lastIndexOf('/') + 1);
  const tag = last.includes(':') ? last.slice(last.indexOf(':') + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: Obj): void {
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  c.imagePullPolicy ??= pullPolicyOf(c.image);
  c.resources ??= {};
  for (const p of Array.isArray(c.ports) ? c.ports : []) if (isObj(p)) p.protocol ??= 'TCP';
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const p = c[probe];
    if (!isObj(p)) continue;
    p.timeoutSeconds ??= 1;
    p.periodSeconds ??= 10;
    p.successThreshold ??= 1;
    p.failureThreshold ??= 3;
  }
}

function defaultPodSpec(spec: Obj, restartPolicy = 'Always'): void {
  spec.restartPolicy ??= restartPolicy;
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  for (const list of ['containers', 'initContainers']) for (const c of Array.isArray(spec[list]) ? spec[list] : []) if (isObj(c)) defaultContainer(c);
  for (const v of Array.isArray(spec.volumes) ? spec.volumes : []) {
    if (!isObj(v)) continue;
    for (const source of ['secret', 'configMap']) if (isObj(v[source])) (v[source] as Obj).defaultMode ??= 420;
  }
}

function defaultTemplate(owner: Obj, restartPolicy?: string): void {
  const template = owner.template;
  if (!isObj(template)) return;
  defaultPodSpec(obj(template, 'spec'), restartPolicy);
}

function defaultServiceSpec(spec: Obj, before: Obj | undefined): void {
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
    if (!isObj(p)) continue;
    p.protocol ??= 'TCP';
    if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (spec.type === 'ExternalName') return;
  // An update that leaves out what was allocated keeps it (as kube-apiserver patches them back in).
  if ((spec.clusterIP === undefined || spec.clusterIP === '') && typeof before?.clusterIP === 'string') spec.clusterIP = before.clusterIP;
  if (spec.clusterIPs === undefined && Array.isArray(before?.clusterIPs) && spec.clusterIP === before.clusterIP) spec.clusterIPs = before.clusterIPs;
  spec.internalTrafficPolicy ??= 'Cluster';
  spec.ipFamilies ??= ['IPv4'];
  spec.ipFamilyPolicy ??= 'SingleStack';
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
    spec.externalTrafficPolicy ??= 'Cluster';
    const old = new Map((Array.isArray(before?.ports) ? before.ports : []).filter(isObj).map((p) => [`${p.port}/${p.protocol ?? 'TCP'}`, p.nodePort]));
    for (const p of Array.isArray(spec.ports) ? spec.ports : [])
      if (isObj(p) && !p.nodePort && old.get(`${p.port}/${p.protocol}`)) p.nodePort = old.get(`${p.port}/${p.protocol}`);
  }
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
}

/**
 * Fills in what kube-apiserver defaults and derives, in place. `before` is the stored object on an
 * update (what the server allocated stays), undefined on a create.
 */
export function defaultBuiltIn(kind: string, o: KubeObject, before?: KubeObject): void {
  const spec = isObj(o.spec) ? o.spec : undefined;
  switch (kind) {
    case 'Secret': {
      // stringData is write-only: folded into data (its values win) and never stored or returned.
      // (One that is not a map of strings is left for the rules below to refuse.)
      if (isObj(o.stringData) && Object.values(o.stringData).every((v) => typeof v === 'string')) {
        const data = obj(o, 'data');
        for (const [k, v] of Object.entries(o.stringData)) data[k] = Buffer.from(v as string, 'utf8').toString('base64');
        delete o.stringData;
      }
      if (o.type === undefined || o.type === '') o.type = 'Opaque';
      return;
    }
    case 'Service':
      defaultServiceSpec(obj(o, 'spec'), isObj(before?.spec) ? before.spec : undefined);
      return;
    case 'Deployment': {
      const s = obj(o, 'spec');
      s.replicas ??= 1;
      const strategy = obj(s, 'strategy');
      strategy.type ??= 'RollingUpdate';
      if (strategy.type === 'RollingUpdate') {
        const r = obj(strategy, 'rollingUpdate');
        r.maxUnavailable ??= '25%';
        r.maxSurge ??= '25%';
      }
      s.revisionHistoryLimit ??= 10;
      s.progressDeadlineSeconds ??= 600;
      defaultTemplate(s);
      return;
    }
    case 'StatefulSet': {
      const s = obj(o, 'spec');
      s.replicas ??= 1;
      s.podManagementPolicy ??= 'OrderedReady';
      const strategy = obj(s, 'updateStrategy');
      strategy.type ??= 'RollingUpdate';
      if (strategy.type === 'RollingUpdate') obj(strategy, 'rollingUpdate').partition ??= 0;
      s.revisionHistoryLimit ??= 10;
      const retention = obj(s, 'persistentVolumeClaimRetentionPolicy');
      retention.whenDeleted ??= 'Retain';
      retention.whenScaled ??= 'Retain';
      defaultTemplate(s);
      return;
    }
    case 'DaemonSet': {
      const s = obj(o, 'spec');
      const strategy = obj(s, 'updateStrategy');
      strategy.type ??= 'RollingUpdate';
      if (strategy.type === 'RollingUpdate') {
        const r = obj(strategy, 'rollingUpdate');
        r.maxUnavailable ??= 1;
        r.maxSurge ??= 0;
      }
      s.revisionHistoryLimit ??= 10;
      defaultTemplate(s);
      return;
    }
    case 'Job':
      if (spec) defaultJobSpec(spec);
      return;
    case 'CronJob': {
      if (!spec) return;
      spec.concurrencyPolicy ??= 'Allow';
      spec.suspend ??= false;
      spec.successfulJobsHistoryLimit ??= 3;
      spec.failedJobsHistoryLimit ??= 1;
      const job = isObj(spec.jobTemplate) && isObj(spec.jobTemplate.spec) ? spec.jobTemplate.spec : undefined;
      if (job) defaultJobSpec(job);
      return;
    }
  }
}

function defaultJobSpec(spec: Obj): void {
  spec.parallelism ??= 1;
  spec.backoffLimit ??= 6;
  spec.completionMode ??= 'NonIndexed';
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= 'TerminatingOrFailed';
  if (spec.completions === undefined && spec.parallelism === 1) spec.completions = 1;
  // A Job's pods must not restart forever; its generator says Never or OnFailure, and so must a user.
  defaultTemplate(spec, 'Never');
}

// ---- rules ------------------------------------------------------------------------------------

const keyPattern = /^[-._a-zA-Z0-9]+$/;
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function keyErrors(field: string, map: unknown): FieldError[] {
  if (map === undefined || map === null) return [];
  if (!isObj(map)) return [{ field, message: `Invalid value: ${q(map)}: must be a map of keys to values` }];
  const errors: FieldError[] = [];
  for (const k of Object.keys(map)) {
    if (k.length > 253 || !keyPattern.test(k))
      errors.push({ field: `${field}[${k}]`, message: `Invalid value: ${q(k)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.'` });
  }
  return errors;
}

function immutableErrors(o: KubeObject, before: KubeObject | undefined, fields: string[]): FieldError[] {
  if (before?.immutable !== true) return [];
  const errors: FieldError[] = [];
  if (o.immutable !== true) errors.push({ field: 'immutable', message: 'Forbidden: field is immutable when `immutable` is set', reason: 'FieldValueInvalid' });
  for (const f of fields)
    if (!same(o[f], before[f])) errors.push({ field: f, message: 'Forbidden: field is immutable when `immutable` is set', reason: 'FieldValueInvalid' });
  return errors;
}

const requiredKeys: Record<string, string[]> = {
  'kubernetes.io/tls': ['tls.crt', 'tls.key'],
  'kubernetes.io/dockerconfigjson': ['.dockerconfigjson'],
  'kubernetes.io/dockercfg': ['.dockercfg'],
  'kubernetes.io/ssh-auth': ['ssh-privatekey'],
};

function secretErrors(o: KubeObject, before: KubeObject | undefined): FieldError[] {
  const errors = keyErrors('data', o.data);
  if (isObj(o.data))
    for (const [k, v] of Object.entries(o.data))
      if (typeof v !== 'string' || !base64Pattern.test(v))
        errors.push({ field: `data[${k}]`, message: `Invalid value: ${q(v)}: must be base64-encoded bytes` });
  if (o.stringData !== undefined) errors.push({ field: 'stringData', message: `Invalid value: ${q(o.stringData)}: must be a map of keys to strings` });
  for (const k of requiredKeys[String(o.type)] ?? [])
    if (!isObj(o.data) || o.data[k] === undefined) errors.push({ field: `data[${k}]`, message: 'Required value', reason: 'FieldValueRequired' });
  if (before && !same(o.type, before.type))
    errors.push({ field: 'type', message: `Invalid value: ${q(o.type)}: field is immutable`, reason: 'FieldValueInvalid' });
  return [...errors, ...immutableErrors(o, before, ['data'])];
}

function configMapErrors(o: KubeObject, before: KubeObject | undefined): FieldError[] {
  const errors = [...keyErrors('data', o.data), ...keyErrors('binaryData', o.binaryData)];
  if (isObj(o.data))
    for (const [k, v] of Object.entries(o.data))
      if (typeof v !== 'string') errors.push({ field: `data[${k}]`, message: `Invalid value: ${q(v)}: must be a string` });
  if (isObj(o.data) && isObj(o.binaryData))
    for (const k of Object.keys(o.binaryData))
      if (k in o.data) errors.push({ field: `binaryData[${k}]`, message: `Invalid value: ${q(k)}: duplicate of key present in data` });
  return [...errors, ...immutableErrors(o, before, ['data', 'binaryData'])];
}

const serviceTypes = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];

function serviceErrors(o: KubeObject, before: KubeObject | undefined): FieldError[] {
  const spec = isObj(o.spec) ? o.spec : {};
  const errors: FieldError[] = [];
  if (!serviceTypes.includes(String(spec.type)))
    errors.push({
      field: 'spec.type',
      message: `Unsupported value: ${q(spec.type)}: supported values: ${serviceTypes.map((t) => `"${t}"`).join(', ')}`,
      reason: 'FieldValueNotSupported',
    });
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  if (spec.type === 'ExternalName') {
    if (!spec.externalName) errors.push({ field: 'spec.externalName', message: 'Required value', reason: 'FieldValueRequired' });
  } else if (ports.length === 0 && spec.clusterIP !== 'None') errors.push({ field: 'spec.ports', message: 'Required value', reason: 'FieldValueRequired' });
  ports.forEach((p, i) => {
    const port = isObj(p) ? p.port : undefined;
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
      errors.push({ field: `spec.ports[${i}].port`, message: `Invalid value: ${q(port)}: must be between 1 and 65535, inclusive` });
    if (ports.length > 1 && isObj(p) && !p.name) errors.push({ field: `spec.ports[${i}].name`, message: 'Required value', reason: 'FieldValueRequired' });
  });
  const old = isObj(before?.spec) ? before.spec : undefined;
  if (
    old &&
    typeof old.clusterIP === 'string' &&
    old.clusterIP !== '' &&
    old.type !== 'ExternalName' &&
    spec.type !== 'ExternalName' &&
    spec.clusterIP !== old.clusterIP
  )
    errors.push({ field: 'spec.clusterIP', message: `Invalid value: ${q(spec.clusterIP)}: field is immutable`, reason: 'FieldValueInvalid' });
  return errors;
}

function workloadErrors(o: KubeObject, before: KubeObject | undefined): FieldError[] {
  const spec = isObj(o.spec) ? o.spec : {};
  const errors: FieldError[] = [];
  const selector = isObj(spec.selector) ? spec.selector : undefined;
  const matchLabels = isObj(selector?.matchLabels) ? selector.matchLabels : {};
  if (!selector || (Object.keys(matchLabels).length === 0 && !Array.isArray(selector.matchExpressions)))
    errors.push({ field: 'spec.selector', message: 'Required value', reason: 'FieldValueRequired' });
  else {
    const template = isObj(spec.template) ? spec.template : {};
    const labels = isObj(template.metadata) && isObj(template.metadata.labels) ? template.metadata.labels : {};
    if (Object.entries(matchLabels).some(([k, v]) => labels[k] !== v))
      errors.push({ field: 'spec.template.metadata.labels', message: `Invalid value: ${q(labels)}: \`selector\` does not match template \`labels\`` });
  }
  const old = isObj(before?.spec) ? before.spec : undefined;
  if (old && !same(old.selector, spec.selector))
    errors.push({ field: 'spec.selector', message: `Invalid value: ${q(spec.selector)}: field is immutable`, reason: 'FieldValueInvalid' });
  return errors;
}

/** The rules kube-apiserver checks on a create (`before` undefined) or an update of a built-in kind. */
export function builtInErrors(kind: string, o: KubeObject, before?: KubeObject): FieldError[] {
  switch (kind) {
    case 'Secret':
      return secretErrors(o, before);
    case 'ConfigMap':
      return configMapErrors(o, before);
    case 'Service':
      return serviceErrors(o, before);
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
      return workloadErrors(o, before);
    default:
      return [];
  }
}

// ---- allocation -------------------------------------------------------------------------------

/** AKS's default service CIDR; the hub's Services get addresses from it, as a cluster's would. */
const serviceCidr = { base: (10 << 24) >>> 0, size: 1 << 16 };
const ipOf = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

/**
 * The clusterIP and node ports a new Service needs, picked apart from those `taken` holds (the
 * hub's other Services). Random picks, as kube-apiserver's allocators make, retried on a clash.
 */
export function allocateServiceAddresses(o: KubeObject, taken: KubeObject[], random: () => number = Math.random): void {
  const spec = obj(o, 'spec');
  if (spec.type === 'ExternalName') return;
  const ips = new Set(taken.map((s) => (isObj(s.spec) ? s.spec.clusterIP : undefined)));
  const nodePorts = new Set(
    taken.flatMap((s) => (isObj(s.spec) && Array.isArray(s.spec.ports) ? s.spec.ports.map((p) => (isObj(p) ? p.nodePort : undefined)) : [])),
  );
  if (spec.clusterIP === undefined || spec.clusterIP === '') {
    // .0 is the network, .1 the kubernetes Service, .10 the cluster DNS.
    for (let i = 0; i < 1000 && (spec.clusterIP === undefined || spec.clusterIP === '' || ips.has(spec.clusterIP)); i++)
      spec.clusterIP = ipOf(serviceCidr.base + 11 + Math.floor(random() * (serviceCidr.size - 12)));
  }
  if (spec.clusterIP !== 'None') spec.clusterIPs ??= [spec.clusterIP];
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') {
    for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
      if (!isObj(p) || p.nodePort) continue;
      let port = 0;
      for (let i = 0; i < 1000 && (port === 0 || nodePorts.has(port)); i++) port = 30000 + Math.floor(random() * 2768);
      p.nodePort = port;
      nodePorts.add(port);
    }
  }
}
