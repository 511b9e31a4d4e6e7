// The embedded stack's kubectl credential plugin (client.authentication.k8s.io/v1 ExecCredential):
// what kubelogin is to an AKS kubeconfig. It gets a token for the API's audience with
// @azure/identity from the managed-identity endpoint `npm start` printed (IDENTITY_ENDPOINT,
// IDENTITY_HEADER) and prints it for kubectl. kubeconfigs from listCredentials name it as
// `node dist/local/kubeCredential.js --audience <audience>`.
import { ManagedIdentityCredential } from '@azure/identity';

const fail = (message: string): never => {
  process.stderr.write(`fleet-manager credential plugin: ${message}\n`);
  process.exit(1);
};

const at = process.argv.indexOf('--audience');
const audience = at >= 0 ? process.argv[at + 1] : undefined;
if (!audience) fail('no --audience given; use the kubeconfig that listCredentials returns');
if (!process.env.IDENTITY_ENDPOINT || !process.env.IDENTITY_HEADER)
  fail('IDENTITY_ENDPOINT and IDENTITY_HEADER are not set: load what `npm start` printed first (set -a; . .fleet-local/env; set +a)');

try {
  const token = await new ManagedIdentityCredential().getToken(`${audience}/.default`);
  // A minute early, so kubectl asks again before the API would refuse it.
  const expires = new Date(token.expiresOnTimestamp - 60_000).toISOString();
  process.stdout.write(
    `${JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: token.token, expirationTimestamp: expires } })}\n`,
  );
} catch (e) {
  fail(`could not get a token for ${audience}: ${(e as Error).message.split('\n')[0]} (is npm start running?)`);
}
