// Kubernetes' name, label and selector rules (apimachinery validation), and the selectors a list
// or watch filters by.
import type { FieldError, KubeObject } from './kinds.js';
import { badRequest } from './status.js';

const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** DNS-1123 subdomain (most kinds) or label (namespaces): the message apimachinery gives. */
export function nameErrors(name: string, rule: 'subdomain' | 'label'): string[] {
  if (rule === 'label') {
    const errors: string[] = [];
    if (name.length > 63) errors.push('must be no more than 63 characters');
    if (!label.test(name))
      errors.push(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      );
    return errors;
  }
  const errors: string[] = [];
  if (name.length > 253) errors.push('must be no more than 253 characters');
  if (!subdomain.test(name))
    errors.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
  return errors;
}

export function qualifiedKeyErrors(key: string): string[] {
  const slash = key.indexOf('/');
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  const errors: string[] = [];
  if (prefix !== undefined) {
    if (!prefix) errors.push('prefix part must be non-empty');
    else if (prefix.length > 253 || !subdomain.test(prefix)) errors.push(`prefix part ${nameErrors(prefix, 'subdomain').join('; ')}`);
  }
  if (!name) errors.push('name part must be non-empty');
  else {
    if (name.length > 63) errors.push('name part must be no more than 63 characters');
    if (!qualifiedName.test(name))
      errors.push(
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
      );
  }
  return errors;
}

export function labelValueErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > 63) errors.push('must be no more than 63 characters');
  if (!labelValue.test(value))
    errors.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
  return errors;
}

const maxAnnotationBytes = 256 * 1024;

/** What apimachinery's ObjectMeta validation refuses, as field errors. */
export function metadataErrors(o: KubeObject, nameRule: 'subdomain' | 'label'): FieldError[] {
  const errors: FieldError[] = [];
  const m = o.metadata;
  const name = m.name;
  if (!name) errors.push({ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' });
  else for (const e of nameErrors(name, nameRule)) errors.push({ field: 'metadata.name', message: `Invalid value: "${name.slice(0, 300)}": ${e}` });
  for (const [field, map] of [
    ['labels', m.labels],
    ['annotations', m.annotations],
  ] as const) {
    if (map === undefined || map === null) continue;
    if (typeof map !== 'object' || Array.isArray(map)) {
      errors.push({ field: `metadata.${field}`, message: 'Invalid value: must be a map of strings' });
      continue;
    }
    for (const [k, v] of Object.entries(map)) {
      for (const e of qualifiedKeyErrors(k)) errors.push({ field: `metadata.${field}`, message: `Invalid value: "${k.slice(0, 300)}": ${e}` });
      if (typeof v !== 'string') errors.push({ field: `metadata.${field}.${k}`, message: 'Invalid value: must be a string' });
      else if (field === 'labels')
        for (const e of labelValueErrors(v)) errors.push({ field: `metadata.labels`, message: `Invalid value: "${v.slice(0, 300)}": ${e}` });
    }
    if (field === 'annotations' && JSON.stringify(map).length > maxAnnotationBytes)
      errors.push({ field: 'metadata.annotations', message: `Too long: must have at most ${maxAnnotationBytes} bytes`, reason: 'FieldValueTooLong' });
  }
  if (m.finalizers !== undefined && (!Array.isArray(m.finalizers) || m.finalizers.some((f) => typeof f !== 'string' || qualifiedKeyErrors(f).length > 0)))
    errors.push({ field: 'metadata.finalizers', message: 'Invalid value: each finalizer must be a qualified name' });
  return errors;
}

// ---- selectors -------------------------------------------------------------------------------

export type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' }
  | { key: string; op: '=' | '!='; values: [string] };

/** Parses a label selector as kubectl sends it (`a=b,c!=d,e in (x,y),!f`). */
export function parseLabelSelector(text: string): Requirement[] {
  const reqs: Requirement[] = [];
  // Commas inside parentheses belong to a set.
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  if (current.trim() || parts.length) parts.push(current);
  for (const raw of parts) {
    const part = raw.trim();
    if (!part) throw badRequest(`unable to parse requirement: found '', expected: identifier in selector "${text}"`);
    const checkKey = (key: string) => {
      const errors = qualifiedKeyErrors(key);
      if (errors.length) throw badRequest(`unable to parse requirement: invalid label key "${key}": ${errors.join('; ')}`);
      return key;
    };
    const set = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    const compare = set ? null : /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    const absent = set || compare ? null : /^!\s*(\S+)$/.exec(part);
    if (set) {
      const values = set[3]
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean);
      reqs.push({ key: checkKey(set[1]), op: set[2] as 'in' | 'notin', values });
    } else if (compare) {
      const errors = labelValueErrors(compare[3]);
      if (errors.length) throw badRequest(`unable to parse requirement: invalid label value: "${compare[3]}": ${errors.join('; ')}`);
      reqs.push({ key: checkKey(compare[1]), op: compare[2] === '!=' ? '!=' : '=', values: [compare[3]] });
    } else if (absent) reqs.push({ key: checkKey(absent[1]), op: '!exists' });
    else if (/^\S+$/.test(part)) reqs.push({ key: checkKey(part), op: 'exists' });
    else throw badRequest(`unable to parse requirement: "${part}" in selector "${text}"`);
  }
  return reqs;
}

export function matchesLabels(reqs: Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r): boolean => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
        return has && l[r.key] === r.values[0];
      case '!=':
        return !has || l[r.key] !== r.values[0];
      case 'in':
        return has && r.values.includes(l[r.key]);
      default:
        return !has || !r.values.includes(l[r.key]);
    }
  });
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

/** Field selectors: metadata.name and metadata.namespace everywhere, plus what a kind adds (events: involvedObject.*). */
export function parseFieldSelector(text: string, extraFields: readonly string[] = []): FieldRequirement[] {
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...extraFields]);
  return text
    .split(',')
    .filter((p) => p.trim())
    .map((part) => {
      const m = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
      if (!m) throw badRequest(`invalid selector: '${part}'; can't understand '${part}'`);
      if (!allowed.has(m[1])) throw badRequest(`field label not supported: ${m[1]}`);
      return { field: m[1], op: m[2] === '!=' ? '!=' : '=', value: m[3] };
    });
}

export function matchesFields(reqs: FieldRequirement[], o: KubeObject): boolean {
  return reqs.every((r) => {
    let v: unknown = o;
    for (const p of r.field.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
    const s = v === undefined || v === null ? '' : String(v);
    return r.op === '=' ? s === r.value : s !== r.value;
  });
}
