// The real kubectl binary against a fleet's hub, with the kubeconfig listCredentials returns and
// the environment `npm start` printed — nothing else (its own HOME and cache folder, so no
// discovery or /version cache leaks between tests).
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fast, fleetClient } from './clients.js';

export interface Kubectl {
  (
    args: string[] | string,
    options?: { input?: string; timeoutMs?: number; env?: Record<string, string> },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  kubeconfig: string;
  home: string;
}

const words = (args: string[] | string) => (Array.isArray(args) ? args : args.split(/\s+/).filter(Boolean));

export function kubectlWith(kubeconfig: string, env: Record<string, string>): Kubectl {
  const dir = mkdtempSync(join(process.env.FLEET_TEST_DIR ?? '/tmp', 'kubectl-'));
  const run = (args: string[] | string, options: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        'kubectl',
        ['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), ...words(args)],
        {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, ...env, ...(options.env ?? {}) },
          timeout: options.timeoutMs ?? 30_000,
          maxBuffer: 64 * 1024 * 1024,
        },
        (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
      );
      // kubectl may exit before it reads its input (a command that fails at once): the write then
      // fails with EPIPE, which is not the test's error — the exit code and stderr say what happened.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input ?? '');
    });
  return Object.assign(run, { kubeconfig, home: dir });
}

/** Creates a fleet with a hub through the official client and returns kubectl on its kubeconfig. */
export async function fleetWithHub(env: Record<string, string>, resourceGroup: string, name: string, dnsPrefix = name): Promise<Kubectl> {
  const client = fleetClient(env);
  await client.fleets.create(resourceGroup, name, { location: 'eastus', properties: { hubProfile: { dnsPrefix } } }, fast);
  const creds = await client.fleets.listCredentials(resourceGroup, name);
  const dir = mkdtempSync(join(process.env.FLEET_TEST_DIR ?? '/tmp', 'kubeconfig-'));
  const file = join(dir, 'config');
  writeFileSync(file, Buffer.from(creds.kubeconfigs![0].value!));
  return kubectlWith(file, env);
}
