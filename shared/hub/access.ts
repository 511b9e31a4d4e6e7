// Who may do what on a hub. Callers with the API's write role change anything, readers read (the
// same app roles as the ARM API). Member agents are told apart and confined to their own
// `fleet-member-<name>` namespace before this (shared/app/memberAgents.ts).
import type { AccessPolicy } from '../domain/access.js';
import type { Caller } from '../domain/model.js';
import { HubError } from './status.js';

export interface HubAction {
  verb: 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';
  group: string;
  plural: string;
  namespace?: string;
  name?: string;
}

const reads = new Set<HubAction['verb']>(['get', 'list', 'watch']);

export function authorizeHub(policy: AccessPolicy, caller: Caller, action: HubAction): void {
  const write = !reads.has(action.verb);
  const needed = write ? policy.writeRoles : policy.readRoles.length ? [...policy.readRoles, ...policy.writeRoles] : [];
  if (needed.length === 0 || caller.roles.some((r) => needed.includes(r))) return;
  const where = action.namespace ? ` in the namespace "${action.namespace}"` : ' at the cluster scope';
  const what = action.name ? `${action.plural} "${action.name}" is forbidden` : `${action.plural} is forbidden`;
  throw new HubError(
    403,
    'Forbidden',
    `${what}: User "${caller.principalId ?? caller.id}" cannot ${action.verb} resource "${action.plural}" in API group "${action.group}"${where}: it needs one of the app roles ${needed.map((r) => `'${r}'`).join(', ')} of the Fleet Manager API`,
    { ...(action.name ? { name: action.name } : {}), group: action.group, kind: action.plural },
  );
}
