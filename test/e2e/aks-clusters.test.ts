// A Kubernetes API for every simulated AKS cluster, reached as users reach AKS: credentials from
// listClusterAdminCredential / listClusterUserCredential through @azure/arm-containerservice, then
// the real kubectl. Nodes follow the agent pools; workloads become ready, or (an image on the
// reserved .invalid domain) never do and say why.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerServiceClient } from '@azure/arm-containerservice';
import { DefaultAzureCredential } from '@azure/identity';
import { beforeAll, expect, it } from 'vitest';
import { sub1 } from '../support/clients.js';
import { type Kubectl, kubectlWith } from '../support/kubectl.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

const stack = useStack();
let aks: ContainerServiceClient;
let admin: Kubectl;

async function kubectlFor(rg: string, name: string, who: 'admin' | 'user'): Promise<Kubectl> {
  const creds =
    who === 'admin' ? await aks.managedClusters.listClusterAdminCredentials(rg, name) : await aks.managedClusters.listClusterUserCredentials(rg, name);
  const file = join(mkdtempSync(join(process.env.FLEET_TEST_DIR ?? '/tmp', 'aks-')), 'config');
  writeFileSync(file, Buffer.from(creds.kubeconfigs![0].value!));
  return kubectlWith(file, stack.env);
}

beforeAll(async () => {
  process.env.IDENTITY_ENDPOINT = stack.env.IDENTITY_ENDPOINT;
  process.env.IDENTITY_HEADER = stack.env.IDENTITY_HEADER;
  aks = new ContainerServiceClient(new DefaultAzureCredential(), sub1, { endpoint: stack.env.ARM_ENDPOINT });
  admin = await kubectlFor('rg-eastus', 'aks-eastus-1', 'admin');
});

const deploymentOf = (name: string, replicas: number, image: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: default}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec: {containers: [{name: c, image: ${image}}]}
`;

const out = async (k: Kubectl, args: string | string[], input?: string) => {
  const r = await k(args, { input });
  if (r.code !== 0) throw new Error(`kubectl failed: ${r.stderr}`);
  return r.stdout;
};

it('has its namespaces and one Node per agent-pool node, sized from the VM size', async () => {
  expect(await out(admin, 'get ns -o name')).toBe('namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\nnamespace/kube-system\n');
  expect((await out(admin, 'get nodes --no-headers')).trim().split('\n')).toHaveLength(3);
  await aks.managedClusters.beginCreateOrUpdateAndWait(
    'rg-eastus',
    'aks-pools',
    {
      location: 'eastus',
      agentPoolProfiles: [
        { name: 'system', count: 1, vmSize: 'Standard_D2s_v5' },
        { name: 'big', count: 2, vmSize: 'Standard_D8s_v5' },
      ],
    },
    { updateIntervalInMs: 50 },
  );
  const pools = await kubectlFor('rg-eastus', 'aks-pools', 'admin');
  const nodes = JSON.parse(await out(pools, 'get nodes -o json')).items as {
    metadata: { labels: Record<string, string> };
    status: { capacity: { cpu: string } };
  }[];
  expect(nodes.map((n) => `${n.metadata.labels['kubernetes.azure.com/agentpool']}:${n.status.capacity.cpu}`).sort()).toEqual(['big:8', 'big:8', 'system:2']);
});

it('makes workloads ready a moment after they are applied, and Jobs complete', async () => {
  const deployment = `${deploymentOf('good', 2, 'nginx:1.27')}---
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: default}
spec:
  template:
    spec: {restartPolicy: Never, containers: [{name: c, image: busybox:1}]}
`;
  await out(admin, 'apply -f -', deployment);
  expect(await out(admin, 'wait --for=condition=Available deploy/good --timeout=15s')).toContain('condition met');
  expect(await out(admin, 'wait --for=condition=Complete job/once --timeout=15s')).toContain('condition met');
  expect(
    (await out(admin, 'get pods -l app=good --no-headers'))
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/).slice(1, 3).join(' ')),
  ).toEqual(['1/1 Running', '1/1 Running']);
  await out(admin, ['scale', 'deploy', 'good', '--replicas=3']);
  await until(async () => (await out(admin, 'get deploy good --no-headers')).includes('3/3'), { within: 15_000, what: 'three ready replicas' });
  await out(admin, 'delete deploy good');
  await until(async () => (await out(admin, 'get pods -l app=good -o name')) === '', { within: 15_000, what: 'the pods to go' });
});

it('never makes ready a workload whose image cannot be pulled, and says why', async () => {
  await out(admin, 'apply -f -', deploymentOf('broken', 1, 'registry.invalid/app:1'));
  await until(async () => (await out(admin, 'get pods -l app=broken --no-headers')).includes('ImagePullBackOff'), { within: 15_000, what: 'ImagePullBackOff' });
  const d = JSON.parse(await out(admin, 'get deploy broken -o json'));
  expect(d.status.conditions.find((c: { type: string }) => c.type === 'Available')).toMatchObject({ status: 'False', reason: 'MinimumReplicasUnavailable' });
  expect((await admin('wait --for=condition=Available deploy/broken --timeout=3s')).code).not.toBe(0);
  const pod = JSON.parse(await out(admin, 'get pods -l app=broken -o json')).items[0];
  expect(pod.status.containerStatuses[0].state.waiting).toMatchObject({
    reason: 'ImagePullBackOff',
    message: 'Back-off pulling image "registry.invalid/app:1"',
  });
});

it('takes Entra tokens for the AKS server app (user credentials) and refuses others', async () => {
  const user = await kubectlFor('rg-eastus', 'aks-eastus-1', 'user');
  expect(await out(user, 'get ns default -o name')).toBe('namespace/default\n');
  expect((await admin('--token=wrong get ns')).stderr).toContain('Unauthorized');
  // Another cluster's objects are its own.
  const other = await kubectlFor('rg-eastus', 'aks-eastus-2', 'admin');
  expect(await out(other, 'get deploy -A -o name')).toBe('');
});

it('hands the same admin credentials to callers asking at once for a new cluster', async () => {
  await aks.managedClusters.beginCreateOrUpdateAndWait('rg-eastus', 'aks-at-once', { location: 'eastus' }, { updateIntervalInMs: 50 });
  // As a user's get-credentials and the fleet's agent do right after a join.
  const files = await Promise.all(Array.from({ length: 4 }, () => aks.managedClusters.listClusterAdminCredentials('rg-eastus', 'aks-at-once')));
  const configs = files.map((f) => Buffer.from(f.kubeconfigs![0].value!).toString());
  expect(new Set(configs).size).toBe(1);
  const k = await kubectlFor('rg-eastus', 'aks-at-once', 'admin');
  expect(await out(k, 'get ns default -o name')).toBe('namespace/default\n');
});
