import { ContainerServiceClient } from '@azure/arm-containerservice';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import type { TokenCredential } from '@azure/core-auth';
import { isRestError } from '@azure/core-rest-pipeline';
import { ArmError } from '../domain/errors.js';
import type { ClusterInfo, SubscriptionLookup } from '../domain/membership.js';
import type { ClusterDirectory } from '../ports.js';
import { cacheFor } from './ttlCache.js';

const armScope = 'https://management.azure.com/.default';

// ARM answers 401 InvalidAuthenticationTokenTenant when a token of one tenant asks about a
// subscription of another: that is how we learn a cluster is outside the fleet's tenant.
const otherTenantCodes = new Set(['InvalidAuthenticationTokenTenant']);

// ARM limits how many reads a principal makes an hour (it answers 429 beyond), and a subscription's
// tenant changes only when the subscription is moved to another directory: one lookup serves the
// joins of the next five minutes. Only found subscriptions are remembered.
const subscriptionTtlMs = 5 * 60_000;

export function createArmDirectory(credential: TokenCredential, endpoint: string): ClusterDirectory {
  const subscriptions = new SubscriptionClient(credential, { endpoint, credentialScopes: [armScope] });
  const clusterClients = new Map<string, ContainerServiceClient>();
  const clustersIn = (subscriptionId: string) => {
    let client = clusterClients.get(subscriptionId);
    if (!client) {
      client = new ContainerServiceClient(credential, subscriptionId, { endpoint });
      clusterClients.set(subscriptionId, client);
    }
    return client;
  };
  const subscriptionTenant = cacheFor<SubscriptionLookup>(
    subscriptionTtlMs,
    async (subscriptionId) => {
      try {
        const sub = await subscriptions.subscriptions.get(subscriptionId);
        return sub.tenantId ? { state: 'found', tenantId: sub.tenantId } : { state: 'notFound' };
      } catch (e) {
        if (isRestError(e) && e.statusCode === 404) return { state: 'notFound' };
        if (isRestError(e) && e.statusCode === 401 && otherTenantCodes.has(e.code ?? '')) return { state: 'otherTenant' };
        throw e;
      }
    },
    { keep: (answer) => answer.state === 'found' },
  );

  return {
    // The shared lookup outlives any one caller, so it runs without a caller's abort signal.
    getSubscription: (subscriptionId) => subscriptionTenant(subscriptionId),
    async getManagedCluster(id, options = {}) {
      try {
        const mc = await clustersIn(id.subscriptionId).managedClusters.get(id.resourceGroup, id.name, { abortSignal: options.abortSignal });
        const info: ClusterInfo = {
          id: mc.id ?? '',
          location: mc.location,
          provisioningState: mc.provisioningState,
          identity: mc.identity
            ? {
                type: mc.identity.type ?? 'None',
                principalId: mc.identity.principalId,
                tenantId: mc.identity.tenantId,
                userAssigned: Object.entries(mc.identity.userAssignedIdentities ?? {}).map(([resourceId, v]) => ({ resourceId, principalId: v.principalId })),
              }
            : undefined,
        };
        return info;
      } catch (e) {
        if (isRestError(e) && e.statusCode === 404) return undefined;
        // No role on the cluster's subscription: a setup problem the user must fix, not one to retry.
        if (isRestError(e) && e.statusCode === 403) {
          throw new ArmError(
            'MemberClusterNotAccessible',
            403,
            `Fleet Manager may not read AKS cluster '${id.name}' in subscription ${id.subscriptionId} (${e.code ?? 'AuthorizationFailed'}). Grant its identity the Reader role on that subscription (README: Deploy to Azure).`,
          );
        }
        throw e;
      }
    },
  };
}
