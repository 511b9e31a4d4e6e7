// Objects checked against an OpenAPI v3 schema as kube-apiserver checks them: unknown fields found
// (fieldValidation Strict refuses them, Warn warns, and they are dropped either way), defaults
// filled in, and, for custom resources, the value rules (type, required, enum, bounds, pattern)
// with kube-apiserver's wording. Written by hand: Kubernetes' structural schemas (pruning,
// defaulting, x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields, nullable) and its
// error messages are what no JSON Schema library offers, and a validator would still need this
// walk for the pruning and the defaults.
import type { FieldError } from './kinds.js';

export interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  pattern?: string;
  $ref?: string;
  allOf?: Schema[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  [extension: string]: unknown;
}

/** Looks up a `$ref` (components by name); a schema without one is itself. */
export type Resolve = (ref: string) => Schema | undefined;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const q = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v)).slice(0, 200));

function deref(s: Schema | undefined, resolve: Resolve): Schema | undefined {
  let schema = s;
  for (let i = 0; schema && i < 10; i++) {
    const ref = schema.$ref ?? (schema.allOf?.length === 1 ? schema.allOf[0].$ref : undefined);
    if (!ref) return schema;
    const { $ref: _r, allOf: _a, ...rest } = schema;
    const target = resolve(ref);
    schema = target ? { ...target, ...rest } : rest;
  }
  return schema;
}

export interface Walk {
  /** Unknown fields, as `spec.replicass` (JSON paths kube-apiserver prints). */
  unknown: string[];
  /** Value rules broken (custom resources only). */
  errors: FieldError[];
}

/**
 * Walks `value` (changed in place: unknown fields dropped unless `keepUnknown`, defaults set) against
 * `schema`. `checkValues`: also the type, required, enum and bound rules (a CRD's schema is the whole
 * truth for its objects; a built-in kind's own rules live in builtins.ts).
 */
export function walk(value: unknown, schema: Schema, resolve: Resolve, options: { checkValues: boolean; keepUnknown?: boolean }): Walk {
  const out: Walk = { unknown: [], errors: [] };
  visit(value, schema, '', resolve, options, out);
  return out;
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

function typeError(path: string, value: unknown, type: string): FieldError {
  // As kube-apiserver words it: the value shown is the type found, not the value.
  return {
    field: path,
    message: `Invalid value: ${q(typeOf(value))}: ${path} in body must be of type ${type}: ${q(typeOf(value))}`,
    reason: 'FieldValueInvalid',
  };
}

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);

function visit(value: unknown, given: Schema, path: string, resolve: Resolve, options: { checkValues: boolean; keepUnknown?: boolean }, out: Walk): void {
  const schema = deref(given, resolve);
  if (!schema) return;
  const check = options.checkValues;
  if (value === null) {
    if (check && !schema.nullable && schema.type) out.errors.push(typeError(path, value, schema.type));
    return;
  }
  if (schema['x-kubernetes-int-or-string']) {
    if (check && typeof value !== 'string' && !Number.isInteger(value)) out.errors.push(typeError(path, value, 'integer,string'));
    return;
  }
  if (check) valueRules(value, schema, path, out);
  if (isObj(value) && (schema.type === 'object' || schema.properties || schema.additionalProperties)) {
    const props = schema.properties ?? {};
    // Defaults first, as kube-apiserver applies them before it validates.
    for (const [k, p] of Object.entries(props)) {
      const ps = deref(p, resolve);
      if (value[k] === undefined && ps?.default !== undefined) value[k] = structuredClone(ps.default);
    }
    const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true || schema['x-kubernetes-embedded-resource'] === true;
    for (const k of Object.keys(value)) {
      const child = join(path, k);
      if (props[k]) visit(value[k], props[k], child, resolve, options, out);
      else if (isObj(schema.additionalProperties)) visit(value[k], schema.additionalProperties, child, resolve, options, out);
      else if (schema.additionalProperties === true || preserve) continue;
      else if (schema.properties || schema.type === 'object') {
        out.unknown.push(child);
        if (!options.keepUnknown) delete value[k];
      }
    }
    if (check)
      for (const r of schema.required ?? [])
        if (value[r] === undefined) out.errors.push({ field: join(path, r), message: 'Required value', reason: 'FieldValueRequired' });
  } else if (Array.isArray(value) && schema.items) {
    for (const [i, item] of value.entries()) visit(item, schema.items, `${path}[${i}]`, resolve, options, out);
  }
}

function valueRules(value: unknown, s: Schema, path: string, out: Walk): void {
  const t = s.type;
  const ok =
    t === undefined ||
    (t === 'object' && isObj(value)) ||
    (t === 'array' && Array.isArray(value)) ||
    (t === 'string' && typeof value === 'string') ||
    (t === 'integer' && Number.isInteger(value)) ||
    (t === 'number' && typeof value === 'number') ||
    (t === 'boolean' && typeof value === 'boolean');
  if (!ok) {
    out.errors.push(typeError(path, value, t!));
    return;
  }
  const invalid = (message: string) => out.errors.push({ field: path, message: `Invalid value: ${q(value)}: ${message}`, reason: 'FieldValueInvalid' });
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    out.errors.push({
      field: path,
      message: `Unsupported value: ${q(value)}: supported values: ${s.enum.map(q).join(', ')}`,
      reason: 'FieldValueNotSupported',
    });
  if (typeof value === 'number') {
    if (s.minimum !== undefined && (s.exclusiveMinimum ? value <= s.minimum : value < s.minimum))
      invalid(`${path} in body should be greater than ${s.exclusiveMinimum ? '' : 'or equal to '}${s.minimum}`);
    if (s.maximum !== undefined && (s.exclusiveMaximum ? value >= s.maximum : value > s.maximum))
      invalid(`${path} in body should be less than ${s.exclusiveMaximum ? '' : 'or equal to '}${s.maximum}`);
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) invalid(`${path} in body should be at least ${s.minLength} chars long`);
    if (s.maxLength !== undefined && length > s.maxLength)
      out.errors.push({ field: path, message: `Too long: may not be more than ${s.maxLength} bytes`, reason: 'FieldValueTooLong' });
    if (s.pattern !== undefined) {
      let re: RegExp | undefined;
      try {
        re = new RegExp(s.pattern, 'u');
      } catch {
        re = undefined;
      }
      if (re && !re.test(value)) invalid(`${path} in body should match '${s.pattern}'`);
    }
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) invalid(`${path} in body should have at least ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems)
      out.errors.push({ field: path, message: `Too many: ${value.length}: must have at most ${s.maxItems} items`, reason: 'FieldValueTooLong' });
  }
  if (isObj(value)) {
    const n = Object.keys(value).length;
    if (s.minProperties !== undefined && n < s.minProperties) invalid(`${path} in body should have at least ${s.minProperties} properties`);
    if (s.maxProperties !== undefined && n > s.maxProperties) invalid(`${path} in body should have at most ${s.maxProperties} properties`);
  }
}
