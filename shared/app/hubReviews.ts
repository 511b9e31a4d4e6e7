// `kubectl auth can-i` and `kubectl auth whoami`: SelfSubjectAccessReview and SelfSubjectReview,
// answered from the same checks every hub request passes (the API's app roles, a member agent's
// confinement to its own namespace, the fleet's own objects), so what can-i says is what the next
// request meets. Any authenticated caller may ask about itself, as on kube-apiserver.

import type { AccessPolicy } from '../domain/access.js';
import type { Caller } from '../domain/model.js';
import { authorizeHub, type HubAction } from '../hub/access.js';
import { timestamp } from '../hub/conditions.js';
import type { KubeObject } from '../hub/kinds.js';
import { HubError, invalid } from '../hub/status.js';
import { fleetRefusal } from './hubPolicy.js';
import { authorizeAgent } from './memberAgents.js';

export const reviewPaths = {
  access: ['apis', 'authorization.k8s.io', 'v1', 'selfsubjectaccessreviews'],
  self: ['apis', 'authentication.k8s.io', 'v1', 'selfsubjectreviews'],
} as const;

export type ReviewKind = keyof typeof reviewPaths;

/** Which review a request is (a POST to its collection), if any. */
export function reviewOf(method: string, path: string[]): ReviewKind | undefined {
  if (method !== 'POST') return undefined;
  for (const [kind, p] of Object.entries(reviewPaths)) if (p.length === path.length && p.every((s, i) => s === path[i])) return kind as ReviewKind;
  return undefined;
}

export type Reviewer = { kind: 'user'; caller: Caller; access: AccessPolicy } | { kind: 'agent'; caller: Caller; member: string };

const verbs = new Set<HubAction['verb']>(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The decision for one SelfSubjectAccessReview: allowed, or not with the reason the request would be refused. */
function decide(who: Reviewer, action: HubAction): { allowed: boolean; reason?: string } {
  try {
    if (who.kind === 'agent') authorizeAgent(who.member, who.caller.principalId ?? who.caller.id, action);
    else authorizeHub(who.access, who.caller, action);
  } catch (e) {
    if (e instanceof HubError && e.code === 403) return { allowed: false, reason: e.message };
    throw e;
  }
  const refusal = who.kind === 'user' ? fleetRefusal(action) : undefined;
  return refusal ? { allowed: false, reason: refusal } : { allowed: true };
}

export function answerReview(review: ReviewKind, who: Reviewer, body: KubeObject, now: Date): KubeObject {
  const kind = review === 'access' ? 'SelfSubjectAccessReview' : 'SelfSubjectReview';
  const group = review === 'access' ? 'authorization.k8s.io' : 'authentication.k8s.io';
  if (body.kind !== undefined && body.kind !== kind) throw new HubError(400, 'BadRequest', `the body is a ${String(body.kind)}; this URL takes a ${kind}`);
  const metadata = { creationTimestamp: timestamp(now) };
  if (review === 'self') {
    const c = who.caller;
    const groups = who.kind === 'agent' ? ['system:authenticated', 'fleet:member-agents'] : ['system:authenticated', ...c.roles.map((r) => `role:${r}`)];
    return {
      apiVersion: `${group}/v1`,
      kind,
      metadata,
      status: { userInfo: { username: c.principalId ?? c.id, uid: c.id, groups, extra: { tenant: [c.tenantId ?? ''] } } },
    };
  }
  const spec = isObj(body.spec) ? body.spec : {};
  const ra = isObj(spec.resourceAttributes) ? spec.resourceAttributes : undefined;
  const nra = isObj(spec.nonResourceAttributes) ? spec.nonResourceAttributes : undefined;
  if (!ra === !nra)
    throw invalid(kind, group, '', [
      { field: 'spec.resourceAttributes', message: 'Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified' },
    ]);
  let status: { allowed: boolean; reason?: string; denied?: boolean };
  if (nra) {
    // Discovery, /version, /openapi: what every authenticated caller reads.
    const verb = str(nra.verb) ?? '';
    status = verb === 'get' ? { allowed: true } : { allowed: false, reason: `${str(nra.path) ?? ''} is only read (get) on a hub` };
  } else {
    const verb = str(ra!.verb) ?? '';
    const sub = str(ra!.subresource);
    const resource = str(ra!.resource) ?? '';
    if (verb === '*' || resource === '*' || !verbs.has(verb as HubAction['verb'])) {
      // A wildcard is allowed only to a writer (who may do anything a hub serves).
      const probe: HubAction = {
        verb: 'delete',
        group: str(ra!.group) ?? '',
        plural: resource === '*' ? 'namespaces' : resource,
        namespace: str(ra!.namespace) || undefined,
      };
      status =
        verbs.has(verb as HubAction['verb']) || verb === '*' ? decide(who, probe) : { allowed: false, reason: `the hub does not serve the verb "${verb}"` };
    } else {
      status = decide(who, {
        verb: verb as HubAction['verb'],
        group: str(ra!.group) ?? '',
        plural: sub ? `${resource}/${sub}` : resource,
        namespace: str(ra!.namespace) || undefined,
        name: str(ra!.name) || undefined,
      });
    }
  }
  return { apiVersion: `${group}/v1`, kind, metadata, spec, status };
}
