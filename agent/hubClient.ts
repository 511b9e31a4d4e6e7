// The member agent's connection to its fleet's hub: a KubeConfig for the hub's URL whose bearer
// token comes from the cluster's identity through @azure/identity, got again at half its remaining
// lifetime (as KubeFleet's token refresher does), so a request never carries an expired token.
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { apiClientWithTimeout } from './apiClient.js';

export interface HubConnection {
  /** The hub's API server URL (a fleet's hubProfile.fqdn, with https://). */
  server: string;
  /** PEM of the CA that signs the hub's certificate; none: the system's CAs. */
  caPem?: string;
  /** The audience of tokens for the hub (the fleet API's). */
  audience: string;
  /** A factory makes a new credential on refresh(), dropping whatever the old one cached. */
  credential: TokenCredential | (() => TokenCredential);
  /** Each request's deadline (default 30 s). */
  requestTimeoutMs?: number;
}

export interface HubClient {
  /** Custom-object calls against the hub, with a token good for the next minutes. */
  objects(): Promise<CustomObjectsApi>;
  /** A KubeConfig with a token good for the next minutes (for watches, which client-node runs from one). */
  config(): Promise<KubeConfig>;
  /** The principal the current token is for (its `oid`), for logs. */
  principal(): string | undefined;
  /**
   * Forgets the token (after the hub refused it): the identity behind it may have changed, so the
   * next call asks the identity anew.
   */
  refresh(): void;
}

const oidOf = (token: string): string | undefined => {
  try {
    return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { oid?: string }).oid;
  } catch {
    return undefined;
  }
};

export function hubKubeConfig(server: string, token: string, caPem?: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'hub', server, ...(caPem ? { caData: Buffer.from(caPem).toString('base64') } : {}), skipTLSVerify: false }],
    users: [{ name: 'member-agent', token }],
    contexts: [{ name: 'hub', cluster: 'hub', user: 'member-agent' }],
    currentContext: 'hub',
  });
  return kc;
}

export function createHubClient(connection: HubConnection, now: () => number = Date.now): HubClient {
  const make = () => (typeof connection.credential === 'function' ? connection.credential() : connection.credential);
  let credential = make();
  let token: AccessToken | undefined;
  let refreshAt = 0;
  let api: CustomObjectsApi | undefined;
  let config: KubeConfig | undefined;
  const fresh = async () => {
    if (!token || !api || !config || now() >= refreshAt) {
      const next = await credential.getToken(`${connection.audience}/.default`);
      if (!next) throw new Error(`the identity returned no token for ${connection.audience}`);
      token = next;
      refreshAt = now() + (next.expiresOnTimestamp - now()) / 2;
      config = hubKubeConfig(connection.server, next.token, connection.caPem);
      api = apiClientWithTimeout(config, CustomObjectsApi, connection.requestTimeoutMs);
    }
    return { api, config };
  };
  return {
    objects: async () => (await fresh()).api,
    config: async () => (await fresh()).config,
    principal: () => (token ? oidOf(token.token) : undefined),
    refresh() {
      token = undefined;
      if (typeof connection.credential === 'function') credential = make();
    },
  };
}
