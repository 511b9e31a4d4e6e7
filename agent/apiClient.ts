// KubeConfig.makeApiClient with a deadline on every request. The client library sets none, and a
// connection that is accepted but never answered (a host recycled mid-request, a half-open socket)
// would otherwise hold the agent's loop for good: no more heartbeats, no more Works applied. With a
// deadline the call fails, the loop logs it and tries again with its usual backoff.
import {
  type Configuration,
  createConfiguration,
  type KubeConfig,
  type RequestContext,
  type ResponseContext,
  ServerConfiguration,
} from '@kubernetes/client-node';

/** Long enough for a list of a few thousand objects, short beside a heartbeat's three missed periods. */
export const defaultRequestTimeoutMs = 30_000;

// Unlike KubernetesObjectApi.makeApiClient, the object API made here does not take the kubeconfig
// context's namespace as its default: every namespaced manifest a Work carries names its namespace
// (the hub stores none without one), so the default is never used.
export function apiClientWithTimeout<T>(kc: KubeConfig, type: new (configuration: Configuration) => T, timeoutMs = defaultRequestTimeoutMs): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return new type(
    createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          pre: async (context: RequestContext) => {
            context.setSignal(AbortSignal.timeout(timeoutMs));
            return context;
          },
          post: async (response: ResponseContext) => response,
        },
      ],
    }),
  );
}
