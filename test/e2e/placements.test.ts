// Resource propagation end to end, through the real kubectl on the hub, with what landed on each
// member read by kubectl on that cluster's admin kubeconfig: ClusterResourcePlacements scheduled
// over labelled members in two regions, kept through relabelling, replaced when a member leaves,
// filled when one joins, rescheduled on a policy change, overridden per region, rolled out within
// maxUnavailable, kept away by a taint, removed when deleted — and refused when invalid.
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fast, fleetClient } from '../support/clients.js';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import { addClusterMember, getJson, untilJoined } from '../support/members.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

// Agents heartbeat (and pick up Works) every 2 s, so each step shows within seconds.
const stack = useStack({ FLEET_HEARTBEAT_PERIOD_SECONDS: '2' });
const rg = 'rg-place';
let hub: Kubectl;
const clusters = new Map<string, Kubectl>();

async function addMember(name: string, location: string) {
  clusters.set(name, await addClusterMember(stack.env, rg, 'fleet', name, location));
}

beforeAll(async () => {
  hub = await fleetWithHub(stack.env, rg, 'fleet');
  await Promise.all([addMember('east-1', 'eastus'), addMember('east-2', 'eastus'), addMember('west-1', 'westus')]);
  await Promise.all(['east-1', 'east-2', 'west-1'].map((m) => untilJoined(hub, m)));
  for (const m of ['east-1', 'east-2', 'west-1']) expect((await hub(`label membercluster ${m} env=prod`)).code).toBe(0);
}, 90_000);

const yaml = (...objects: unknown[]) => objects.map((o) => stringify(o)).join('---\n');
const apply = async (...objects: unknown[]) => {
  const r = await hub('apply -f -', { input: yaml(...objects) });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
};

const shop = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'shop' } } };
const settings = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'shop' }, data: { color: 'blue' } };
const web = (image = 'nginx:1.27') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } },
  },
});
const crp = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'placement.kubernetes-fleet.io/v1',
  kind: 'ClusterResourcePlacement',
  metadata: { name },
  spec,
});
const region = 'fleet.azure.com/location';
// KubeFleet's variable, written literally in the override (not a template string).
const memberVariable = ['$', '{MEMBER-CLUSTER-NAME}'].join('');
const pickTwo = crp('shop', {
  resourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: 'shop' }],
  policy: {
    placementType: 'PickN',
    numberOfClusters: 2,
    affinity: {
      clusterAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { clusterSelectorTerms: [{ labelSelector: { matchLabels: { env: 'prod' } } }] } },
    },
    topologySpreadConstraints: [{ topologyKey: region, maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' }],
  },
  strategy: { rollingUpdate: { maxUnavailable: 1, unavailablePeriodSeconds: 1 } },
});

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}
interface CrpView {
  metadata: { generation: number };
  status?: {
    conditions?: Cond[];
    observedResourceIndex?: string;
    selectedResources?: { kind: string; name: string; namespace?: string }[];
    placementStatuses?: { clusterName?: string; conditions: Cond[]; failedPlacements?: { kind: string; name: string; condition: Cond }[] }[];
  };
}
const placement = (name: string) => getJson<CrpView>(hub, `get crp ${name}`);
const condition = (p: CrpView, type: string) =>
  p.status?.conditions?.find((c) => c.type === `ClusterResourcePlacement${type}` && c.observedGeneration === p.metadata.generation);
const picked = (p: CrpView) => (p.status?.placementStatuses ?? []).flatMap((s) => (s.clusterName ? [s.clusterName] : [])).sort();

/** Waits until the placement is Available on its picked members; returns it. */
const untilAvailable = (name: string, within = 60_000) =>
  until(
    async () => {
      const p = await placement(name);
      return condition(p, 'Available')?.status === 'True' && p;
    },
    { within, every: 500, what: `placement ${name} available` },
  );

/** Which members have the object (kubectl get on each member cluster); why not, for a timeout's message. */
const lastMiss = new Map<string, string>();
async function holders(what: string): Promise<string[]> {
  const out: string[] = [];
  for (const [name, k] of clusters) {
    const r = await k(`get ${what} -o name`);
    if (r.code === 0) out.push(name);
    else lastMiss.set(name, r.stderr.trim());
  }
  return out.sort();
}
const untilHolders = (what: string, expected: string[], within = 40_000) => {
  lastMiss.clear();
  return until(
    async () => {
      const h = await holders(what);
      return JSON.stringify(h) === JSON.stringify(expected) && h;
    },
    { within, every: 1000, what: `${what} on exactly ${expected.join(', ') || 'no member'}` },
  ).catch(async (e: Error) => {
    // What a user would look at next: each member's kubectl error and the Works' conditions on the hub.
    const works = await hub([
      'get',
      'works',
      '-A',
      '-o',
      'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}: {.status.conditions[*].reason}{"\\n"}{end}',
    ]);
    throw new Error(`${e.message}\nkubectl on members: ${JSON.stringify(Object.fromEntries(lastMiss))}\nworks: ${works.stdout}${works.stderr}`);
  });
};

const targetClusters = async (name: string) => {
  const snapshots = await getJson<{
    items: { metadata: { labels: Record<string, string> }; status?: { targetClusters?: { clusterName: string; selected: boolean; reason: string }[] } }[];
  }>(hub, `get clusterschedulingpolicysnapshots -l kubernetes-fleet.io/parent-CRP=${name},kubernetes-fleet.io/is-latest-snapshot=true`);
  return snapshots.items[0]?.status?.targetClusters ?? [];
};

describe('invalid placements', () => {
  const base = { resourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: 'shop' }] };
  it.each([
    ['an unknown placementType', { ...base, policy: { placementType: 'PickSome' } }, 'spec.policy.placementType: Unsupported value: "PickSome"'],
    [
      'PickFixed with affinity',
      { ...base, policy: { placementType: 'PickFixed', clusterNames: ['east-1'], affinity: { clusterAffinity: {} } } },
      'spec.policy.affinity',
    ],
    ['PickN without numberOfClusters', { ...base, policy: { placementType: 'PickN' } }, 'spec.policy.numberOfClusters: Required value'],
    [
      'more than 100 clusterNames',
      { ...base, policy: { placementType: 'PickFixed', clusterNames: Array.from({ length: 101 }, (_, i) => `m${i}`) } },
      'spec.policy.clusterNames: Too many',
    ],
    ['no resourceSelectors', { resourceSelectors: [] }, 'spec.resourceSelectors: Required value'],
    ['a bad maxUnavailable', { ...base, strategy: { rollingUpdate: { maxUnavailable: '150%' } } }, 'spec.strategy.rollingUpdate.maxUnavailable'],
  ])('refuses %s with a 422 Status naming the field, and stores nothing', async (_case, spec, field) => {
    const r = await hub('apply -f -', { input: yaml(crp('bad', spec)) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('is invalid');
    expect(r.stderr).toContain(field);
    expect((await hub('get crp bad')).stderr).toContain('not found');
  });
  it('refuses an override that would change what names an object', async () => {
    const override = {
      apiVersion: 'placement.kubernetes-fleet.io/v1',
      kind: 'ClusterResourceOverride',
      metadata: { name: 'rename' },
      spec: {
        clusterResourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: 'shop' }],
        policy: { overrideRules: [{ jsonPatchOverrides: [{ op: 'replace', path: '/metadata/name', value: 'other' }] }] },
      },
    };
    const r = await hub('apply -f -', { input: yaml(override) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.policy.overrideRules[0].jsonPatchOverrides[0].path: Forbidden: an override cannot change /metadata/name');
    expect((await hub('get clusterresourceoverride rename')).stderr).toContain('not found');
  });
  it('refuses a change of placementType', async () => {
    await apply(crp('typed', { ...base, policy: { placementType: 'PickFixed', clusterNames: [] } }));
    const r = await hub('apply -f -', { input: yaml(crp('typed', { ...base, policy: { placementType: 'PickAll' } })) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.policy.placementType: Invalid value: placement type is immutable');
    expect((await hub('delete crp typed')).code).toBe(0);
  });
});

it('places a namespace, a deployment and a configmap with PickN 2 on one member in each region, and says why for every member', async () => {
  await apply(shop, settings, web(), pickTwo);
  const p = await untilAvailable('shop');
  expect(picked(p)).toEqual(['east-1', 'west-1']);
  expect(condition(p, 'Scheduled')).toMatchObject({ status: 'True', reason: 'SchedulingPolicyFulfilled' });
  expect(condition(p, 'Applied')).toMatchObject({ status: 'True' });
  expect(p.status!.selectedResources!.map((r) => `${r.kind}/${r.name}`)).toEqual(['Namespace/shop', 'ConfigMap/settings', 'Deployment/web']);
  await untilHolders('deploy web -n shop', ['east-1', 'west-1']);
  expect(await holders('configmap settings -n shop')).toEqual(['east-1', 'west-1']);
  expect((await clusters.get('west-1')!('get deploy web -n shop -o jsonpath={.status.availableReplicas}')).stdout).toBe('2');
  // Every member's decision, with its reason.
  const targets = await targetClusters('shop');
  expect(targets.find((t) => t.clusterName === 'east-2')).toMatchObject({
    selected: false,
    reason: expect.stringMatching(/^not picked: numberOfClusters \(2\) is met by members ranked higher \(its topology spread score -1/),
  });
  expect(targets.find((t) => t.clusterName === 'west-1')).toMatchObject({ selected: true, reason: expect.stringContaining('picked') });
  // kubectl get crp: GEN, SCHEDULED, APPLIED, AVAILABLE, AGE.
  const table = (await hub('get crp shop')).stdout;
  expect(table).toMatch(/^NAME\s+GEN\s+SCHEDULED\s+APPLIED\s+AVAILABLE\s+AGE\n/);
  expect(table).toMatch(/\nshop\s+1\s+True\s+True\s+True\s+\d+s/);
  // kubectl describe: the Events its conditions' changes recorded, in the order they came.
  const events = (await hub('describe crp shop')).stdout.split('Events:')[1];
  expect(events).toMatch(/Normal\s+SchedulingPolicyFulfilled\s+\S+\s+fleet-placement-controller\s+ClusterResourcePlacementScheduled is True: picked 2 of 3/);
  expect(events).toMatch(/Normal\s+ResourceAvailable\s+\S+\s+fleet-placement-controller\s+ClusterResourcePlacementAvailable is True/);
}, 120_000);

it('takes resources changed together as one new snapshot, not one each', async () => {
  const before = Number((await untilAvailable('shop')).status!.observedResourceIndex);
  await apply({ ...settings, data: { color: 'green' } }, { ...settings, metadata: { ...settings.metadata, name: 'extra' } });
  const after = await until(
    async () => {
      const p = await placement('shop');
      return Number(p.status?.observedResourceIndex) > before && condition(p, 'Available')?.status === 'True' && p;
    },
    { within: 30_000, every: 500, what: 'the changed resources available' },
  );
  expect(Number(after.status!.observedResourceIndex)).toBe(before + 1);
  expect(after.status!.selectedResources!.map((r) => r.name)).toContain('extra');
  expect((await clusters.get('west-1')!('get configmap settings -n shop -o jsonpath={.data.color}')).stdout).toBe('green');
  expect((await hub(`get clusterresourcesnapshots -l kubernetes-fleet.io/parent-CRP=shop -o name`)).stdout.trim().split('\n')).toHaveLength(before + 2);
}, 60_000);

it('a picked member relabelled out of the affinity keeps its work', async () => {
  expect((await hub('label membercluster east-1 env=staging --overwrite')).code).toBe(0);
  await until(async () => (await targetClusters('shop')).find((t) => t.clusterName === 'east-1')?.reason.startsWith('kept:'), {
    within: 20_000,
    every: 500,
    what: 'the decision to keep east-1',
  });
  expect(await holders('deploy web -n shop')).toEqual(['east-1', 'west-1']);
  expect(picked(await placement('shop'))).toEqual(['east-1', 'west-1']);
  expect((await hub('label membercluster east-1 env=prod --overwrite')).code).toBe(0);
}, 60_000);

it('an override gives one region other replicas', async () => {
  await apply({
    apiVersion: 'placement.kubernetes-fleet.io/v1',
    kind: 'ResourceOverride',
    metadata: { name: 'west-replicas', namespace: 'shop' },
    spec: {
      resourceSelectors: [{ group: 'apps', version: 'v1', kind: 'Deployment', name: 'web' }],
      policy: {
        overrideRules: [
          {
            clusterSelector: { clusterSelectorTerms: [{ labelSelector: { matchLabels: { [region]: 'westus' } } }] },
            jsonPatchOverrides: [
              { op: 'replace', path: '/spec/replicas', value: 3 },
              { op: 'add', path: '/metadata/annotations', value: { cluster: memberVariable } },
            ],
          },
        ],
      },
    },
  });
  await until(async () => (await clusters.get('west-1')!('get deploy web -n shop -o jsonpath={.spec.replicas}')).stdout === '3', {
    within: 30_000,
    every: 1000,
    what: 'three replicas in the west',
  });
  expect((await clusters.get('west-1')!('get deploy web -n shop -o jsonpath={.metadata.annotations.cluster}')).stdout).toBe('west-1');
  expect((await clusters.get('east-1')!('get deploy web -n shop -o jsonpath={.spec.replicas}')).stdout).toBe('2');
  const p = await untilAvailable('shop');
  expect(p.status!.placementStatuses!.find((s) => s.clusterName === 'west-1')).toMatchObject({
    applicableResourceOverrides: [{ name: 'west-replicas', namespace: 'shop' }],
  });
  expect(condition(p, 'Overridden')).toMatchObject({ status: 'True', reason: 'OverriddenSucceeded' });
}, 60_000);

it('a revision whose image never becomes ready stops within maxUnavailable, and says why', async () => {
  await apply(web('registry.invalid/web:2'));
  const stuck = await until(
    async () => {
      const p = await placement('shop');
      return condition(p, 'RolloutStarted')?.status === 'False' && p;
    },
    { within: 40_000, every: 500, what: 'the rollout held back' },
  );
  expect(condition(stuck, 'RolloutStarted')!.message).toContain('maxUnavailable');
  // One member has the bad revision, the other still runs the good one — and keeps it.
  await new Promise((r) => setTimeout(r, 6000));
  const images = await Promise.all(
    ['east-1', 'west-1'].map(async (m) => (await clusters.get(m)!('get deploy web -n shop -o jsonpath={.spec.template.spec.containers[0].image}')).stdout),
  );
  expect(images.sort()).toEqual(['nginx:1.27', 'registry.invalid/web:2']);
  const bad = (await placement('shop')).status!.placementStatuses!.find((s) => s.failedPlacements?.length)!;
  expect(bad.failedPlacements![0]).toMatchObject({ kind: 'Deployment', name: 'web', condition: { type: 'Available', status: 'False' } });
  // Fixed: both run it.
  await apply(web('nginx:1.28'));
  await until(
    async () => {
      const seen = await Promise.all(
        ['east-1', 'west-1'].map(async (m) => (await clusters.get(m)!('get deploy web -n shop -o jsonpath={.spec.template.spec.containers[0].image}')).stdout),
      );
      return seen.every((i) => i === 'nginx:1.28');
    },
    { within: 40_000, every: 1000, what: 'the fixed image on both' },
  );
  await untilAvailable('shop');
}, 120_000);

it('a taint keeps new placements away; PickAll fills a member that joins later', async () => {
  expect(
    (
      await hub([
        'patch',
        'membercluster',
        'east-2',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ spec: { taints: [{ key: 'maintenance', value: 'true', effect: 'NoSchedule' }] } }),
      ])
    ).code,
  ).toBe(0);
  const common = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'common' } };
  await apply(common, crp('common', { resourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: 'common' }] }));
  await untilHolders('ns common', ['east-1', 'west-1']);
  expect((await targetClusters('common')).find((t) => t.clusterName === 'east-2')!.reason).toContain('has the taint maintenance=true:NoSchedule');
  await addMember('west-2', 'westus');
  await untilJoined(hub, 'west-2');
  expect((await hub('label membercluster west-2 env=prod')).code).toBe(0);
  await untilHolders('ns common', ['east-1', 'west-1', 'west-2'], 60_000);
}, 120_000);

it('a picked member removed from the fleet is replaced, and a policy change reschedules', async () => {
  await fleetClient(stack.env).fleetMembers.delete(rg, 'fleet', 'west-1', fast);
  clusters.delete('west-1');
  // PickN 2 over the regions again: west-2 takes west-1's place.
  await untilHolders('deploy web -n shop', ['east-1', 'west-2'], 60_000);
  expect(picked(await untilAvailable('shop'))).toEqual(['east-1', 'west-2']);
  // One member now: the new policy picks afresh (the spread keeps one), and the other's copy goes.
  await apply({ ...pickTwo, spec: { ...pickTwo.spec, policy: { ...pickTwo.spec.policy, numberOfClusters: 1 } } });
  await until(async () => (await holders('deploy web -n shop')).length === 1, { within: 40_000, every: 1000, what: 'one member left holding it' });
  expect(picked(await untilAvailable('shop'))).toHaveLength(1);
}, 120_000);

it('deleting a placement removes what it placed from every member, and nothing else', async () => {
  const mine = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'mine', namespace: 'default' }, data: { a: 'b' } };
  expect((await clusters.get('east-1')!('apply -f -', { input: JSON.stringify(mine) })).code).toBe(0);
  expect((await hub('delete crp common shop')).code).toBe(0);
  await untilHolders('ns common', []);
  await untilHolders('ns shop', []);
  expect((await clusters.get('east-1')!('get configmap mine -n default -o name')).stdout).toBe('configmap/mine\n');
  expect((await hub('get works -A -o name')).stdout).toBe('');
  expect((await hub('get clusterresourcesnapshots -o name')).stdout).toBe('');
}, 60_000);

it('deleteStrategy Abandon leaves what was placed on the members, no longer owned by the fleet', async () => {
  const kept = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kept' } };
  await apply(
    kept,
    crp('kept', {
      resourceSelectors: [{ group: '', version: 'v1', kind: 'Namespace', name: 'kept' }],
      policy: { placementType: 'PickFixed', clusterNames: ['east-1'] },
      strategy: { deleteStrategy: { propagationPolicy: 'Abandon' } },
    }),
  );
  await untilHolders('ns kept', ['east-1']);
  await untilAvailable('kept');
  expect((await hub('delete crp kept')).code).toBe(0);
  await until(async () => (await clusters.get('east-1')!('get appliedworks -o name')).stdout === '', {
    within: 30_000,
    every: 1000,
    what: 'the AppliedWork gone',
  });
  const ns = await getJson<{ metadata: { ownerReferences?: unknown[] } }>(clusters.get('east-1')!, 'get ns kept');
  expect(ns.metadata.ownerReferences ?? []).toEqual([]);
}, 60_000);
