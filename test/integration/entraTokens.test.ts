// The API's token validation against the local Entra emulation (OIDC discovery + JWKS over https).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ArmEmulator, startArmEmulator } from '../../local/arm/server.js';
import { ensureLocalTls } from '../../local/certs.js';
import { createTokenValidator } from '../../shared/azure/entraTokens.js';

let arm: ArmEmulator;
const seed = JSON.parse(readFileSync('local/seed.json', 'utf8'));
const tenant = seed.identity.tenantId;

beforeAll(async () => {
  arm = await startArmEmulator({ seed, tls: ensureLocalTls(join(process.env.FLEET_TEST_DIR!, 'tls')) });
});
afterAll(async () => arm?.close());

describe('token validation', () => {
  const audience = 'api://fleet-manager';
  const validator = () => createTokenValidator({ issuers: [arm.homeIssuer], audiences: [audience] });
  const sign = (claims: Record<string, unknown>, lifetime = 3600) =>
    arm.issuer.sign({ aud: audience, tid: tenant, oid: 'o-1', appid: 'app-1', ...claims }, lifetime);

  it('accepts a token of the issuer for the audience, again and again', async () => {
    const v = validator();
    const token = await sign({ upn: 'ada@contoso.example', idtyp: 'user', roles: ['Fleet.Write'] });
    const ada = { id: 'ada@contoso.example', type: 'User', tenantId: tenant, principalId: 'o-1', roles: ['Fleet.Write'] };
    expect(await v.validate(`Bearer ${token}`)).toEqual(ada);
    expect(await v.validate(`Bearer ${token}`)).toEqual(ada);
  });

  it.each<[string, () => Promise<string | null>, string]>([
    ['no header', async () => null, 'AuthenticationFailed'],
    ['not a bearer token', async () => 'Basic abc', 'AuthenticationFailed'],
    [
      'another audience',
      async () => `Bearer ${await arm.issuer.sign({ aud: 'https://management.azure.com', tid: tenant }, 3600)}`,
      'InvalidAuthenticationToken',
    ],
    [
      'another tenant (issuer)',
      async () => `Bearer ${await arm.issuer.sign({ aud: audience, tid: '3e1f6a2b-9c8d-4e7f-a6b5-c4d3e2f1a0b9' }, 3600)}`,
      'InvalidAuthenticationToken',
    ],
    ['expired beyond the clock skew', async () => `Bearer ${await sign({}, -120)}`, 'InvalidAuthenticationToken'],
    [
      'a forged signature',
      async () => {
        const t = await sign({});
        return `Bearer ${t.slice(0, t.lastIndexOf('.'))}.${Buffer.from('forged').toString('base64url')}`;
      },
      'InvalidAuthenticationToken',
    ],
  ])('refuses %s with 401', async (_, header, code) => {
    await expect(validator().validate(await header())).rejects.toMatchObject({ status: 401, code });
  });

  it('accepts every configured issuer (Entra v1.0 and v2.0 tokens differ only there and in audience)', async () => {
    const other = '3e1f6a2b-9c8d-4e7f-a6b5-c4d3e2f1a0b9';
    const v = createTokenValidator({ issuers: [arm.homeIssuer, arm.issuer.issuerFor(other)], audiences: [audience, 'client-id'] });
    await expect(v.validate(`Bearer ${await arm.issuer.sign({ aud: 'client-id', tid: other, appid: 'a' }, 3600)}`)).resolves.toMatchObject({
      id: 'a',
      tenantId: other,
    });
  });

  it('keeps accepting tokens when a refresh of the signing keys fails', async () => {
    // Its own Entra, stopped after its keys were read once: the next refresh (due after 10 minutes) cannot reach it.
    const entra = await startArmEmulator({ seed, tls: ensureLocalTls(join(process.env.FLEET_TEST_DIR!, 'tls')) });
    const v = createTokenValidator({ issuers: [entra.homeIssuer], audiences: [audience] });
    const signed = (oid: string) => entra.issuer.sign({ aud: audience, tid: tenant, oid, appid: 'agent' }, 3600);
    const [first, later] = [await signed('o-first'), await signed('o-later')];
    await expect(v.validate(`Bearer ${first}`)).resolves.toMatchObject({ principalId: 'o-first' });
    await entra.close();
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 11 * 60_000);
      await expect(v.validate(`Bearer ${later}`)).resolves.toMatchObject({ principalId: 'o-later' });
      // A token no key of the last good set signed is still refused.
      await expect(v.validate(`Bearer ${later.slice(0, later.lastIndexOf('.'))}.${Buffer.from('forged').toString('base64url')}`)).rejects.toMatchObject({
        status: 401,
      });
    } finally {
      vi.useRealTimers();
    }
  });

  it('checks a remembered token again once it expires', async () => {
    const v = validator();
    // Expired a minute ago: inside the 60 s clock skew now, outside it a little later.
    const token = await sign({}, -55);
    await expect(v.validate(`Bearer ${token}`)).resolves.toMatchObject({ id: 'app-1' });
    await new Promise((r) => setTimeout(r, 6000));
    await expect(v.validate(`Bearer ${token}`)).rejects.toMatchObject({ status: 401 });
  }, 15_000);
});
