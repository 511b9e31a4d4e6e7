// The simulated world's address plan. Azure CNI gives every pod an address of its VNet, routable
// from anywhere in it (peered VNets too); here "the VNet" is loopback: on Linux every address of
// 127.0.0.0/8 reaches this machine, so a pod's address can be listened on and connected to without
// root, a TUN device or aliases. Pod ranges never overlap across clusters (a fleet's members need
// non-overlapping pod CIDRs for L4 load balancing, as Azure documents), and load balancer frontends
// come from a range of their own, as public IPs do.

/** 127.64.0.0/10: pod addresses, a /22 (1,022 pods) for each cluster, 4,096 clusters. */
const podSpace = { base: ip('127.64.0.0'), clusterBits: 10, clusters: 4096 };
/** How many clusters can have a pod range (machine-wide: every stack on it shares these). */
export const podRanges = podSpace.clusters;
/** 127.192.0.0/16: load balancer frontends, one address per Service of type LoadBalancer. */
const frontendSpace = { base: ip('127.192.0.0'), size: 1 << 16 };

export function ip(dotted: string): number {
  return dotted.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

export function dotted(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** The pod range of the cluster with this index (the order clusters got their API in). */
export function podRange(index: number): { cidr: string; first: number; last: number } {
  if (!Number.isInteger(index) || index < 0 || index >= podSpace.clusters)
    throw new Error(`pod range ${index}: the simulated world has pod ranges for ${podSpace.clusters} clusters`);
  const start = podSpace.base + index * 2 ** podSpace.clusterBits;
  // The network address and the broadcast address are not handed out, as on a real subnet.
  return { cidr: `${dotted(start)}/${32 - podSpace.clusterBits}`, first: start + 1, last: start + 2 ** podSpace.clusterBits - 2 };
}

/** The lowest address of the range that `taken` does not hold, or undefined when the range is full. */
export function nextFree(range: { first: number; last: number }, taken: ReadonlySet<string>): string | undefined {
  for (let n = range.first; n <= range.last; n++) if (!taken.has(dotted(n))) return dotted(n);
  return undefined;
}

/** Load balancer frontends: every address of the range but its first and last. */
export const frontendRange = { first: frontendSpace.base + 1, last: frontendSpace.base + frontendSpace.size - 2 };
