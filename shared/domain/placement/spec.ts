// The placement API a user writes (placement.kubernetes-fleet.io/v1): ClusterResourcePlacement,
// ClusterResourceOverride and ResourceOverride specs as KubeFleet's CRDs define them — their field
// limits, enums and the CEL rules between fields — as zod schemas. A hub write that breaks one is
// refused with the field it names (a Kubernetes 422), before anything is stored.
import { z } from 'zod';

export interface FieldProblem {
  field: string;
  message: string;
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueTooLong';
}

const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z.enum(values, {
    error: (issue) =>
      issue.input === undefined
        ? 'Required value'
        : `Unsupported value: ${JSON.stringify(issue.input)}: supported values: ${values.map((v) => `"${v}"`).join(', ')}`,
  });
const text = (max = 253) => z.string({ error: (i) => (i.input === undefined ? 'Required value' : 'Invalid value: must be a string') }).max(max);
const int = (min: number, max = 2 ** 31 - 1) =>
  z
    .int({ error: (i) => (i.input === undefined ? 'Required value' : `Invalid value: ${JSON.stringify(i.input)}: must be an integer`) })
    .min(min, { error: `Invalid value: must be greater than or equal to ${min}` })
    .max(max, { error: `Invalid value: must be less than or equal to ${max}` });
const list = <T extends z.ZodType>(item: T, max: number, min = 0) =>
  z
    .array(item, { error: 'Invalid value: must be a list' })
    .max(max, { error: `Too many: must have at most ${max} items` })
    .min(min, { error: min === 1 ? 'Required value: at least one item' : `Invalid value: must have at least ${min} items` });

export const labelSelectorSchema = z.object({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.object({
        key: text(317),
        operator: oneOf(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});
export type LabelSelector = z.infer<typeof labelSelectorSchema>;

export const propertyOperators = ['Gt', 'Ge', 'Eq', 'Ne', 'Lt', 'Le'] as const;
const propertySelectorSchema = z.object({
  matchExpressions: list(
    z.object({
      name: text(),
      operator: oneOf(propertyOperators),
      values: list(z.string(), 1, 1),
    }),
    100,
  ),
});

const clusterSelectorTermSchema = z.object({ labelSelector: labelSelectorSchema.optional(), propertySelector: propertySelectorSchema.optional() });
export type ClusterSelectorTerm = z.infer<typeof clusterSelectorTermSchema>;

const preferredTermSchema = z.object({
  weight: int(-100, 100),
  preference: z.object({
    labelSelector: labelSelectorSchema.optional(),
    propertySorter: z.object({ name: text(), sortOrder: oneOf(['Ascending', 'Descending']) }).optional(),
  }),
});
export type PreferredTerm = z.infer<typeof preferredTermSchema>;

const topologySpreadSchema = z.object({
  maxSkew: int(1).default(1),
  topologyKey: text(317),
  whenUnsatisfiable: oneOf(['DoNotSchedule', 'ScheduleAnyway']).default('DoNotSchedule'),
});
export type TopologySpreadConstraint = z.infer<typeof topologySpreadSchema>;

const tolerationSchema = z.object({
  key: text(317).optional(),
  operator: oneOf(['Equal', 'Exists']).default('Equal'),
  value: text(63).optional(),
  effect: oneOf(['NoSchedule']).optional(),
});
export type Toleration = z.infer<typeof tolerationSchema>;

export const placementTypes = ['PickAll', 'PickN', 'PickFixed'] as const;
const policySchema = z
  .object({
    placementType: oneOf(placementTypes).default('PickAll'),
    clusterNames: list(text(63), 100).optional(),
    numberOfClusters: int(0).optional(),
    affinity: z
      .object({
        clusterAffinity: z
          .object({
            requiredDuringSchedulingIgnoredDuringExecution: z.object({ clusterSelectorTerms: list(clusterSelectorTermSchema, 10) }).optional(),
            preferredDuringSchedulingIgnoredDuringExecution: list(preferredTermSchema, 100).optional(),
          })
          .optional(),
      })
      .optional(),
    topologySpreadConstraints: list(topologySpreadSchema, 100).optional(),
    tolerations: list(tolerationSchema, 100).optional(),
  })
  // The CRD's CEL rules: which fields each placement type may carry.
  .check((ctx) => {
    const p = ctx.value;
    const refuse = (field: string, why: string) => ctx.issues.push({ code: 'custom', input: p, path: [field], message: `Forbidden: ${why}` });
    if (p.placementType === 'PickN' && p.numberOfClusters === undefined)
      ctx.issues.push({ code: 'custom', input: p, path: ['numberOfClusters'], message: 'Required value: a PickN placement needs numberOfClusters' });
    if (p.placementType !== 'PickFixed' && p.clusterNames?.length) refuse('clusterNames', `only a PickFixed placement names clusters, not ${p.placementType}`);
    if (p.placementType !== 'PickN' && p.numberOfClusters !== undefined)
      refuse('numberOfClusters', `only a PickN placement takes numberOfClusters, not ${p.placementType}`);
    if (p.placementType !== 'PickN' && p.topologySpreadConstraints?.length)
      refuse('topologySpreadConstraints', `only a PickN placement spreads over a topology, not ${p.placementType}`);
    if (p.placementType === 'PickFixed' && p.affinity) refuse('affinity', 'a PickFixed placement names its clusters; it cannot have affinity');
    if (p.placementType === 'PickFixed' && p.tolerations?.length) refuse('tolerations', 'a PickFixed placement ignores taints; it cannot have tolerations');
  });
export type PlacementPolicy = z.infer<typeof policySchema>;

const intOrPercent = z.union([int(0), z.string().regex(/^(100|[1-9]?[0-9])%$/, { error: 'Invalid value: must be an integer or a percentage "0%"–"100%"' })], {
  error: 'Invalid value: must be an integer or a percentage such as "25%"',
});

const strategySchema = z.object({
  // External (staged update runs) is not served by this fleet yet: refused, not silently ignored.
  type: oneOf(['RollingUpdate']).default('RollingUpdate'),
  rollingUpdate: z
    .object({
      maxUnavailable: intOrPercent.default('25%'),
      maxSurge: intOrPercent.default('25%'),
      unavailablePeriodSeconds: int(0).default(60),
    })
    .prefault({}),
  applyStrategy: z
    .object({
      type: oneOf(['ClientSideApply', 'ServerSideApply']).default('ClientSideApply'),
      comparisonOption: oneOf(['PartialComparison', 'FullComparison']).default('PartialComparison'),
      whenToApply: oneOf(['Always', 'IfNotDrifted']).default('Always'),
      whenToTakeOver: oneOf(['Always', 'IfNoDiff', 'Never']).default('Always'),
      allowCoOwnership: z.boolean().optional(),
      serverSideApplyConfig: z.object({ force: z.boolean().optional() }).optional(),
    })
    .prefault({}),
  deleteStrategy: z.object({ propagationPolicy: oneOf(['Delete', 'Abandon']).default('Delete') }).optional(),
});
export type RolloutStrategy = z.infer<typeof strategySchema>;

export const resourceSelectorSchema = z
  .object({
    group: z.string({ error: 'Required value' }).max(253),
    version: text(63),
    kind: text(63),
    name: text().optional(),
    labelSelector: labelSelectorSchema.optional(),
    selectionScope: oneOf(['NamespaceOnly', 'NamespaceWithResources']).optional(),
  })
  .check((ctx) => {
    if (ctx.value.name !== undefined && ctx.value.labelSelector !== undefined)
      ctx.issues.push({ code: 'custom', input: ctx.value, path: ['labelSelector'], message: 'Forbidden: name and labelSelector are mutually exclusive' });
    if (ctx.value.selectionScope !== undefined && ctx.value.kind !== 'Namespace')
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        path: ['selectionScope'],
        message: 'Forbidden: selectionScope applies to a Namespace selector only',
      });
  });
export type ResourceSelector = z.infer<typeof resourceSelectorSchema>;

export const placementSpecSchema = z.object({
  resourceSelectors: list(resourceSelectorSchema, 100, 1),
  policy: policySchema.prefault({}),
  strategy: strategySchema.prefault({}),
  revisionHistoryLimit: int(1, 1000).default(10),
});
export type PlacementSpec = z.infer<typeof placementSpecSchema>;

// ---- overrides -------------------------------------------------------------------------------

/** Fields an override may not touch (KubeFleet refuses them: they identify the object, or are the member's). */
const forbiddenPatchPaths =
  /^\/(apiVersion|kind|status)(\/|$)|^\/metadata(\/(name|namespace|uid|resourceVersion|generation|creationTimestamp|deletionTimestamp|managedFields|ownerReferences|finalizers)(\/|$)|$)/;

const overrideRuleSchema = z
  .object({
    clusterSelector: z.object({ clusterSelectorTerms: list(z.object({ labelSelector: labelSelectorSchema.optional() }), 10) }).optional(),
    overrideType: oneOf(['JSONPatch', 'Delete']).default('JSONPatch'),
    jsonPatchOverrides: list(
      z.object({
        op: oneOf(['add', 'remove', 'replace']),
        path: text(4096).regex(/^\//, { error: 'Invalid value: a JSON pointer starts with "/"' }),
        value: z.unknown().optional(),
      }),
      20,
    ).optional(),
  })
  .check((ctx) => {
    const r = ctx.value;
    if (r.overrideType === 'JSONPatch' && !r.jsonPatchOverrides?.length)
      ctx.issues.push({ code: 'custom', input: r, path: ['jsonPatchOverrides'], message: 'Required value: a JSONPatch rule needs jsonPatchOverrides' });
    if (r.overrideType === 'Delete' && r.jsonPatchOverrides?.length)
      ctx.issues.push({ code: 'custom', input: r, path: ['jsonPatchOverrides'], message: 'Forbidden: a Delete rule takes no jsonPatchOverrides' });
    r.jsonPatchOverrides?.forEach((p, i) => {
      if (forbiddenPatchPaths.test(p.path))
        ctx.issues.push({ code: 'custom', input: p, path: ['jsonPatchOverrides', i, 'path'], message: `Forbidden: an override cannot change ${p.path}` });
      if (p.op !== 'remove' && p.value === undefined)
        ctx.issues.push({ code: 'custom', input: p, path: ['jsonPatchOverrides', i, 'value'], message: `Required value: "${p.op}" needs a value` });
    });
  });
export type OverrideRule = z.infer<typeof overrideRuleSchema>;

const overridePolicySchema = z.object({ overrideRules: list(overrideRuleSchema, 20, 1) });
const placementRefSchema = z.object({ name: text(), scope: oneOf(['Cluster', 'Namespaced']).optional() }).optional();
const overrideTargetSchema = z.object({ group: z.string({ error: 'Required value' }).max(253), version: text(63), kind: text(63), name: text() });

export const clusterResourceOverrideSpecSchema = z.object({
  placement: placementRefSchema,
  clusterResourceSelectors: list(overrideTargetSchema, 20, 1),
  policy: overridePolicySchema,
});
export const resourceOverrideSpecSchema = z.object({
  placement: placementRefSchema,
  resourceSelectors: list(overrideTargetSchema, 20, 1),
  policy: overridePolicySchema,
});
export type OverrideSpec = { placement?: { name: string }; targets: z.infer<typeof overrideTargetSchema>[]; rules: OverrideRule[] };

// ---- errors as Kubernetes names them -------------------------------------------------------------

const fieldOf = (path: PropertyKey[]) => path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : `${s}.${String(p)}`), 'spec');

function problemsOf(error: z.ZodError): FieldProblem[] {
  return error.issues.map((i) => {
    const message = i.code === 'invalid_union' ? 'Invalid value: must be an integer or a percentage such as "25%"' : i.message;
    const reason: FieldProblem['reason'] = message.startsWith('Required')
      ? 'FieldValueRequired'
      : message.startsWith('Unsupported')
        ? 'FieldValueNotSupported'
        : message.startsWith('Too many')
          ? 'FieldValueTooLong'
          : 'FieldValueInvalid';
    return { field: fieldOf(i.path), message, reason };
  });
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problems: FieldProblem[] };
const parseWith = <T>(schema: z.ZodType<T>, spec: unknown): Parsed<T> => {
  if (spec === undefined || spec === null) return { ok: false, problems: [{ field: 'spec', message: 'Required value', reason: 'FieldValueRequired' }] };
  const r = schema.safeParse(spec);
  return r.success ? { ok: true, value: r.data } : { ok: false, problems: problemsOf(r.error) };
};

/** A ClusterResourcePlacement's spec with KubeFleet's defaults filled in, or what is wrong with it. */
export const parsePlacementSpec = (spec: unknown) => parseWith(placementSpecSchema, spec);

export function parseOverrideSpec(kind: 'ClusterResourceOverride' | 'ResourceOverride', spec: unknown): Parsed<OverrideSpec> {
  if (kind === 'ClusterResourceOverride') {
    const r = parseWith(clusterResourceOverrideSpecSchema, spec);
    return r.ok ? { ok: true, value: { placement: r.value.placement, targets: r.value.clusterResourceSelectors, rules: r.value.policy.overrideRules } } : r;
  }
  const r = parseWith(resourceOverrideSpecSchema, spec);
  return r.ok ? { ok: true, value: { placement: r.value.placement, targets: r.value.resourceSelectors, rules: r.value.policy.overrideRules } } : r;
}

/** What an update may not change (the CRD's transition rules): the placement type, and a policy once set. */
export function placementUpdateProblems(before: unknown, after: unknown): FieldProblem[] {
  const policy = (s: unknown) => (s && typeof s === 'object' ? (s as { policy?: { placementType?: string } }).policy : undefined);
  const b = policy(before);
  const a = policy(after);
  if (b && !a) return [{ field: 'spec.policy', message: 'Invalid value: the policy cannot be removed once set', reason: 'FieldValueInvalid' }];
  if (b && a && (b.placementType ?? 'PickAll') !== (a.placementType ?? 'PickAll'))
    return [{ field: 'spec.policy.placementType', message: 'Invalid value: placement type is immutable', reason: 'FieldValueInvalid' }];
  return [];
}
