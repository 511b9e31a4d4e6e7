// Failures in the Kubernetes API's own dialect: a `Status` with reason, code and details, which
// kubectl prints as `Error from server (Reason): message` (kubectl-hub P1).
import type { FieldError } from './kinds.js';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: { type?: string; message: string; field?: string }[];
  retryAfterSeconds?: number;
}

export class HubError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const statusBody = (e: HubError) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: e.message,
  reason: e.reason,
  ...(e.details ? { details: e.details } : {}),
  code: e.code,
});

/** How a resource is named in messages: `configmaps "cm1"`, `deployments.apps "web"`. */
export const qualified = (plural: string, group: string) => (group ? `${plural}.${group}` : plural);

export const notFound = (plural: string, group: string, name: string) =>
  new HubError(404, 'NotFound', `${qualified(plural, group)} "${name}" not found`, { name, group, kind: plural });

export const alreadyExists = (plural: string, group: string, name: string) =>
  new HubError(409, 'AlreadyExists', `${qualified(plural, group)} "${name}" already exists`, { name, group, kind: plural });

export const conflict = (
  plural: string,
  group: string,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
) => new HubError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(plural, group)} "${name}": ${why}`, { name, group, kind: plural });

export const badRequest = (message: string) => new HubError(400, 'BadRequest', message);

export const methodNotAllowed = (message: string) => new HubError(405, 'MethodNotAllowed', message);

/** 422 with causes: kubectl prints `The Kind "name" is invalid:` and one line per cause. */
export function invalid(kind: string, group: string, name: string, errors: FieldError[]): HubError {
  const lines = errors.map((e) => `${e.field}: ${e.message}`);
  return new HubError(422, 'Invalid', `${kind} "${name}" is invalid: ${lines.join(', ')}`, {
    name,
    group,
    kind,
    causes: errors.map((e) => ({ type: e.reason ?? 'FieldValueInvalid', message: e.message, field: e.field })),
  });
}

export const routeNotFound = () => new HubError(404, 'NotFound', 'the server could not find the requested resource');
