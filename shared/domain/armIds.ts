import { badRequest } from './errors.js';

export const fleetType = 'Microsoft.ContainerService/fleets';
export const memberType = 'Microsoft.ContainerService/fleets/members';
export const managedClusterType = 'Microsoft.ContainerService/managedClusters';
export const connectedClusterType = 'Microsoft.Kubernetes/connectedClusters';

// ARM's rules for fleet, member and group names (2025-03-01 spec).
const nameRule = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const guidRule = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Resource group names: 1-90 of letters and digits (Unicode ones too, as ARM allows), underscores,
// parentheses, hyphens, periods; not ending in a period.
const resourceGroupRule = /^[-\p{L}\p{N}_.()]{1,90}$/u;

export interface FleetRef {
  subscriptionId: string;
  resourceGroup: string;
  fleetName: string;
}

export interface MemberRef extends FleetRef {
  memberName: string;
}

export interface ResourceId {
  subscriptionId: string;
  resourceGroup: string;
  provider: string;
  type: string;
  name: string;
}

export function checkSubscriptionId(subscriptionId: string): string {
  if (!guidRule.test(subscriptionId))
    throw badRequest('InvalidSubscriptionId', `The provided subscription identifier '${subscriptionId}' is malformed or invalid.`);
  return subscriptionId.toLowerCase();
}

export function checkResourceGroup(name: string): string {
  if (!resourceGroupRule.test(name) || name.endsWith('.')) {
    throw badRequest('InvalidResourceGroup', `The provided resource group name '${name}' has these invalid characters or length.`);
  }
  return name;
}

export function checkName(kind: 'fleet' | 'member' | 'group', name: string): string {
  const max = kind === 'fleet' ? 63 : 50;
  if (name.length < 1 || name.length > max || !nameRule.test(name)) {
    throw badRequest(
      'InvalidResourceName',
      `The ${kind} name '${name}' is invalid: use 1-${max} lowercase letters, digits and hyphens, starting and ending with a letter or digit.`,
      kind === 'group' ? 'properties.group' : undefined,
    );
  }
  return name;
}

export function fleetRef(subscriptionId: string, resourceGroup: string, fleetName: string): FleetRef {
  return {
    subscriptionId: checkSubscriptionId(subscriptionId),
    resourceGroup: checkResourceGroup(resourceGroup),
    fleetName: checkName('fleet', fleetName),
  };
}

export function memberRef(subscriptionId: string, resourceGroup: string, fleetName: string, memberName: string): MemberRef {
  return { ...fleetRef(subscriptionId, resourceGroup, fleetName), memberName: checkName('member', memberName) };
}

export const fleetId = (f: FleetRef) => `/subscriptions/${f.subscriptionId}/resourceGroups/${f.resourceGroup}/providers/${fleetType}/${f.fleetName}`;
export const memberId = (m: MemberRef) => `${fleetId(m)}/members/${m.memberName}`;

/** Parses `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`; undefined when it is not one. */
export function parseResourceId(id: string): ResourceId | undefined {
  const parts = id.split('/');
  if (parts.length !== 9 || parts[0] !== '') return undefined;
  const [, subs, subscriptionId, rgs, resourceGroup, providers, provider, type, name] = parts;
  if (subs.toLowerCase() !== 'subscriptions' || rgs.toLowerCase() !== 'resourcegroups' || providers.toLowerCase() !== 'providers') return undefined;
  if (!guidRule.test(subscriptionId) || !resourceGroupRule.test(resourceGroup) || !provider || !type || !name) return undefined;
  return { subscriptionId: subscriptionId.toLowerCase(), resourceGroup, provider, type, name };
}

/** The fleet an ARM fleet id names (ids as the fleet itself wrote them). */
export function fleetRefOfId(id: string): FleetRef {
  const r = parseResourceId(id);
  if (!r) throw new Error(`not a fleet id: ${id}`);
  return { subscriptionId: r.subscriptionId, resourceGroup: r.resourceGroup, fleetName: r.name };
}

export const resourceTypeOf = (id: ResourceId) => `${id.provider}/${id.type}`;

/** ARM compares ids without regard to case; this is the form we key storage on. */
export const canonicalId = (id: string) => id.toLowerCase();
