// The scheduler's time for one decision over many candidate members (pure code: no storage), for
// the policies that cost most — PickN with a topology spread and a property sorter — and PickAll.
import { type Candidate, schedule } from '../shared/domain/placement/scheduler.js';
import { parsePlacementSpec } from '../shared/domain/placement/spec.js';

const regions = ['eastus', 'westus', 'westeurope', 'northeurope', 'southeastasia', 'japaneast'];

function candidates(n: number): Candidate[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `member-${String(i).padStart(5, '0')}`,
    labels: { 'fleet.azure.com/location': regions[i % regions.length], env: i % 10 === 0 ? 'staging' : 'prod', tier: i % 3 === 0 ? 'gold' : 'silver' },
    properties: { 'kubernetes-fleet.io/node-count': String(1 + (i % 17)), 'resources.kubernetes-fleet.io/available-cpu': `${1000 + ((i * 37) % 9000)}m` },
    taints: i % 50 === 0 ? [{ key: 'maintenance', value: 'true', effect: 'NoSchedule' }] : [],
    eligible: i % 97 === 0 ? { ok: false, why: 'Healthy is Unknown' } : { ok: true },
  }));
}

const policyOf = (policy: unknown) => {
  const r = parsePlacementSpec({ resourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: 'app' }], policy });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value.policy;
};

export function benchScheduler(n = Number(process.env.BENCH_SCHEDULER_MEMBERS ?? 5000)): string {
  const members = candidates(n);
  const required = { clusterSelectorTerms: [{ labelSelector: { matchLabels: { env: 'prod' } } }] };
  const preferred = [
    { weight: 20, preference: { propertySorter: { name: 'resources.kubernetes-fleet.io/available-cpu', sortOrder: 'Descending' } } },
    { weight: 10, preference: { labelSelector: { matchLabels: { tier: 'gold' } } } },
  ];
  const cases: [string, unknown][] = [
    [
      'PickN 100, spread over 6 regions, affinity + property sorter',
      {
        placementType: 'PickN',
        numberOfClusters: 100,
        affinity: { clusterAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required, preferredDuringSchedulingIgnoredDuringExecution: preferred } },
        topologySpreadConstraints: [{ topologyKey: 'fleet.azure.com/location', maxSkew: 1 }],
      },
    ],
    [
      'PickAll with required affinity',
      { placementType: 'PickAll', affinity: { clusterAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } },
    ],
  ];
  const lines = [`scheduler: one decision over ${n} candidate members (pure; aim: under 50 ms)`];
  for (const [name, policy] of cases) {
    const p = policyOf(policy);
    const times: number[] = [];
    let picked = 0;
    for (let run = 0; run < 7; run++) {
      const t = performance.now();
      picked = schedule({ policy: p, candidates: members, kept: [], holders: [] }).selected.length;
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    lines.push(`  ${`${name}:`.padEnd(62)} median ${times[3].toFixed(1)} ms, worst ${times[6].toFixed(1)} ms (${picked} picked)`);
  }
  return lines.join('\n');
}
