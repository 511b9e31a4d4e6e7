// A local token issuer in Entra's shape: RS256 JWTs, an issuer per tenant, OIDC discovery and JWKS.
import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, type JWK, type JWTPayload, jwtVerify, SignJWT } from 'jose';

export interface Issuer {
  issuerFor(tenantId: string): string;
  jwks(): { keys: JWK[] };
  sign(claims: JWTPayload & { aud: string; tid: string }, lifetimeSeconds?: number): Promise<string>;
  verify(token: string, audiences: string[]): Promise<JWTPayload>;
}

export async function createIssuer(baseUrl: () => string): Promise<Issuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' };
  const keySet = createLocalJWKSet({ keys: [jwk] });
  const issuerFor = (tenantId: string) => `${baseUrl()}/${tenantId}/v2.0`;
  return {
    issuerFor,
    jwks: () => ({ keys: [jwk] }),
    async sign(claims, lifetimeSeconds = 3600) {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({ ...claims, ver: '2.0' })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
        .setIssuer(issuerFor(claims.tid))
        .setIssuedAt(now)
        .setNotBefore(now - 60)
        .setExpirationTime(now + lifetimeSeconds)
        .sign(privateKey);
    },
    async verify(token, audiences) {
      const { payload } = await jwtVerify(token, keySet, { audience: audiences });
      if (typeof payload.tid !== 'string' || payload.iss !== issuerFor(payload.tid)) throw new Error(`unexpected issuer ${payload.iss}`);
      return payload;
    },
  };
}
