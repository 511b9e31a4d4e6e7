// The built-in kinds' OpenAPI schemas, for `kubectl explain` and for finding unknown fields. Taken
// from @kubernetes/client-node, Kubernetes' official JavaScript client, which is generated from
// kube-apiserver's published OpenAPI document (1.34 here): each model class lists its fields with
// their types and formats, and its declaration file carries the descriptions and which fields are
// required. A well-kept source already in the tree beats schemas written by hand (thousands of
// fields) or a copy of the document to keep up to date; kubernetes-models' validators are compiled
// code without the descriptions explain prints. Loaded on first use (~0.5 s), then kept.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ResourceType } from './kinds.js';
import type { Schema } from './structural.js';

type Attribute = { name: string; baseName: string; type: string; format: string };
type Model = { attributeTypeMap?: Attribute[] };

export interface SchemaCatalog {
  /** The component name of a kind's schema (`io.k8s.v1.Deployment`), if the client knows the kind. */
  keyOf(t: Pick<ResourceType, 'group' | 'version' | 'kind'>): string | undefined;
  /** A component by name. */
  get(key: string): Schema | undefined;
  /** The components `keys` need, themselves included (for a group-version's document). */
  closure(keys: string[]): Record<string, Schema>;
}

const refPrefix = '#/components/schemas/';

/** Where the schemas come from, in the OpenAPI root's hashes: a new client version changes every document. */
export const schemaSource = `@kubernetes/client-node@${(createRequire(import.meta.url)('@kubernetes/client-node/package.json') as { version: string }).version}`;

/** The one apimachinery type the client has no model of, as kube-apiserver's document defines it. */
const intOrStringKey = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const intOrString: Schema = {
  type: 'string',
  format: 'int-or-string',
  'x-kubernetes-int-or-string': true,
  description: 'IntOrString is a type that can hold an int32 or a string.',
};

/** `V1DeploymentSpec` → `io.k8s.v1.DeploymentSpec`: explain prints what follows the last dot. */
function keyOfClass(className: string): string {
  const m = /^(.*?V\d+(?:alpha\d+|beta\d+)?)([A-Z].*)$/.exec(className);
  return m ? `io.k8s.${m[1].toLowerCase()}.${m[2]}` : `io.k8s.${className}`;
}

/** What the client's declaration file says of a class: its description, each field's, the required ones. */
function declarationOf(dir: string, className: string): { description?: string; fields: Map<string, string>; required: Set<string> } {
  const fields = new Map<string, string>();
  const required = new Set<string>();
  let text = '';
  try {
    text = readFileSync(join(dir, `${className}.d.ts`), 'utf8');
  } catch {
    return { fields, required };
  }
  const clean = (comment: string) =>
    comment
      .split('\n')
      .map((l) => l.replace(/^\s*\*\s?/, '').trim())
      .filter(Boolean)
      .join(' ');
  const description = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*export declare class/.exec(text)?.[1];
  for (const m of text.matchAll(/(?:\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*)?\n\s*'([^']+)'(\?)?:/g)) {
    if (m[1]) fields.set(m[2], clean(m[1]));
    if (!m[3]) required.add(m[2]);
  }
  return { description: description ? clean(description) : undefined, fields, required };
}

function typeSchema(type: string, format: string, models: Record<string, unknown>): Schema {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return { type: 'array', items: typeSchema(array[1], format, models) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { type: 'object', additionalProperties: typeSchema(map[1], format, models) };
  switch (type) {
    case 'string':
      return format ? { type: 'string', format } : { type: 'string' };
    case 'number':
      return format === 'double' ? { type: 'number', format } : { type: 'integer', format: format || 'int64' };
    case 'boolean':
      return { type: 'boolean' };
    case 'Date':
      return { type: 'string', format: 'date-time' };
    case 'IntOrString':
      return { allOf: [{ $ref: `${refPrefix}${intOrStringKey}` }] };
    case 'any':
    case 'object':
      return { 'x-kubernetes-preserve-unknown-fields': true };
    default:
      if (typeof models[type] === 'function' && (models[type] as Model).attributeTypeMap) return { allOf: [{ $ref: `${refPrefix}${keyOfClass(type)}` }] };
      // A type the client names but does not model (MicroTime): a formatted string on the wire.
      return format ? { type: 'string', format } : { type: 'string' };
  }
}

async function load(): Promise<SchemaCatalog> {
  const models = (await import('@kubernetes/client-node')) as unknown as Record<string, unknown>;
  const dir = join(dirname(createRequire(import.meta.url).resolve('@kubernetes/client-node')), 'gen', 'models');
  const classOfKey = new Map<string, string>();
  for (const [name, value] of Object.entries(models))
    if (typeof value === 'function' && (value as Model).attributeTypeMap) classOfKey.set(keyOfClass(name), name);
  const built = new Map<string, Schema>();
  built.set(intOrStringKey, intOrString);
  const get = (key: string): Schema | undefined => {
    const cached = built.get(key);
    if (cached) return cached;
    const className = classOfKey.get(key);
    if (!className) return undefined;
    const declared = declarationOf(dir, className);
    const properties: Record<string, Schema> = {};
    for (const a of (models[className] as Model).attributeTypeMap ?? []) {
      const s = typeSchema(a.type, a.format, models);
      const description = declared.fields.get(a.name);
      properties[a.baseName] = description ? { description, ...s } : s;
    }
    const required = [...declared.required].map((n) => (models[className] as Model).attributeTypeMap?.find((a) => a.name === n)?.baseName ?? n);
    const schema: Schema = {
      type: 'object',
      ...(declared.description ? { description: declared.description } : {}),
      properties,
      ...(required.length ? { required } : {}),
    };
    built.set(key, schema);
    return schema;
  };
  return {
    keyOf(t) {
      const v = t.version.charAt(0).toUpperCase() + t.version.slice(1);
      // Core Events are CoreV1Event in the client (events.k8s.io has its own).
      const candidates = t.group === '' && t.kind === 'Event' ? [`CoreV1${t.kind}`] : [`${v}${t.kind}`];
      const found = candidates.find((c) => classOfKey.has(keyOfClass(c)));
      return found ? keyOfClass(found) : undefined;
    },
    get,
    closure(keys) {
      const out: Record<string, Schema> = {};
      const todo = [...keys];
      while (todo.length) {
        const key = todo.pop()!;
        if (out[key]) continue;
        const s = get(key);
        if (!s) continue;
        out[key] = s;
        JSON.stringify(s, (k, v) => {
          if (k === '$ref' && typeof v === 'string') todo.push(v.slice(refPrefix.length));
          return v;
        });
      }
      return out;
    },
  };
}

let catalog: Promise<SchemaCatalog> | undefined;

/** The catalog, loaded once a process. */
export function builtInSchemas(): Promise<SchemaCatalog> {
  catalog ??= load().catch((e) => {
    catalog = undefined;
    throw e;
  });
  return catalog;
}

export const schemaRef = (key: string) => `${refPrefix}${key}`;
