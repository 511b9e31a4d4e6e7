// Kubernetes protobuf bodies (what kubectl's typed clients send: `kubectl create configmap`,
// `kubectl auth can-i`, ...) decoded into the JSON objects the hub stores. The wire format is
// public: the four bytes `k8s\0`, then a runtime.Unknown whose typeMeta names the object's
// apiVersion and kind and whose raw bytes are the object's own message. protobufjs decodes the
// messages (schema.ts); what no library knows is how Kubernetes maps them to its JSON — Go's
// always-written zeros that JSON omits, IntOrString, Quantity, Time, embedded structs — so that
// part is here. Answers stay JSON: kubectl accepts either (it sends both in Accept).
import protobuf from 'protobufjs';
import type { KubeObject } from '../kinds.js';
import { HubError } from '../status.js';
import * as schemas from './schema.js';

export const protobufContentType = 'application/vnd.kubernetes.protobuf';
const magic = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"

const root = new protobuf.Root();
for (const text of Object.values(schemas)) protobuf.parse(text, root, { keepCase: true });
root.resolveAll();

/** The objects decoded, by apiVersion/kind (the envelope's typeMeta). */
const messageOf: Record<string, string> = {
  'v1/Namespace': 'k8s.io.api.core.v1.Namespace',
  'v1/ConfigMap': 'k8s.io.api.core.v1.ConfigMap',
  'v1/Secret': 'k8s.io.api.core.v1.Secret',
  'v1/ServiceAccount': 'k8s.io.api.core.v1.ServiceAccount',
  'v1/Service': 'k8s.io.api.core.v1.Service',
  'v1/ResourceQuota': 'k8s.io.api.core.v1.ResourceQuota',
  'apps/v1/Deployment': 'k8s.io.api.apps.v1.Deployment',
  'batch/v1/Job': 'k8s.io.api.batch.v1.Job',
  'batch/v1/CronJob': 'k8s.io.api.batch.v1.CronJob',
  'rbac.authorization.k8s.io/v1/Role': 'k8s.io.api.rbac.v1.Role',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'k8s.io.api.rbac.v1.ClusterRole',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'k8s.io.api.rbac.v1.RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'k8s.io.api.rbac.v1.ClusterRoleBinding',
  'scheduling.k8s.io/v1/PriorityClass': 'k8s.io.api.scheduling.v1.PriorityClass',
  'policy/v1/PodDisruptionBudget': 'k8s.io.api.policy.v1.PodDisruptionBudget',
  'networking.k8s.io/v1/Ingress': 'k8s.io.api.networking.v1.Ingress',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'k8s.io.api.authorization.v1.SelfSubjectAccessReview',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'k8s.io.api.authorization.v1.SelfSubjectRulesReview',
  'authentication.k8s.io/v1/SelfSubjectReview': 'k8s.io.api.authentication.v1.SelfSubjectReview',
};

/** The kinds a protobuf body may carry, for messages that name them. */
export const protobufKinds = Object.keys(messageOf).map((k) => k.split('/').at(-1)!);

const unknownType = root.lookupType('k8s.io.apimachinery.pkg.runtime.Unknown');

const useJson = 'send it as JSON instead (`kubectl apply -f`, or the same command with `--dry-run=client -o yaml | kubectl apply -f -`)';

type Message = protobuf.Message & Record<string, unknown>;

/** The object a `k8s\0`-framed protobuf body holds, as the JSON object kube-apiserver would read from JSON. */
export function decodeKubernetesProtobuf(body: Buffer): KubeObject {
  if (body.length < magic.length || !body.subarray(0, magic.length).equals(magic))
    throw new HubError(400, 'BadRequest', 'the body is not Kubernetes protobuf: it does not start with the k8s\\0 prefix');
  let envelope: Message;
  try {
    envelope = unknownType.decode(body.subarray(magic.length)) as Message;
  } catch (e) {
    throw new HubError(400, 'BadRequest', `the protobuf body could not be decoded: ${(e as Error).message}`);
  }
  const typeMeta = (envelope.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const key = `${typeMeta.apiVersion ?? ''}/${typeMeta.kind ?? ''}`;
  if (envelope.contentEncoding)
    throw new HubError(415, 'UnsupportedMediaType', `protobuf content encoding "${envelope.contentEncoding}" is not supported; ${useJson}`);
  const name = messageOf[key];
  if (!name)
    throw new HubError(
      415,
      'UnsupportedMediaType',
      `this hub decodes protobuf only for the objects kubectl's create generators and auth commands build (${protobufKinds.join(', ')}), not ${typeMeta.kind || 'an object without a kind'} (${typeMeta.apiVersion || 'no apiVersion'}); ${useJson}`,
    );
  const type = root.lookupType(name);
  const raw = (envelope.raw as Uint8Array | undefined) ?? new Uint8Array();
  let message: Message;
  try {
    message = type.decode(raw) as Message;
  } catch (e) {
    throw new HubError(400, 'BadRequest', `the protobuf ${typeMeta.kind} could not be decoded: ${(e as Error).message}`);
  }
  // protobufjs skips fields it has no definition for; a field dropped unseen would be a change
  // nobody asked for, so the body is refused instead, naming the field.
  const unknown = firstUnknownField(type, raw, typeMeta.kind ?? '');
  if (unknown)
    throw new HubError(415, 'UnsupportedMediaType', `this ${typeMeta.kind} carries a protobuf field this hub does not decode (${unknown}); ${useJson}`);
  const object = toJson(type, message);
  return { apiVersion: typeMeta.apiVersion, kind: typeMeta.kind, ...object, metadata: (object.metadata ?? {}) as KubeObject['metadata'] };
}

/** Where the first field of `bytes` that `type` does not define is, as `path: field N of Message`; undefined if none. */
function firstUnknownField(type: protobuf.Type, bytes: Uint8Array, path: string): string | undefined {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const [number, wireType] = [tag >>> 3, tag & 7];
    const field = type.fieldsById[number];
    if (!field) return `${path}: field ${number} of ${type.name}`;
    if (wireType !== 2) {
      reader.skipType(wireType);
      continue;
    }
    const inner = reader.bytes();
    const at = `${path}.${field.name}`;
    if (field.map) {
      // An entry: key 1, value 2; a message value is looked into.
      const value = field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;
      if (!value) continue;
      const entry = protobuf.Reader.create(inner);
      while (entry.pos < entry.len) {
        const t = entry.uint32();
        if (t >>> 3 === 2 && (t & 7) === 2) {
          const found = firstUnknownField(value, entry.bytes(), `${at}[]`);
          if (found) return found;
        } else entry.skipType(t & 7);
      }
    } else if (field.resolvedType instanceof protobuf.Type) {
      const found = firstUnknownField(field.resolvedType, inner, at);
      if (found) return found;
    }
  }
  return undefined;
}

const toNumber = (v: unknown): number =>
  typeof v === 'number' ? v : typeof v === 'object' && v !== null && 'low' in v ? protobuf.util.LongBits.from(v as protobuf.Long).toNumber() : Number(v);

/** RFC 3339 as Kubernetes writes it: seconds for Time, microseconds for MicroTime. */
function timeOf(m: Message, micro: boolean): string | undefined {
  const seconds = toNumber(m.seconds ?? 0);
  const nanos = toNumber(m.nanos ?? 0);
  if (seconds === 0 && nanos === 0) return undefined; // the zero time: JSON null, left out
  const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
  return micro ? `${iso}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z` : `${iso}Z`;
}

function jsonValue(field: protobuf.Field, v: unknown): unknown {
  const t = field.resolvedType;
  if (t instanceof protobuf.Type) {
    const m = v as Message;
    switch (t.fullName) {
      case '.k8s.io.apimachinery.pkg.apis.meta.v1.Time':
        return timeOf(m, false);
      case '.k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime':
        return timeOf(m, true);
      case '.k8s.io.apimachinery.pkg.util.intstr.IntOrString':
        return toNumber(m.type ?? 0) === 1 ? (m.strVal ?? '') : toNumber(m.intVal ?? 0);
      case '.k8s.io.apimachinery.pkg.api.resource.Quantity':
        return m.string ?? '';
      case '.k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1':
        return JSON.parse(Buffer.from((m.Raw as Uint8Array | undefined) ?? []).toString('utf8') || '{}');
      default:
        return toJson(t, m);
    }
  }
  if (field.type === 'bytes') return Buffer.from(v as Uint8Array).toString('base64');
  if (['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64'].includes(field.type)) return toNumber(v);
  return v;
}

const isZero = (v: unknown) => v === undefined || v === '' || v === 0 || v === false;

function toJson(type: protobuf.Type, m: Message): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(m, field.name)) continue;
    const keep = field.options?.['(keep)'] === true;
    const v = m[field.name];
    if (field.map) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length || keep) out[field.name] = Object.fromEntries(entries.map(([k, x]) => [k, jsonValue(field, x)]));
    } else if (field.repeated) {
      const items = v as unknown[];
      if (items.length || keep) out[field.name] = items.map((x) => jsonValue(field, x));
    } else {
      const value = jsonValue(field, v);
      if (value === undefined || (!keep && isZero(value))) continue;
      if (field.options?.['(inline)'] === true) Object.assign(out, value);
      else out[field.name] = value;
    }
  }
  return out;
}
