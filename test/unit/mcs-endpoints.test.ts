// What a MultiClusterService's Valid message says stands behind it: endpoints per exporting cluster.
import { expect, it } from 'vitest';
import { endpointsBehind } from '../../agent/multiClusterServices.js';

const esi = (cluster: string, service: string, addresses: number) => ({
  metadata: { name: `${cluster}-${service}` },
  spec: {
    endpoints: Array.from({ length: addresses }, (_, i) => ({ addresses: [`127.64.0.${i + 1}`] })),
    ownerServiceReference: { namespacedName: service },
    endpointSliceReference: { clusterId: cluster },
  },
});

it.each([
  [[], 'no endpoints yet'],
  [[esi('west', 'demo/kuard', 2), esi('east', 'demo/kuard', 2)], '4 endpoints from 2 clusters (east 2, west 2)'],
  [[esi('east', 'demo/kuard', 1)], '1 endpoint from 1 cluster (east 1)'],
  // Another service's slices, and a cluster whose slices are empty, are not counted.
  [[esi('east', 'demo/kuard', 3), esi('west', 'demo/other', 5), esi('north', 'demo/kuard', 0)], '3 endpoints from 1 cluster (east 3)'],
  // Two slices of one cluster add up.
  [[esi('east', 'demo/kuard', 2), { ...esi('east', 'demo/kuard', 1), metadata: { name: 'east-2' } }], '3 endpoints from 1 cluster (east 3)'],
])('case %#', (given, message) => {
  expect(endpointsBehind(given, 'demo/kuard')).toBe(message);
});
