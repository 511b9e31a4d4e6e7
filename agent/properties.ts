// What the member agent reports about its cluster, named as KubeFleet's property provider names
// it: the node count, and total / allocatable / available CPU and memory (available = allocatable
// less what running pods request). KubeFleet has no property for the Kubernetes version; ours is
// `kubernetes-fleet.io/kubernetes-version` (the API server's /version).
import { CoreV1Api, type KubeConfig, VersionApi } from '@kubernetes/client-node';
import { parseQuantity } from '../shared/domain/quantity.js';
import { apiClientWithTimeout } from './apiClient.js';

export const nodeCountProperty = 'kubernetes-fleet.io/node-count';
export const kubernetesVersionProperty = 'kubernetes-fleet.io/kubernetes-version';

const cpuQuantity = (cores: number) => `${Math.max(0, Math.round(cores * 1000))}m`;
const memoryQuantity = (bytes: number) => `${Math.max(0, Math.floor(bytes / 1024))}Ki`;

export interface ClusterProperties {
  properties: Record<string, { value: string; observationTime: string }>;
  resourceUsage: {
    capacity: { cpu: string; memory: string };
    allocatable: { cpu: string; memory: string };
    available: { cpu: string; memory: string };
    observationTime: string;
  };
}

export async function collectProperties(cluster: KubeConfig, at: string): Promise<ClusterProperties> {
  const core = apiClientWithTimeout(cluster, CoreV1Api);
  const [nodes, pods, version] = await Promise.all([
    core.listNode(),
    core.listPodForAllNamespaces(),
    apiClientWithTimeout(cluster, VersionApi)
      .getCode()
      .catch(() => undefined),
  ]);
  let capacityCpu = 0;
  let capacityMemory = 0;
  let allocatableCpu = 0;
  let allocatableMemory = 0;
  for (const n of nodes.items) {
    capacityCpu += parseQuantity(n.status?.capacity?.cpu);
    capacityMemory += parseQuantity(n.status?.capacity?.memory);
    allocatableCpu += parseQuantity(n.status?.allocatable?.cpu);
    allocatableMemory += parseQuantity(n.status?.allocatable?.memory);
  }
  let requestedCpu = 0;
  let requestedMemory = 0;
  for (const p of pods.items) {
    if (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    for (const c of p.spec?.containers ?? []) {
      requestedCpu += parseQuantity(c.resources?.requests?.cpu);
      requestedMemory += parseQuantity(c.resources?.requests?.memory);
    }
  }
  const property = (value: string) => ({ value, observationTime: at });
  return {
    properties: {
      [nodeCountProperty]: property(String(nodes.items.length)),
      ...(version?.gitVersion ? { [kubernetesVersionProperty]: property(version.gitVersion) } : {}),
      'resources.kubernetes-fleet.io/total-cpu': property(cpuQuantity(capacityCpu)),
      'resources.kubernetes-fleet.io/allocatable-cpu': property(cpuQuantity(allocatableCpu)),
      'resources.kubernetes-fleet.io/available-cpu': property(cpuQuantity(allocatableCpu - requestedCpu)),
      'resources.kubernetes-fleet.io/total-memory': property(memoryQuantity(capacityMemory)),
      'resources.kubernetes-fleet.io/allocatable-memory': property(memoryQuantity(allocatableMemory)),
      'resources.kubernetes-fleet.io/available-memory': property(memoryQuantity(allocatableMemory - requestedMemory)),
    },
    resourceUsage: {
      capacity: { cpu: cpuQuantity(capacityCpu), memory: memoryQuantity(capacityMemory) },
      allocatable: { cpu: cpuQuantity(allocatableCpu), memory: memoryQuantity(allocatableMemory) },
      available: { cpu: cpuQuantity(allocatableCpu - requestedCpu), memory: memoryQuantity(allocatableMemory - requestedMemory) },
      observationTime: at,
    },
  };
}
