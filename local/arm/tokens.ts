// A local token issuer in Entra's shape: RS256 JWTs, an issuer per tenant, OIDC discovery and JWKS.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createLocalJWKSet, exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, jwtVerify, SignJWT } from 'jose';

export interface Issuer {
  issuerFor(tenantId: string): string;
  jwks(): { keys: JWK[] };
  sign(claims: JWTPayload & { aud: string; tid: string }, lifetimeSeconds?: number): Promise<string>;
  verify(token: string, audiences: string[]): Promise<JWTPayload>;
}

/** The signing key: made once, and with `keyPath` kept there, so tokens issued before a restart stay valid. */
async function signingKey(keyPath?: string) {
  if (keyPath && existsSync(keyPath)) {
    const saved = JSON.parse(readFileSync(keyPath, 'utf8')) as { kid: string; privateJwk: JWK; publicJwk: JWK };
    return { kid: saved.kid, privateKey: await importJWK(saved.privateJwk, 'RS256'), publicJwk: saved.publicJwk };
  }
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const publicJwk = await exportJWK(publicKey);
  if (keyPath) {
    writeFileSync(`${keyPath}.tmp`, JSON.stringify({ kid, privateJwk: await exportJWK(privateKey), publicJwk }), { mode: 0o600 });
    renameSync(`${keyPath}.tmp`, keyPath);
  }
  return { kid, privateKey, publicJwk };
}

export async function createIssuer(baseUrl: () => string, keyPath?: string): Promise<Issuer> {
  const { kid, privateKey, publicJwk } = await signingKey(keyPath);
  const jwk = { ...publicJwk, kid, use: 'sig', alg: 'RS256' };
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
