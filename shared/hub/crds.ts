// CustomResourceDefinitions: what a CRD must hold to be accepted, and the resource types it serves
// (one per served version, printer columns from additionalPrinterColumns).
import { builtInTypes, type Column, type FieldError, type KubeObject, type ResourceType } from './kinds.js';
import { nameErrors } from './meta.js';
import type { Schema } from './structural.js';

interface CrdVersion {
  name: string;
  served?: boolean;
  storage?: boolean;
  subresources?: { status?: unknown };
  schema?: { openAPIV3Schema?: Schema };
  additionalPrinterColumns?: { name: string; type: string; jsonPath: string; priority?: number; description?: string; format?: string }[];
}

export interface CrdSpec {
  group: string;
  names: { plural: string; singular?: string; kind: string; shortNames?: string[]; categories?: string[]; listKind?: string };
  scope: 'Namespaced' | 'Cluster';
  versions: CrdVersion[];
}

const kindPattern = /^[A-Z][A-Za-z0-9]*$/;

/** What the apiextensions validation refuses (a subset that keeps served types consistent). */
export function crdErrors(o: KubeObject, served: readonly ResourceType[] = builtInTypes): FieldError[] {
  const errors: FieldError[] = [];
  const spec = o.spec as Partial<CrdSpec> | undefined;
  if (!spec || typeof spec !== 'object') return [{ field: 'spec', message: 'Required value', reason: 'FieldValueRequired' }];
  if (typeof spec.group !== 'string' || !spec.group.includes('.') || nameErrors(spec.group, 'subdomain').length)
    errors.push({ field: 'spec.group', message: `Invalid value: ${JSON.stringify(spec.group)}: should be a domain with at least one dot` });
  const names = spec.names;
  if (!names || typeof names.plural !== 'string' || nameErrors(names.plural, 'label').length)
    errors.push({ field: 'spec.names.plural', message: `Invalid value: ${JSON.stringify(names?.plural)}: a lowercase RFC 1123 label is required` });
  if (!names || typeof names.kind !== 'string' || !kindPattern.test(names.kind))
    errors.push({ field: 'spec.names.kind', message: `Invalid value: ${JSON.stringify(names?.kind)}: must be a CamelCase identifier` });
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster')
    errors.push({
      field: 'spec.scope',
      message: `Unsupported value: ${JSON.stringify(spec.scope)}: supported values: "Cluster", "Namespaced"`,
      reason: 'FieldValueNotSupported',
    });
  if (!Array.isArray(spec.versions) || spec.versions.length === 0)
    errors.push({ field: 'spec.versions', message: 'Invalid value: must have at least one version', reason: 'FieldValueRequired' });
  else {
    if (spec.versions.filter((v) => v.storage).length !== 1)
      errors.push({ field: 'spec.versions', message: 'Invalid value: must have exactly one version marked as storage version' });
    spec.versions.forEach((v, i) => {
      if (typeof v?.name !== 'string' || nameErrors(v.name, 'label').length)
        errors.push({ field: `spec.versions[${i}].name`, message: 'Invalid value: must be a DNS label' });
    });
  }
  if (errors.length === 0 && o.metadata.name !== `${names!.plural}.${spec.group}`)
    errors.push({ field: 'metadata.name', message: `Invalid value: "${o.metadata.name}": must be spec.names.plural+"."+spec.group` });
  if (errors.length === 0 && served.some((t) => t.group === spec.group && t.plural === names!.plural))
    errors.push({ field: 'spec.group', message: `Invalid value: "${spec.group}": ${names!.plural} in this group is served by the hub itself` });
  return errors;
}

/** A JSONPath as additionalPrinterColumns use them: `.spec.size`, `.status.conditions[?(@.type=="Ready")].status`, `.items[0]`. */
export function evalJsonPath(o: unknown, path: string): unknown {
  const tokens = path.replace(/^\{?\.?/, '').replace(/\}$/, '');
  let current: unknown[] = [o];
  const re = /([^.[\]]+)|\[\?\(@\.([\w.-]+)\s*==\s*["']([^"']*)["']\)\]|\[(\d+)\]/g;
  for (const m of tokens.matchAll(re)) {
    const next: unknown[] = [];
    for (const v of current) {
      if (m[1] !== undefined && v && typeof v === 'object' && !Array.isArray(v)) next.push((v as Record<string, unknown>)[m[1]]);
      else if (m[2] !== undefined && Array.isArray(v)) next.push(...v.filter((e) => evalJsonPath(e, `.${m[2]}`) === m[3]));
      else if (m[4] !== undefined && Array.isArray(v)) next.push(v[Number(m[4])]);
    }
    current = next.filter((x) => x !== undefined);
  }
  return current.length === 0 ? undefined : current.length === 1 ? current[0] : current.join(',');
}

const columnType = (t: string): Column['type'] => (t === 'integer' || t === 'number' || t === 'boolean' || t === 'date' ? t : 'string');

/** The types a CRD serves: those of its served versions, the storage version's first (kubectl prefers the first). */
export function typesOfCrd(crd: KubeObject): ResourceType[] {
  const spec = crd.spec as CrdSpec;
  if (crd.metadata.deletionTimestamp) return [];
  const served = spec.versions.filter((v) => v.served !== false);
  // The stable version first: kubectl takes the first as preferred (kubectl-hub D5).
  const order = (v: string) => (/^v\d+$/.test(v) ? 0 : /beta/.test(v) ? 1 : 2);
  served.sort((a, b) => order(a.name) - order(b.name) || b.name.localeCompare(a.name));
  return served.map((v) => ({
    group: spec.group,
    version: v.name,
    kind: spec.names.kind,
    plural: spec.names.plural,
    singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
    shortNames: spec.names.shortNames,
    categories: spec.names.categories,
    namespaced: spec.scope === 'Namespaced',
    status: Boolean(v.subresources?.status),
    custom: true,
    ...(v.schema?.openAPIV3Schema && typeof v.schema.openAPIV3Schema === 'object' ? { schema: v.schema.openAPIV3Schema } : {}),
    columns: (v.additionalPrinterColumns ?? []).map((c) => ({
      name: c.name,
      type: columnType(c.type),
      wide: (c.priority ?? 0) > 0,
      description: c.description,
      cell: (o: KubeObject) => evalJsonPath(o, c.jsonPath),
    })),
  }));
}

/** The status the hub gives a CRD it serves: names accepted, established at once. */
export function crdStatus(crd: KubeObject, now: string) {
  const spec = crd.spec as CrdSpec;
  const condition = (type: string, reason: string, message: string) => ({ type, status: 'True', lastTransitionTime: now, reason, message });
  return {
    acceptedNames: {
      plural: spec.names.plural,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      kind: spec.names.kind,
      listKind: spec.names.listKind ?? `${spec.names.kind}List`,
      ...(spec.names.shortNames ? { shortNames: spec.names.shortNames } : {}),
      ...(spec.names.categories ? { categories: spec.names.categories } : {}),
    },
    conditions: [
      condition('NamesAccepted', 'NoConflicts', 'no conflicts found'),
      condition('Established', 'InitialNamesAccepted', 'the initial names have been accepted'),
    ],
    storedVersions: spec.versions.filter((v) => v.storage).map((v) => v.name),
  };
}
