// The simulated Azure world: tenants, subscriptions and clusters, read from a JSON seed.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

const guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);

const agentPool = z.object({ name: z.string(), count: z.number().int().min(0).max(1000), vmSize: z.string().default('Standard_D4s_v3') });

const seedSchema = z.object({
  // The one identity the managed-identity endpoint hands out tokens for; `roles` become the tokens' app roles.
  identity: z.object({
    tenantId: guid,
    principalId: guid,
    clientId: guid,
    name: z.string().default('fleet-manager-local'),
    roles: z.array(z.string()).default([]),
  }),
  tenants: z.array(z.object({ tenantId: guid, displayName: z.string() })),
  subscriptions: z.array(z.object({ subscriptionId: guid, tenantId: guid, displayName: z.string() })).min(1),
  managedClusters: z
    .array(
      z.object({
        subscriptionId: guid,
        resourceGroup: z.string(),
        name: z.string(),
        location: z.string(),
        kubernetesVersion: z.string().default('1.32.4'),
        identity: z
          .object({ type: z.enum(['SystemAssigned', 'UserAssigned']), principalId: guid.optional(), userAssignedIdentity: z.string().optional() })
          .optional(),
        // "denied": Fleet Manager's identity has no role on this cluster (ARM answers 403).
        access: z.enum(['granted', 'denied']).default('granted'),
        agentPoolProfiles: z.array(agentPool).optional(),
      }),
    )
    .default([]),
  connectedClusters: z.array(z.object({ subscriptionId: guid, resourceGroup: z.string(), name: z.string(), location: z.string() })).default([]),
});

export type Seed = z.infer<typeof seedSchema>;

export function loadSeed(path: string): Seed {
  const parsed = seedSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`seed ${path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export interface ClusterIdentity {
  type: 'SystemAssigned' | 'UserAssigned';
  principalId: string;
  userAssignedIdentity?: string;
}

export interface SimCluster {
  kind: 'managedCluster' | 'connectedCluster';
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  kubernetesVersion?: string;
  tags?: Record<string, string>;
  identity?: ClusterIdentity;
  access?: 'granted' | 'denied';
  /** Node pools: one Node per `count` in the cluster's API. Default: one pool of 3 Standard_D4s_v3. */
  agentPoolProfiles?: { name: string; count: number; vmSize: string }[];
  /**
   * The cluster's Kubernetes API, once its credentials were first asked for: its table and admin
   * token; its data plane's pod range (an index, local/dataplane/addresses.ts) and the frontend
   * address of each LoadBalancer Service (by uid).
   */
  api?: {
    table: string;
    adminToken: string;
    podRange?: number;
    frontends?: Record<string, { ip: string; namespace: string; service: string }>;
  };
}

export const defaultAgentPools = [{ name: 'nodepool1', count: 3, vmSize: 'Standard_D4s_v3' }];

/** A stable principal id for a user-assigned identity, so the same identity always has the same principal. */
export function principalOf(userAssignedIdentityId: string): string {
  const h = createHash('sha256').update(userAssignedIdentityId.toLowerCase()).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const key = (kind: SimCluster['kind'], sub: string, rg: string, name: string) => `${kind}|${sub}|${rg}|${name}`.toLowerCase();

export class World {
  readonly clusters = new Map<string, SimCluster>();
  /**
   * With `statePath`, the world's clusters are kept in that file: read from it when it exists (the
   * seed then gives only tenants, subscriptions and the identity), written again after each change.
   * The seed's generated principal ids are kept with them, so a restart does not change identities.
   */
  constructor(
    readonly seed: Seed,
    private readonly statePath?: string,
  ) {
    if (statePath && existsSync(statePath)) {
      for (const c of JSON.parse(readFileSync(statePath, 'utf8')) as SimCluster[]) this.clusters.set(key(c.kind, c.subscriptionId, c.resourceGroup, c.name), c);
      return;
    }
    for (const c of seed.managedClusters) {
      const identity = c.identity && {
        type: c.identity.type,
        principalId: c.identity.principalId ?? (c.identity.userAssignedIdentity ? principalOf(c.identity.userAssignedIdentity) : randomUUID()),
        userAssignedIdentity: c.identity.userAssignedIdentity,
      };
      this.put({ kind: 'managedCluster', ...c, identity }, false);
    }
    for (const c of seed.connectedClusters) this.put({ kind: 'connectedCluster', ...c }, false);
    this.save();
  }
  private save() {
    if (!this.statePath) return;
    writeFileSync(`${this.statePath}.tmp`, JSON.stringify([...this.clusters.values()]));
    renameSync(`${this.statePath}.tmp`, this.statePath);
  }
  subscription(id: string) {
    return this.seed.subscriptions.find((s) => s.subscriptionId.toLowerCase() === id.toLowerCase());
  }
  get(kind: SimCluster['kind'], sub: string, rg: string, name: string) {
    return this.clusters.get(key(kind, sub, rg, name));
  }
  put(c: SimCluster, persist = true) {
    this.clusters.set(key(c.kind, c.subscriptionId, c.resourceGroup, c.name), c);
    if (persist) this.save();
  }
  delete(kind: SimCluster['kind'], sub: string, rg: string, name: string) {
    const deleted = this.clusters.delete(key(kind, sub, rg, name));
    this.save();
    return deleted;
  }
  /**
   * The managed identity at a resource id, as the identity endpoint hands it out: at a managed
   * cluster's id its identity, at a user-assigned identity's id that identity while a cluster has
   * it. It follows the cluster: after an identity change the cluster's id gives the new principal.
   */
  identityAt(resourceId: string): { principalId: string; clientId: string; roles: string[]; mirid: string } | undefined {
    const id = resourceId.toLowerCase();
    for (const c of this.clusters.values()) {
      if (c.kind !== 'managedCluster' || !c.identity) continue;
      const own =
        `/subscriptions/${c.subscriptionId}/resourcegroups/${c.resourceGroup}/providers/microsoft.containerservice/managedclusters/${c.name}`.toLowerCase();
      // Asked by the cluster's own id: its identity now, whichever kind (AKS gives its agents the
      // cluster's current identity; that is how a change reaches the agent).
      if (own === id)
        return { principalId: c.identity.principalId, clientId: c.identity.principalId, roles: [], mirid: c.identity.userAssignedIdentity ?? resourceId };
      if (c.identity.type === 'UserAssigned' && c.identity.userAssignedIdentity?.toLowerCase() === id)
        return { principalId: c.identity.principalId, clientId: c.identity.principalId, roles: [], mirid: resourceId };
    }
    return undefined;
  }
  list(kind: SimCluster['kind'], sub: string, rg?: string) {
    return [...this.clusters.values()].filter(
      (c) => c.kind === kind && c.subscriptionId.toLowerCase() === sub.toLowerCase() && (!rg || c.resourceGroup.toLowerCase() === rg.toLowerCase()),
    );
  }
}
