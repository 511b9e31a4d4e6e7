import { describe, expect, it } from 'vitest';
import { checkPreconditions } from '../../shared/app/context.js';
import { checkName, fleetRef, parseResourceId } from '../../shared/domain/armIds.js';
import { fleetOfOperation, newOperationId } from '../../shared/domain/operationIds.js';
import { normalizeLocation } from '../../shared/domain/requests.js';

describe('names', () => {
  it.each<[string, 'fleet' | 'member' | 'group', string, boolean]>([
    ['a fleet name', 'fleet', 'fleet-1', true],
    ['63 characters', 'fleet', 'a'.repeat(63), true],
    ['64 characters', 'fleet', 'a'.repeat(64), false],
    ['a member of 51', 'member', 'a'.repeat(51), false],
    ['upper case', 'member', 'Member', false],
    ['a leading hyphen', 'group', '-g', false],
    ['a trailing hyphen', 'group', 'g-', false],
    ['an underscore', 'fleet', 'a_b', false],
  ])('%s', (_, kind, name, ok) =>
    ok ? expect(checkName(kind, name)).toBe(name) : expect(() => checkName(kind, name)).toThrow(expect.objectContaining({ code: 'InvalidResourceName' })),
  );

  it('refuses a malformed subscription id and resource group', () => {
    expect(() => fleetRef('nope', 'rg', 'f')).toThrow(expect.objectContaining({ code: 'InvalidSubscriptionId' }));
    expect(() => fleetRef('00000000-0000-0000-0000-000000000001', 'rg.', 'f')).toThrow(expect.objectContaining({ code: 'InvalidResourceGroup' }));
    for (const rg of ['..', '.', 'a/b', 'a b', 'x'.repeat(91)])
      expect(() => fleetRef('00000000-0000-0000-0000-000000000001', rg, 'f'), rg).toThrow(expect.objectContaining({ code: 'InvalidResourceGroup' }));
  });

  it('accepts every resource group name ARM does, Unicode letters included', () => {
    for (const rg of ['rg', 'RG_1', 'rg-(prod).eu', 'équipe-café', '開発', 'x'.repeat(90)])
      expect(fleetRef('00000000-0000-0000-0000-000000000001', rg, 'f').resourceGroup).toBe(rg);
  });

  it('parses ids case-insensitively and keeps the resource group as written', () => {
    expect(parseResourceId('/Subscriptions/00000000-0000-0000-0000-00000000000A/resourcegroups/My.RG/providers/A.B/c/d')).toEqual({
      subscriptionId: '00000000-0000-0000-0000-00000000000a',
      resourceGroup: 'My.RG',
      provider: 'A.B',
      type: 'c',
      name: 'd',
    });
  });

  it('normalizes location display names', () => {
    expect(normalizeLocation('East US 2')).toBe('eastus2');
    expect(() => normalizeLocation('east-us')).toThrow(expect.objectContaining({ code: 'InvalidLocation' }));
  });
});

describe('operation ids', () => {
  it('name their fleet, within the subscription of the URL', () => {
    const id = newOperationId({ subscriptionId: 's', resourceGroup: 'My.RG(1)', fleetName: 'f-1' });
    expect(fleetOfOperation('S2', id)).toEqual({ subscriptionId: 's2', resourceGroup: 'my.rg(1)', fleetName: 'f-1' });
    expect(newOperationId({ subscriptionId: 's', resourceGroup: 'rg', fleetName: 'f' })).not.toBe(
      newOperationId({ subscriptionId: 's', resourceGroup: 'rg', fleetName: 'f' }),
    );
  });
  it.each(['', 'abc', 'x.y', `${Buffer.from('nofleet').toString('base64url')}.00000000-0000-0000-0000-000000000000`, 'a.b.c'])('rejects %j', (id) =>
    expect(fleetOfOperation('s', id)).toBeUndefined(),
  );
});

describe('preconditions', () => {
  const caller = { id: 'u', type: 'User' as const, roles: [] };
  it.each<[string, string | undefined, { ifMatch?: string; ifNoneMatch?: string }, boolean]>([
    ['no headers, new resource', undefined, {}, true],
    ['If-None-Match * on a new resource', undefined, { ifNoneMatch: '*' }, true],
    ['If-None-Match * on an existing one', '"a"', { ifNoneMatch: '*' }, false],
    ['If-Match the current eTag', '"a"', { ifMatch: '"a"' }, true],
    ['If-Match without quotes', '"a"', { ifMatch: 'a' }, true],
    ['If-Match a stale eTag', '"a"', { ifMatch: '"b"' }, false],
    ['If-Match * on an existing one', '"a"', { ifMatch: '*' }, true],
    ['If-Match on a missing resource', undefined, { ifMatch: '*' }, false],
  ])('%s', (_, current, headers, ok) => {
    const run = () => checkPreconditions(current, { caller, ...headers });
    if (ok) expect(run).not.toThrow();
    else expect(run).toThrow(expect.objectContaining({ status: 412 }));
  });
});
