// A fleet's managed identity, as ARM models one (ManagedServiceIdentity): a type, for a system-assigned
// identity the principal and tenant the service assigns, and user-assigned identities named by id.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { parseResourceId, resourceTypeOf } from './armIds.js';
import { badRequest } from './errors.js';

export type IdentityType = 'None' | 'SystemAssigned' | 'UserAssigned' | 'SystemAssigned, UserAssigned';

export interface FleetIdentity {
  type: IdentityType;
  /** The system-assigned identity's principal: assigned when it is turned on, kept while it stays on. */
  principalId?: string;
  /** User-assigned identities' resource ids, as sent. */
  userAssigned?: string[];
}

/** What a request may say; ARM ignores the read-only principalId, tenantId and the identities' principalId/clientId. */
export const identityBody = z
  .object({
    type: z.string(),
    userAssignedIdentities: z.record(z.string(), z.object({}).loose().nullable()).optional(),
  })
  .loose();

const types: Record<string, IdentityType> = {
  none: 'None',
  systemassigned: 'SystemAssigned',
  userassigned: 'UserAssigned',
  'systemassigned,userassigned': 'SystemAssigned, UserAssigned',
};
const userAssignedType = 'microsoft.managedidentity/userassignedidentities';
/** Our bound, so that a fleet's record stays one Table Storage entity; ARM documents none we know of. */
export const maxUserAssignedIdentities = 100;

/** Checks an identity as ARM does and returns what to store; `previous` keeps a system-assigned principal. */
export function parseIdentity(body: z.infer<typeof identityBody>, previous?: FleetIdentity): FleetIdentity {
  const type = types[body.type.replace(/\s+/g, '').toLowerCase()];
  if (!type) {
    throw badRequest(
      'InvalidIdentityType',
      `identity.type '${body.type.slice(0, 100)}' is not one of 'None', 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned'.`,
      'identity.type',
    );
  }
  const ids = Object.keys(body.userAssignedIdentities ?? {});
  const wantsUser = type.includes('UserAssigned');
  if (wantsUser && ids.length === 0) {
    throw badRequest(
      'InvalidIdentity',
      `identity.type '${type}' needs at least one identity in identity.userAssignedIdentities.`,
      'identity.userAssignedIdentities',
    );
  }
  if (!wantsUser && ids.length > 0) {
    throw badRequest(
      'InvalidIdentity',
      `identity.userAssignedIdentities can only be given with identity.type 'UserAssigned' or 'SystemAssigned, UserAssigned', not '${type}'.`,
      'identity.userAssignedIdentities',
    );
  }
  if (ids.length > maxUserAssignedIdentities) {
    throw badRequest(
      'InvalidIdentity',
      `A fleet has at most ${maxUserAssignedIdentities} user-assigned identities; ${ids.length} were given.`,
      'identity.userAssignedIdentities',
    );
  }
  for (const id of ids) {
    const parsed = parseResourceId(id);
    if (!parsed || resourceTypeOf(parsed).toLowerCase() !== userAssignedType || !/^[a-zA-Z0-9][-\w]{2,127}$/.test(parsed.name)) {
      throw badRequest(
        'InvalidUserAssignedIdentity',
        `'${id.slice(0, 300)}' is not the resource id of a user-assigned identity (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}).`,
        'identity.userAssignedIdentities',
      );
    }
  }
  const system = type.startsWith('SystemAssigned');
  const principalId = system ? (previous?.principalId ?? randomUUID()) : undefined;
  return { type, ...(principalId ? { principalId } : {}), ...(wantsUser ? { userAssigned: ids } : {}) };
}

/** The identity as ARM returns it; the tenant is the fleet's, once the fleet has learnt it. */
export function identityToArm(identity: FleetIdentity, tenantId: string | undefined) {
  return {
    type: identity.type,
    ...(identity.principalId ? { principalId: identity.principalId, ...(tenantId ? { tenantId } : {}) } : {}),
    ...(identity.userAssigned ? { userAssignedIdentities: Object.fromEntries(identity.userAssigned.map((id) => [id, {}])) } : {}),
  };
}
