import { createLocalJWKSet, createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { ArmError } from '../domain/errors.js';
import type { Caller } from '../domain/model.js';

export interface TokenValidator {
  /** Validates an Authorization header; throws a 401 ArmError when it does not carry a valid token. */
  validate(authorization: string | null): Promise<Caller>;
}

// Validates Microsoft Entra access tokens the way Entra publishes them: OIDC discovery at
// {issuer}/.well-known/openid-configuration names the JWKS the signature is checked against.
// Several issuers may be accepted: Entra issues v1.0 tokens (https://sts.windows.net/{tenant}/) unless
// the API's app registration asks for v2.0 (https://login.microsoftonline.com/{tenant}/v2.0); both are
// signed with the tenant's same keys, so the first issuer's discovery document serves.
// A client reuses one token for up to an hour, so a verified token is remembered until it expires:
// the signature check (an RSA verify) runs once per token, not once per request.
// Room for every agent of a 10,000-member fleet and their next tokens, and the people (the oldest
// goes first: at exactly the limit, a fleet's agents would each push out the next one's).
const cacheLimit = 30_000;

export function createTokenValidator(options: { issuers: string[]; audiences: string[] }): TokenValidator {
  const verified = new Map<string, { caller: Caller; expiresAt: number }>();
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const loadKeys = async () => {
    const issuer = options.issuers[0];
    const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    if (!res.ok) throw new Error(`OIDC discovery for ${issuer} answered ${res.status}`);
    const doc = (await res.json()) as { jwks_uri?: string };
    if (!doc.jwks_uri) throw new Error(`OIDC discovery for ${issuer} names no jwks_uri`);
    return keysKeptThroughOutages(createRemoteJWKSet(new URL(doc.jwks_uri)));
  };

  return {
    async validate(authorization) {
      if (!authorization) throw new ArmError('AuthenticationFailed', 401, "Authentication failed. The 'Authorization' header is missing.");
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!match) throw new ArmError('AuthenticationFailed', 401, "Authentication failed. The 'Authorization' header is not of the form 'Bearer <token>'.");
      const known = verified.get(match[1]);
      if (known && known.expiresAt > Date.now()) return known.caller;
      if (known) verified.delete(match[1]);
      keys ??= loadKeys().catch((e) => {
        keys = undefined;
        throw e;
      });
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(match[1], await keys, { issuer: options.issuers, audience: options.audiences, clockTolerance: 60 }));
      } catch (e) {
        throw new ArmError('InvalidAuthenticationToken', 401, `The access token is invalid: ${(e as Error).message}`);
      }
      const caller = callerOf(payload);
      if (payload.exp) {
        if (verified.size >= cacheLimit) verified.delete(verified.keys().next().value!);
        verified.set(match[1], { caller, expiresAt: payload.exp * 1000 });
      }
      return caller;
    },
  };
}

/**
 * The signing keys, refreshed as jose does (every 10 minutes, and when a token names a key it has
 * not seen), except that a refresh that fails — the key endpoint slow or unreachable — leaves the
 * keys of the last good one in use rather than failing every token. Entra publishes a new key well
 * before signing with it; without this, one refresh that timed out under load (its limit is 5 s)
 * would refuse every caller whose token was not yet remembered, until a refresh got through.
 */
function keysKeptThroughOutages(remote: ReturnType<typeof createRemoteJWKSet>): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (e) {
      const last = remote.jwks();
      const fetchFailed = e instanceof errors.JWKSTimeout || !(e instanceof errors.JOSEError);
      if (!last || !fetchFailed) throw e;
      return createLocalJWKSet(last)(header, token);
    }
  };
}

function callerOf(p: JWTPayload): Caller {
  const claim = (name: string) => (typeof p[name] === 'string' ? (p[name] as string) : undefined);
  const isUser = claim('idtyp') === 'user' || claim('upn') !== undefined;
  const isManagedIdentity = claim('xms_mirid') !== undefined;
  return {
    id: claim('upn') ?? claim('unique_name') ?? claim('appid') ?? claim('azp') ?? claim('oid') ?? p.sub ?? 'unknown',
    type: isUser ? 'User' : isManagedIdentity ? 'ManagedIdentity' : 'Application',
    tenantId: claim('tid'),
    principalId: claim('oid'),
    roles: Array.isArray(p.roles) ? p.roles.filter((r): r is string => typeof r === 'string') : [],
  };
}
