import { describe, expect, it } from 'vitest';
import { type AccessPolicy, checkAccess } from '../../shared/domain/access.js';

const caller = (roles: string[]) => ({ id: 'ada', type: 'User' as const, roles });
const allowed = (policy: AccessPolicy, roles: string[], write: boolean) => {
  try {
    checkAccess(policy, caller(roles), { write, action: 'PUT /x' });
    return true;
  } catch (e) {
    expect(e).toMatchObject({ status: 403, code: 'AuthorizationFailed' });
    return false;
  }
};

describe('app-role access', () => {
  const open = { readRoles: [], writeRoles: [] };
  const both = { readRoles: ['Fleet.Read'], writeRoles: ['Fleet.Write'] };
  const writeOnly = { readRoles: [], writeRoles: ['Fleet.Write'] };
  it.each<[string, AccessPolicy, string[], boolean, boolean]>([
    ['no roles configured: anyone reads', open, [], false, true],
    ['no roles configured: anyone writes', open, [], true, true],
    ['a reader reads', both, ['Fleet.Read'], false, true],
    ['a reader may not write', both, ['Fleet.Read'], true, false],
    ['a writer writes', both, ['Fleet.Write'], true, true],
    ['a writer also reads', both, ['Fleet.Write'], false, true],
    ['no role: no read', both, [], false, false],
    ['an unrelated role: no write', both, ['Other'], true, false],
    ['only writes guarded: anyone reads', writeOnly, [], false, true],
    ['only writes guarded: no role, no write', writeOnly, [], true, false],
  ])('%s', (_, policy, roles, write, ok) => expect(allowed(policy, roles, write)).toBe(ok));

  it('names the roles that would do', () => {
    expect(() => checkAccess(both, caller([]), { write: true, action: 'PUT /fleets/f' })).toThrow(
      /'Fleet\.Write'.*PUT \/fleets\/f|PUT \/fleets\/f.*'Fleet\.Write'/,
    );
  });
});
