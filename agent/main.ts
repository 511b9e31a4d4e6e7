// The member agent's entry point in a member cluster (infra/agent/: the image and its manifests).
// Settings, as KubeFleet's member agent names them where it has a name for them:
//   HUB_SERVER_URL        the hub's API server: https://<the fleet's properties.hubProfile.fqdn>
//   MEMBER_CLUSTER_NAME   the fleet member's name
//   HUB_AUDIENCE          the fleet API's token audience (its Entra app's Application ID URI)
//   HUB_CERTIFICATE_AUTHORITY  optional: a PEM file of the CA that signs the hub's certificate
//   AZURE_CLIENT_ID       the cluster identity's client id (workload identity or managed identity)
// The cluster is the one it runs in (in-cluster service account); KUBECONFIG overrides that.
import { readFileSync } from 'node:fs';
import { DefaultAzureCredential } from '@azure/identity';
import { KubeConfig } from '@kubernetes/client-node';
import { createHubClient } from './hubClient.js';
import { runMemberAgent } from './memberAgent.js';

const need = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    console.error(`member agent: ${name} is not set (see infra/agent/member-agent.yaml)`);
    process.exit(2);
  }
  return value;
};

const server = need('HUB_SERVER_URL').replace(/\/+$/, '');
const memberName = need('MEMBER_CLUSTER_NAME');
const audience = need('HUB_AUDIENCE');
const caFile = process.env.HUB_CERTIFICATE_AUTHORITY;
const cluster = new KubeConfig();
if (process.env.KUBECONFIG) cluster.loadFromDefault();
else cluster.loadFromCluster();

const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop.abort());
await runMemberAgent({
  memberName,
  // Workload identity in AKS (AZURE_FEDERATED_TOKEN_FILE, set by the webhook) or the managed identity by AZURE_CLIENT_ID.
  hub: createHubClient({ server, audience, caPem: caFile ? readFileSync(caFile, 'utf8') : undefined, credential: () => new DefaultAzureCredential() }),
  cluster,
  signal: stop.signal,
});
