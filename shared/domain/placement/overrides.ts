// Overrides: what one member gets instead of the hub's copy. ClusterResourceOverrides (for
// cluster-scoped objects) then ResourceOverrides (for objects in their own namespace), each by
// name, each rule applied when its cluster selector matches the member: a JSON patch (RFC 6902,
// fast-json-patch; a path that does not exist fails, as in KubeFleet) with `${MEMBER-CLUSTER-NAME}`
// replaced in its values, or Delete (the member does not get the object at all).
import fastJsonPatch from 'fast-json-patch';
import { matchesSelector } from './selectors.js';
import type { OverrideSpec } from './spec.js';

export type Manifest = { apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } } & Record<
  string,
  unknown
>;

export interface Override {
  kind: 'ClusterResourceOverride' | 'ResourceOverride';
  name: string;
  /** A ResourceOverride's namespace: it overrides objects there only. */
  namespace?: string;
  spec: OverrideSpec;
}

// KubeFleet's reserved variable, written literally in an override's values (not a template string).
export const memberNameVariable = ['$', '{MEMBER-CLUSTER-NAME}'].join('');

const groupOf = (apiVersion = '') => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '');
const versionOf = (apiVersion = '') => apiVersion.slice(apiVersion.lastIndexOf('/') + 1);

/** Whether an override names this object. */
export function overrideTargets(o: Override, m: Manifest): boolean {
  const namespace = m.metadata?.namespace;
  if (o.kind === 'ClusterResourceOverride' ? namespace : namespace !== o.namespace) return false;
  return o.spec.targets.some(
    (t) => t.group === groupOf(m.apiVersion) && t.version === versionOf(m.apiVersion) && t.kind === m.kind && t.name === m.metadata?.name,
  );
}

/** The overrides that may touch a placement's objects (those bound to another placement do not). */
export const overridesOfPlacement = (all: Override[], placement: string) =>
  all
    .filter((o) => o.spec.placement === undefined || o.spec.placement.name === placement)
    .sort((a, b) =>
      a.kind !== b.kind ? (a.kind === 'ClusterResourceOverride' ? -1 : 1) : `${a.namespace ?? ''}/${a.name}` < `${b.namespace ?? ''}/${b.name}` ? -1 : 1,
    );

function substitute(value: unknown, member: string): unknown {
  if (typeof value === 'string') return value.replaceAll(memberNameVariable, member);
  if (Array.isArray(value)) return value.map((v) => substitute(v, member));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, member)]));
  return value;
}

export interface OverrideOutcome {
  /** What the member gets, in the placement's order (objects a Delete rule took out are gone). */
  manifests: Manifest[];
  /** Names of the overrides that changed something for this member (`ns/name` for ResourceOverrides). */
  applied: { cluster: string[]; namespaced: string[] };
  /** Why an override could not be applied: the member's Work is not changed until it is fixed. */
  error?: string;
}

const describe = (m: Manifest) => `${m.kind} ${m.metadata?.namespace ? `${m.metadata.namespace}/` : ''}${m.metadata?.name}`;

export function applyOverrides(manifests: Manifest[], member: { name: string; labels: Record<string, string> }, overrides: Override[]): OverrideOutcome {
  const cluster = new Set<string>();
  const namespaced = new Set<string>();
  const out: Manifest[] = [];
  for (const original of manifests) {
    let m: Manifest | undefined = original;
    for (const o of overrides) {
      if (!m || !overrideTargets(o, m)) continue;
      for (const rule of o.spec.rules) {
        const terms = rule.clusterSelector?.clusterSelectorTerms ?? [];
        if (terms.length && !terms.some((t) => matchesSelector(t.labelSelector, member.labels))) continue;
        (o.kind === 'ClusterResourceOverride' ? cluster : namespaced).add(o.namespace ? `${o.namespace}/${o.name}` : o.name);
        if (rule.overrideType === 'Delete') {
          m = undefined;
          break;
        }
        const ops = (rule.jsonPatchOverrides ?? []).map((p) => ({ ...p, value: substitute(p.value, member.name) })) as fastJsonPatch.Operation[];
        try {
          m = fastJsonPatch.applyPatch(structuredClone(m), ops, true, false).newDocument as Manifest;
        } catch (e) {
          const why = ((e as Error).message ?? String(e)).split('\n')[0];
          return {
            manifests: [],
            applied: { cluster: [...cluster], namespaced: [...namespaced] },
            error: `${o.kind} ${o.namespace ? `${o.namespace}/` : ''}${o.name} cannot be applied to ${describe(original)}: ${why}`,
          };
        }
      }
    }
    if (m) out.push(m);
  }
  return { manifests: out, applied: { cluster: [...cluster].sort(), namespaced: [...namespaced].sort() } };
}
