// The schema a kind's objects are held to: a built-in kind's from the official client's models
// (builtinSchemas.ts), a custom resource's from its CRD version's openAPIV3Schema; the fleet's own
// kinds have none here (their rules are their validate functions).
import { builtInSchemas } from './builtinSchemas.js';
import type { ResourceType } from './kinds.js';
import type { Resolve, Schema } from './structural.js';

const fleetGroup = /(^|\.)kubernetes-fleet\.io$/;

/** What every object carries besides what a CRD's schema says (kube-apiserver adds the same). */
function customRoot(schema: Schema, metadata: Schema | undefined): Schema {
  return {
    ...schema,
    type: 'object',
    properties: {
      ...(schema.properties ?? {}),
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: metadata ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
  };
}

export async function schemaFor(t: ResourceType): Promise<{ root: Schema; resolve: Resolve } | undefined> {
  if (fleetGroup.test(t.group)) return undefined;
  const catalog = await builtInSchemas();
  const resolve: Resolve = (ref) => catalog.get(ref.slice(ref.lastIndexOf('/') + 1));
  if (t.custom) {
    if (!t.schema) return undefined;
    const meta = catalog.get('io.k8s.v1.ObjectMeta');
    return { root: customRoot(t.schema, meta ? { allOf: [{ $ref: '#/components/schemas/io.k8s.v1.ObjectMeta' }] } : undefined), resolve };
  }
  const key = catalog.keyOf(t);
  const root = key ? catalog.get(key) : undefined;
  return root ? { root, resolve } : undefined;
}
