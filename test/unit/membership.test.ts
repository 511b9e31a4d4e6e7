import { describe, expect, it } from 'vitest';
import type { ArmError } from '../../shared/domain/errors.js';
import { type ClusterInfo, checkJoin, clusterPrincipal, type JoinInput, parseMemberClusterId } from '../../shared/domain/membership.js';
import type { FleetRecord, MemberRecord } from '../../shared/domain/model.js';

const tenant = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const sys = { createdBy: 'u', createdByType: 'User' as const, createdAt: '', lastModifiedBy: 'u', lastModifiedByType: 'User' as const, lastModifiedAt: '' };
const fleet: FleetRecord = {
  ref: { subscriptionId: 's', resourceGroup: 'rg', fleetName: 'f' },
  location: 'eastus',
  tags: {},
  provisioningState: 'Succeeded',
  tenantId: tenant,
  eTag: 'e',
  systemData: sys,
};
const member: MemberRecord = {
  ref: { ...fleet.ref, memberName: 'm' },
  clusterResourceId: '/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c',
  provisioningState: 'Joining',
  eTag: 'e',
  systemData: sys,
};
const cluster: ClusterInfo = { id: 'c', location: 'westeurope', identity: { type: 'SystemAssigned', principalId: 'p-1' } };
const base: JoinInput = {
  fleet,
  member,
  cluster,
  subscription: { state: 'found', tenantId: tenant },
  otherJoined: 3,
  memberLimit: 20,
  now: '2026-11-24T00:00:00Z',
};
const joined = {
  principalId: 'p-0',
  identityType: 'SystemAssigned',
  location: 'westeurope',
  tenantId: tenant,
  joinedAt: '2026-01-01T00:00:00Z',
  identityObservedAt: '2026-01-01T00:00:00Z',
};

const codeOf = (input: JoinInput) => {
  try {
    checkJoin(input);
    return undefined;
  } catch (e) {
    return (e as ArmError).code;
  }
};

describe('checkJoin', () => {
  it.each<[string, Partial<JoinInput>, string | undefined]>([
    ['a cluster in another subscription and region of the tenant', {}, undefined],
    ['a subscription of another tenant (ARM refuses our token)', { subscription: { state: 'otherTenant' } }, 'CrossTenantMember'],
    ['a subscription whose tenant differs', { subscription: { state: 'found', tenantId: 'other' } }, 'CrossTenantMember'],
    ['an unknown subscription', { subscription: { state: 'notFound' }, cluster: undefined }, 'MemberClusterNotFound'],
    ['a missing cluster', { cluster: undefined }, 'MemberClusterNotFound'],
    ['a cluster without identity', { cluster: { ...cluster, identity: undefined } }, 'MemberClusterIdentityMissing'],
    ['the 21st member', { otherJoined: 20 }, 'MemberLimitReached'],
    ['the 20th member', { otherJoined: 19 }, undefined],
    ['a joined member re-joining at the limit (identity refresh)', { otherJoined: 20, member: { ...member, joined } }, undefined],
    ['a fleet that failed to provision', { fleet: { ...fleet, provisioningState: 'Failed' } }, 'FleetNotReady'],
    ['a limit of 1 with one member', { otherJoined: 1, memberLimit: 1 }, 'MemberLimitReached'],
  ])('%s', (_, patch, code) => expect(codeOf({ ...base, ...patch })).toBe(code));

  it('records the principal, and when it changed', () => {
    expect(checkJoin(base)).toMatchObject({
      principalId: 'p-1',
      identityType: 'SystemAssigned',
      location: 'westeurope',
      joinedAt: base.now,
      identityObservedAt: base.now,
    });
    const again = checkJoin({ ...base, member: { ...member, joined: { ...joined, principalId: 'p-1' } } });
    expect(again).toMatchObject({ joinedAt: joined.joinedAt, identityObservedAt: joined.identityObservedAt });
    const rotated = checkJoin({ ...base, member: { ...member, joined } });
    expect(rotated).toMatchObject({ principalId: 'p-1', joinedAt: joined.joinedAt, identityObservedAt: base.now });
  });
});

describe('parseMemberClusterId', () => {
  const sub = '00000000-0000-0000-0000-000000000001';
  it.each<[string, string, boolean]>([
    ['an AKS cluster', `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c`, true],
    ['an AKS cluster, other casing', `/SUBSCRIPTIONS/${sub}/resourcegroups/rg/providers/microsoft.containerservice/MANAGEDCLUSTERS/c`, true],
    ['an Arc cluster', `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c`, false],
    ['a VM', `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/v`, false],
    ['a fleet', `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.ContainerService/fleets/f`, false],
    ['a child resource', `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c/agentPools/p`, false],
    ['not a guid subscription', `/subscriptions/abc/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c`, false],
    ['garbage', 'aks-1', false],
  ])('%s', (_, id, ok) => {
    if (ok) expect(parseMemberClusterId(id).name).toBe('c');
    else expect(() => parseMemberClusterId(id)).toThrow(expect.objectContaining({ code: 'InvalidMemberClusterResourceId', status: 400 }));
  });

  it('says why an Arc cluster cannot join', () => {
    expect(() => parseMemberClusterId(`/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/c`)).toThrow(/Arc/);
  });
});

describe('clusterPrincipal', () => {
  it.each<[string, ClusterInfo['identity'], string | undefined]>([
    ['system-assigned', { type: 'SystemAssigned', principalId: 'p' }, 'p'],
    ['user-assigned', { type: 'UserAssigned', userAssigned: [{ resourceId: '/x', principalId: 'u' }] }, 'u'],
    ['none', { type: 'None' }, undefined],
    ['no identity', undefined, undefined],
  ])('%s', (_, identity, principal) => expect(clusterPrincipal({ ...cluster, identity })?.principalId).toBe(principal));
});
