// The kubeconfig listCredentials hands out: the hub's server URL and an exec credential plugin that
// gets a Microsoft Entra token for the API's audience — kubelogin in Azure (as AKS kubeconfigs
// with Entra ID use it), or the command the deployment names (the embedded stack's own plugin).
import { stringify } from 'yaml';

export interface CredentialExec {
  command: string;
  args: string[];
}

/** The exec section: kubelogin by default; a configured command gets `--audience <aud>` after its own args. */
export function execFor(configured: CredentialExec | undefined, audience: string) {
  const common = { apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'IfAvailable', provideClusterInfo: false };
  if (!configured)
    return {
      ...common,
      command: 'kubelogin',
      args: ['get-token', '--login', 'azurecli', '--server-id', audience],
      installHint: 'kubelogin is not installed: install it with `az aks install-cli`, or from https://azure.github.io/kubelogin/',
    };
  return { ...common, command: configured.command, args: [...configured.args, '--audience', audience] };
}

export function hubKubeconfig(options: { fleetName: string; server: string; exec: ReturnType<typeof execFor>; certificateAuthorityPem?: string }): string {
  const name = options.fleetName;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name,
        cluster: {
          server: options.server,
          ...(options.certificateAuthorityPem ? { 'certificate-authority-data': Buffer.from(options.certificateAuthorityPem).toString('base64') } : {}),
        },
      },
    ],
    contexts: [{ name, context: { cluster: name, user: `${name}-user` } }],
    'current-context': name,
    users: [{ name: `${name}-user`, user: { exec: options.exec } }],
  };
  return stringify(config);
}
