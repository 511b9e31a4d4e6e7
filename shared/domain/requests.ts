// Request bodies, validated at the door. Unknown read-only fields (id, name, type, systemData,
// eTag, provisioningState, status) are what a client echoes back after a GET; ARM ignores them.
import { z } from 'zod';
import { badRequest } from './errors.js';
import { identityBody } from './identity.js';

const tags = z.record(z.string().max(512), z.string().max(256)).refine((t) => Object.keys(t).length <= 50, 'at most 50 tags');

export const fleetPutBody = z
  .object({
    location: z.string().min(1, 'location is required'),
    tags: tags.optional(),
    identity: identityBody.optional(),
    properties: z.object({ hubProfile: z.unknown().optional() }).loose().optional(),
  })
  .loose();

export const fleetPatchBody = z
  .object({
    tags: tags.optional(),
    identity: identityBody.optional(),
  })
  .loose();

// Kubernetes label syntax: the labels are what placements select member clusters by.
/** Label prefixes only the fleet writes (on a hub's MemberCluster). */
export const reservedLabelPrefixes = ['fleet.azure.com/'];
const labelName = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelPrefix = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const validLabelKey = (k: string) => {
  const slash = k.lastIndexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  return labelName.test(name) && (prefix === undefined || (prefix.length <= 253 && labelPrefix.test(prefix)));
};
const labels = z.record(z.string(), z.string()).superRefine((l, ctx) => {
  if (Object.keys(l).length > 100) ctx.addIssue({ code: 'custom', message: 'at most 100 labels' });
  for (const [key, value] of Object.entries(l)) {
    if (reservedLabelPrefixes.some((p) => key.startsWith(p)))
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `'${key}' is a label the fleet sets itself (the ${reservedLabelPrefixes.join(', ')} prefixes are reserved: the hub's MemberCluster carries the member's location, resource group and subscription there)`,
      });
    else if (!validLabelKey(key))
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `'${key}' is not a label key: label keys are [prefix/]name, a name of 1-63 letters, digits, '-', '_' or '.' starting and ending alphanumeric, and an optional DNS-subdomain prefix`,
      });
    else if (value !== '' && !labelName.test(value))
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `'${value}' is not a label value: label values are empty or 1-63 letters, digits, '-', '_' or '.' starting and ending alphanumeric`,
      });
  }
});

export const memberPutBody = z
  .object({
    properties: z
      .object({
        clusterResourceId: z.string().min(1, 'properties.clusterResourceId is required'),
        group: z.string().optional(),
        labels: labels.optional(),
      })
      .loose(),
  })
  .loose();

export const memberPatchBody = z
  .object({
    properties: z.object({ group: z.string().optional(), labels: labels.optional() }).loose().optional(),
  })
  .loose();

/** Parses a body against a schema, turning the first problem into an ARM 400. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (body === undefined) throw badRequest('InvalidRequestContent', 'The request content was invalid and could not be deserialized: the body is empty.');
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue.path.join('.');
    const message = `${path ? `${path}: ` : ''}${issue.message}`;
    throw badRequest('InvalidRequestContent', `The request content was invalid: ${message}`, path || undefined);
  }
  return result.data;
}

/** ARM accepts display names ('East US') and stores the normalized name ('eastus'). */
export function normalizeLocation(location: string): string {
  const normalized = location.replace(/\s+/g, '').toLowerCase();
  if (!/^[a-z0-9]+$/.test(normalized)) throw badRequest('InvalidLocation', `'${location}' is not a valid Azure location name.`, 'location');
  return normalized;
}
