// The few ARM and Entra endpoints Fleet Manager calls, emulated on loopback:
//   https: /subscriptions[/{id}], managedClusters (get, list, create/update, delete), connectedClusters (get),
//          /{tenant}/v2.0/.well-known/openid-configuration and /{tenant}/discovery/v2.0/keys;
//   http:  a managed-identity token endpoint in the App Service protocol (IDENTITY_ENDPOINT / IDENTITY_HEADER),
//          which ManagedIdentityCredential and DefaultAzureCredential use unchanged.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { LocalTls } from '../certs.js';
import { startOnThread, type ThreadLoad } from '../threads.js';
import { createClusterApis } from './clusterApi.js';
import { type ArmEvent, createEventDelivery } from './eventGrid.js';
import { createIssuer, type Issuer } from './tokens.js';

/** A value made once and, with `path`, kept in that file. */
function keptValue(path: string | undefined, make: () => string): string {
  if (path && existsSync(path)) return readFileSync(path, 'utf8').trim();
  const value = make();
  if (path) writeFileSync(path, value, { mode: 0o600 });
  return value;
}

import { defaultAgentPools, principalOf, type Seed, type SimCluster, World } from './world.js';

export interface ArmEmulator {
  armEndpoint: string;
  identityEndpoint: string;
  identityHeader: string;
  /** The issuer of tokens for the seed's home tenant (what the fleet API validates). */
  homeIssuer: string;
  issuer: Issuer;
  world: World;
  close(): Promise<void>;
}

const armAudiences = ['https://management.azure.com', 'https://management.azure.com/', 'https://management.core.windows.net/'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }), 'x-ms-request-id': randomUUID(), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'InvalidRequestContent', 'The request content was not valid JSON.');
  }
}

function clusterToArm(c: SimCluster) {
  const provider = c.kind === 'managedCluster' ? 'Microsoft.ContainerService/managedClusters' : 'Microsoft.Kubernetes/connectedClusters';
  const id = `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}/providers/${provider}/${c.name}`;
  const identity = c.identity
    ? c.identity.type === 'SystemAssigned'
      ? { type: 'SystemAssigned', principalId: c.identity.principalId, tenantId: undefined as string | undefined }
      : {
          type: 'UserAssigned',
          userAssignedIdentities: { [c.identity.userAssignedIdentity ?? '']: { principalId: c.identity.principalId, clientId: c.identity.principalId } },
        }
    : undefined;
  const properties =
    c.kind === 'managedCluster'
      ? {
          provisioningState: 'Succeeded',
          kubernetesVersion: c.kubernetesVersion,
          currentKubernetesVersion: c.kubernetesVersion,
          dnsPrefix: c.name,
          fqdn: `${c.name}.hcp.${c.location}.azmk8s.io`,
          powerState: { code: 'Running' },
          agentPoolProfiles: (c.agentPoolProfiles ?? defaultAgentPools).map((p) => ({
            name: p.name,
            count: p.count,
            vmSize: p.vmSize,
            mode: 'System',
            osType: 'Linux',
          })),
        }
      : { provisioningState: 'Succeeded', connectivityStatus: 'Connected' };
  return { id, name: c.name, type: provider, location: c.location, tags: c.tags ?? {}, ...(identity ? { identity } : {}), properties };
}

export type ArmEndpoints = Pick<ArmEmulator, 'armEndpoint' | 'identityEndpoint' | 'identityHeader' | 'homeIssuer' | 'close'>;

/** The same emulation on a worker thread (only from compiled code: the thread loads dist/local/arm/thread.js). */
export async function startArmEmulatorThread(options: {
  seed: Seed;
  tls: LocalTls;
  port?: number;
  identityPort?: number;
  stateDir?: string;
  /** Azurite, where each simulated cluster's Kubernetes API keeps its objects. */
  tablesConnectionString?: string;
  tableCounters: SharedArrayBuffer;
  serviceBusCounters: SharedArrayBuffer;
  load: ThreadLoad;
  /** The function host's CPU ms and pid (Float64 cells), written by the stack. */
  host: SharedArrayBuffer;
  eventGridWebhook?: string;
}): Promise<ArmEndpoints> {
  const thread = await startOnThread<Omit<ArmEndpoints, 'close'>>(new URL('./thread.js', import.meta.url), {
    ...options,
    port: options.port ?? 0,
    identityPort: options.identityPort ?? 0,
  });
  return { ...thread.ready, close: thread.close };
}

export async function startArmEmulator(options: {
  seed: Seed;
  tls: LocalTls;
  port?: number;
  identityPort?: number;
  /** Where the world's clusters, the signing key and the identity header are kept across restarts. */
  stateDir?: string;
  tablesConnectionString?: string;
  stats?: () => unknown;
  /** Where Event Grid delivers ARM's events about managed clusters (an Event Grid–triggered function's webhook). */
  eventGridWebhook?: string;
}): Promise<ArmEmulator> {
  const state = (name: string) => (options.stateDir ? join(options.stateDir, name) : undefined);
  if (options.stateDir) mkdirSync(options.stateDir, { recursive: true });
  const world = new World(options.seed, state('world.json'));
  let base = '';
  const issuer = await createIssuer(() => base, state('signing-key.json'));
  const identityHeader = keptValue(state('identity-header'), randomUUID);
  const home = options.seed.identity;
  const homeMirid = `/subscriptions/${options.seed.subscriptions[0].subscriptionId}/resourcegroups/fleet-manager/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${home.name}`;
  // FLEET_LOCAL_TOKEN_LIFETIME_SECONDS: shorter tokens, to see clients refresh them (Entra: 60-90 min).
  const tokenLifetimeSeconds = Number(process.env.FLEET_LOCAL_TOKEN_LIFETIME_SECONDS ?? 3600);
  const events = createEventDelivery({ webhook: options.eventGridWebhook });
  const clusterEvent = (type: ArmEvent['type'], c: SimCluster, method: ArmEvent['method'], url: URL, claims: Record<string, unknown>) =>
    events.publish({
      type,
      method,
      resourceId: `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${c.name}`,
      subscriptionId: c.subscriptionId,
      tenantId: world.subscription(c.subscriptionId)?.tenantId ?? home.tenantId,
      url: `https://management.azure.com${url.pathname}${url.search}`,
      callerObjectId: typeof claims.oid === 'string' ? claims.oid : undefined,
    });
  const clusterApis = options.tablesConnectionString
    ? createClusterApis({ world, issuer, tablesConnectionString: options.tablesConnectionString, caPem: options.tls.caPem, base: () => base })
    : undefined;

  const authorize = async (req: IncomingMessage) => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new HttpError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    try {
      return await issuer.verify(m[1], [...armAudiences, base]);
    } catch (e) {
      throw new HttpError(401, 'InvalidAuthenticationToken', `The access token is invalid: ${(e as Error).message}`);
    }
  };

  const subscriptionFor = (tokenTenant: unknown, subscriptionId: string) => {
    const sub = world.subscription(subscriptionId);
    if (!sub) throw new HttpError(404, 'SubscriptionNotFound', `The subscription '${subscriptionId}' could not be found.`);
    if (sub.tenantId !== tokenTenant) {
      throw new HttpError(
        401,
        'InvalidAuthenticationTokenTenant',
        `The access token is from the wrong issuer '${issuer.issuerFor(String(tokenTenant))}'. It must match the tenant '${issuer.issuerFor(sub.tenantId)}' associated with this subscription.`,
      );
    }
    return sub;
  };

  // ARM requests served (not token, discovery or stats requests): what joins cost in ARM reads.
  let armRequests = 0;
  const route = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', base);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';

    // OIDC discovery and keys: /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys
    if (parts.length === 4 && parts[1] === 'v2.0' && parts[2] === '.well-known' && parts[3] === 'openid-configuration') {
      return send(res, 200, {
        issuer: issuer.issuerFor(parts[0]),
        jwks_uri: `${base}/${parts[0]}/discovery/v2.0/keys`,
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint: `${base}/${parts[0]}/oauth2/v2.0/token`,
      });
    }
    if (parts.length === 4 && parts[1] === 'discovery' && parts[2] === 'v2.0' && parts[3] === 'keys') return send(res, 200, issuer.jwks());
    // Not ARM: the local stack's counters (Table Storage requests, Service Bus messages), for the benchmark.
    if (url.pathname === '/_local/stats' && options.stats) return send(res, 200, { armRequests, ...(options.stats() as object) });
    // Not ARM: a simulated AKS cluster's own Kubernetes API server (what its kubeconfig names).
    if (parts[0] === '_clusters' && clusterApis) return clusterApis.handle(req, res, parts.slice(1), url);

    armRequests++;
    const claims = await authorize(req);
    const lower = parts.map((p) => p.toLowerCase());
    if (lower[0] !== 'subscriptions') throw new HttpError(404, 'NotFound', `No route for ${url.pathname}`);
    if (parts.length === 1 && method === 'GET') {
      const value = options.seed.subscriptions.filter((s) => s.tenantId === claims.tid).map((s) => subscriptionToArm(s));
      return send(res, 200, { value });
    }
    const sub = subscriptionFor(claims.tid, parts[1]);
    if (parts.length === 2 && method === 'GET') return send(res, 200, subscriptionToArm(sub));

    // /subscriptions/{s}/providers/Microsoft.ContainerService/managedClusters
    if (parts.length === 5 && lower[2] === 'providers' && lower[3] === 'microsoft.containerservice' && lower[4] === 'managedclusters' && method === 'GET') {
      return send(res, 200, { value: world.list('managedCluster', sub.subscriptionId).map(clusterToArm) });
    }
    if (lower[2] !== 'resourcegroups' || lower[4] !== 'providers') throw new HttpError(404, 'NotFound', `No route for ${url.pathname}`);
    const rg = parts[3];
    const kind =
      lower[5] === 'microsoft.containerservice' && lower[6] === 'managedclusters'
        ? 'managedCluster'
        : lower[5] === 'microsoft.kubernetes' && lower[6] === 'connectedclusters'
          ? 'connectedCluster'
          : undefined;
    if (!kind) throw new HttpError(404, 'NotFound', `No route for ${url.pathname}`);
    if (parts.length === 7 && method === 'GET') return send(res, 200, { value: world.list(kind, sub.subscriptionId, rg).map(clusterToArm) });
    if (parts.length === 9 && method === 'POST' && kind === 'managedCluster' && /^listCluster(Admin|User)Credential$/i.test(parts[8])) {
      const c = world.get(kind, sub.subscriptionId, rg, parts[7]);
      if (!c)
        throw new HttpError(
          404,
          'ResourceNotFound',
          `The Resource 'Microsoft.ContainerService/managedClusters/${parts[7]}' under resource group '${rg}' was not found.`,
        );
      if (!clusterApis) throw new HttpError(501, 'NotImplemented', 'this emulator runs without Table Storage, so its clusters have no Kubernetes API');
      return send(res, 200, { kubeconfigs: [await clusterApis.kubeconfig(c, /admin/i.test(parts[8]) ? 'admin' : 'user')] });
    }
    if (parts.length !== 8) throw new HttpError(404, 'NotFound', `No route for ${url.pathname}`);
    const name = parts[7];
    const existing = world.get(kind, sub.subscriptionId, rg, name);
    const notFound = () =>
      new HttpError(
        404,
        'ResourceNotFound',
        `The Resource '${kind === 'managedCluster' ? 'Microsoft.ContainerService/managedClusters' : 'Microsoft.Kubernetes/connectedClusters'}/${name}' under resource group '${rg}' was not found.`,
      );
    if (existing?.access === 'denied') {
      throw new HttpError(
        403,
        'AuthorizationFailed',
        `The client '${String(claims.oid)}' does not have authorization to perform action 'Microsoft.ContainerService/managedClusters/read' over scope '/subscriptions/${sub.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.ContainerService/managedClusters/${name}'.`,
      );
    }
    if (method === 'GET') {
      if (!existing) throw notFound();
      return send(res, 200, clusterToArm(existing));
    }
    if (method === 'DELETE') {
      if (!existing) return send(res, 204);
      world.delete(kind, sub.subscriptionId, rg, name);
      await clusterApis?.deleted(existing);
      if (kind === 'managedCluster') clusterEvent('Microsoft.Resources.ResourceDeleteSuccess', existing, 'DELETE', url, claims);
      return send(res, 200);
    }
    if (method === 'PUT' && kind === 'managedCluster') {
      const body = (await readBody(req)) as
        | {
            location?: string;
            tags?: Record<string, string>;
            identity?: { type?: string; userAssignedIdentities?: Record<string, unknown> };
            properties?: { kubernetesVersion?: string; agentPoolProfiles?: { name?: string; count?: number; vmSize?: string }[] };
          }
        | undefined;
      const location = (body?.location ?? existing?.location)?.replace(/\s+/g, '').toLowerCase();
      if (!location) throw new HttpError(400, 'LocationRequired', 'The location property is required for this definition.');
      const cluster: SimCluster = {
        kind,
        subscriptionId: sub.subscriptionId,
        resourceGroup: rg,
        name,
        location,
        kubernetesVersion: body?.properties?.kubernetesVersion ?? existing?.kubernetesVersion ?? '1.32.4',
        tags: body?.tags ?? existing?.tags,
        identity: nextIdentity(existing?.identity, body?.identity),
        access: existing?.access,
        agentPoolProfiles: body?.properties?.agentPoolProfiles
          ? body.properties.agentPoolProfiles.map((p, i) => ({
              name: p.name ?? `nodepool${i + 1}`,
              count: p.count ?? 3,
              vmSize: p.vmSize ?? 'Standard_D4s_v3',
            }))
          : existing?.agentPoolProfiles,
        api: existing?.api,
      };
      world.put(cluster);
      clusterEvent('Microsoft.Resources.ResourceWriteSuccess', cluster, 'PUT', url, claims);
      return send(res, existing ? 200 : 201, clusterToArm(cluster));
    }
    throw new HttpError(405, 'MethodNotAllowed', `${method} is not supported on ${url.pathname}`);
  };

  const https = createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (req, res) => {
    route(req, res).catch((e) => {
      if (e instanceof HttpError) send(res, e.status, { error: { code: e.code, message: e.message } });
      else send(res, 500, { error: { code: 'InternalServerError', message: String(e) } });
    });
  });

  // App Service managed identity protocol: GET ?resource=...&api-version=2019-08-01 with X-IDENTITY-HEADER.
  const identity = createHttpServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (req.headers['x-identity-header'] !== identityHeader)
        return send(res, 401, { error: 'unauthorized', error_description: 'X-IDENTITY-HEADER is missing or wrong' });
      const resource = url.searchParams.get('resource');
      if (!resource) return send(res, 400, { error: 'invalid_request', error_description: 'resource is required' });
      // A cluster identity's tokens last 4 minutes here: MSAL serves no cached token within 5 minutes
      // of its expiry, so a member agent that asks again after a refusal gets the cluster's identity
      // as it is now (an identity change reaches it at once; Entra's tokens last hours, and AKS
      // restarts the agent with the new identity).
      const lifetime = url.searchParams.get('mi_res_id') ? Math.min(tokenLifetimeSeconds, 240) : tokenLifetimeSeconds;
      // mi_res_id (what `new ManagedIdentityCredential({ resourceId })` sends): a simulated AKS
      // cluster's own identity, the one its member agent authenticates as. None: the stack's identity.
      const resourceId = url.searchParams.get('mi_res_id');
      const who = resourceId ? world.identityAt(resourceId) : { principalId: home.principalId, clientId: home.clientId, roles: home.roles, mirid: homeMirid };
      if (!who)
        return send(res, 400, {
          error: 'invalid_request',
          error_description: `No managed identity with resource id '${resourceId}' is assigned here: it names no simulated AKS cluster (system-assigned) and no cluster's user-assigned identity.`,
        });
      const token = await issuer.sign(
        {
          aud: resource.replace(/\/\.default$/, ''),
          tid: home.tenantId,
          oid: who.principalId,
          sub: who.principalId,
          appid: who.clientId,
          azp: who.clientId,
          idtyp: 'app',
          ...(who.roles.length ? { roles: who.roles } : {}),
          xms_mirid: who.mirid,
        },
        lifetime,
      );
      send(res, 200, {
        access_token: token,
        expires_on: String(Math.floor(Date.now() / 1000) + lifetime),
        resource,
        token_type: 'Bearer',
        client_id: who.clientId,
      });
    })().catch((e) => send(res, 500, { error: 'server_error', error_description: String(e) }));
  });

  await new Promise<void>((resolve) => https.listen(options.port ?? 0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => identity.listen(options.identityPort ?? 0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
  const identityEndpoint = `http://127.0.0.1:${(identity.address() as AddressInfo).port}/msi/token`;
  return {
    armEndpoint: base,
    identityEndpoint,
    identityHeader,
    homeIssuer: issuer.issuerFor(home.tenantId),
    issuer,
    world,
    async close() {
      events.close();
      await clusterApis?.close();
      https.closeAllConnections();
      identity.closeAllConnections();
      await Promise.all([new Promise((r) => https.close(r)), new Promise((r) => identity.close(r))]);
    },
  };
}

function subscriptionToArm(s: Seed['subscriptions'][number]) {
  return {
    id: `/subscriptions/${s.subscriptionId}`,
    subscriptionId: s.subscriptionId,
    tenantId: s.tenantId,
    displayName: s.displayName,
    state: 'Enabled',
    authorizationSource: 'RoleBased',
  };
}

// AKS keeps a system-assigned principal while the cluster stays system-assigned; switching to a
// user-assigned identity (or to another one) changes the principal the cluster acts as.
function nextIdentity(
  current: SimCluster['identity'],
  requested: { type?: string; userAssignedIdentities?: Record<string, unknown> } | undefined,
): SimCluster['identity'] {
  if (!requested?.type) return current;
  if (requested.type === 'SystemAssigned') return current?.type === 'SystemAssigned' ? current : { type: 'SystemAssigned', principalId: randomUUID() };
  if (requested.type === 'UserAssigned') {
    const id = Object.keys(requested.userAssignedIdentities ?? {})[0];
    if (!id) throw new HttpError(400, 'InvalidIdentity', 'identity.userAssignedIdentities must name one identity when identity.type is UserAssigned.');
    return { type: 'UserAssigned', principalId: principalOf(id), userAssignedIdentity: id };
  }
  throw new HttpError(400, 'InvalidIdentity', `identity.type '${requested.type}' is not supported; use SystemAssigned or UserAssigned.`);
}
