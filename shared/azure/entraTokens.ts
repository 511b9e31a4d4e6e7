import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { ArmError } from '../domain/errors.js';
import type { Caller } from '../domain/model.js';

export interface TokenValidator {
  /** Validates an Authorization header; throws a 401 ArmError when it does not carry a valid token. */
  validate(authorization: string | null): Promise<Caller>;
}

// Validates Microsoft Entra access tokens the way Entra publishes them: OIDC discovery at
// {issuer}/.well-known/openid-configuration names the JWKS the signature is checked against.
export function createTokenValidator(options: { issuer: string; audiences: string[] }): TokenValidator {
  let keys: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;
  const loadKeys = async () => {
    const res = await fetch(`${options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    if (!res.ok) throw new Error(`OIDC discovery for ${options.issuer} answered ${res.status}`);
    const doc = (await res.json()) as { jwks_uri?: string };
    if (!doc.jwks_uri) throw new Error(`OIDC discovery for ${options.issuer} names no jwks_uri`);
    return createRemoteJWKSet(new URL(doc.jwks_uri));
  };

  return {
    async validate(authorization) {
      if (!authorization) throw new ArmError('AuthenticationFailed', 401, "Authentication failed. The 'Authorization' header is missing.");
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!match) throw new ArmError('AuthenticationFailed', 401, "Authentication failed. The 'Authorization' header is not of the form 'Bearer <token>'.");
      keys ??= loadKeys().catch((e) => {
        keys = undefined;
        throw e;
      });
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(match[1], await keys, { issuer: options.issuer, audience: options.audiences, clockTolerance: 60 }));
      } catch (e) {
        throw new ArmError('InvalidAuthenticationToken', 401, `The access token is invalid: ${(e as Error).message}`);
      }
      return callerOf(payload);
    },
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
  };
}
