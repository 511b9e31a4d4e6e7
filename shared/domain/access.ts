import { ArmError } from './errors.js';
import type { Caller } from './model.js';

/**
 * Who may do what, by Microsoft Entra app roles (the `roles` claim of the token). An empty list
 * leaves that kind of request open to every authenticated caller of the tenant; a writer may read.
 */
export interface AccessPolicy {
  readRoles: string[];
  writeRoles: string[];
}

export function checkAccess(policy: AccessPolicy, caller: Caller, request: { write: boolean; action: string }): void {
  const needed = request.write ? policy.writeRoles : policy.readRoles.length ? [...policy.readRoles, ...policy.writeRoles] : [];
  if (needed.length === 0 || caller.roles.some((r) => needed.includes(r))) return;
  throw new ArmError(
    'AuthorizationFailed',
    403,
    `The client '${caller.id}' does not have authorization to perform action '${request.action}'. It needs one of the app roles ${needed.map((r) => `'${r}'`).join(', ')} of the Fleet Manager API.`,
  );
}
