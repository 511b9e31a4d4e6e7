// Watches as kubectl users know them: `kubectl get -w` keeps watching through quiet spells (the hub
// sends keep-alives, here every second), a client's timeoutSeconds ends a watch when it says, and
// many watchers of the same rows cost the storage what one does.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { tokenFor } from '../support/clients.js';
import { fleetWithHub, type Kubectl } from '../support/kubectl.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

const stack = useStack({ FLEET_LOCAL_AGENTS: '0', FLEET_HUB_WATCH_KEEPALIVE_SECONDS: '1' });
let k: Kubectl;
let server: string;
let bearer: string;
beforeAll(async () => {
  k = await fleetWithHub(stack.env, 'rg-watch', 'watched', 'watched');
  server = (await k('config view --raw -o jsonpath={.clusters[0].cluster.server}')).stdout;
  bearer = await tokenFor(stack.env, stack.env.FLEET_API);
}, 60_000);

const stats = async () => {
  const s = (await (await fetch(`${stack.env.ARM_ENDPOINT}/_local/stats`)).json()) as { tableRequests: number; timerTableRequests: Record<string, number> };
  return s.tableRequests - Object.values(s.timerTableRequests).reduce((a, b) => a + b, 0);
};

it('kubectl get -w keeps watching through quiet spells, and shows what comes after', async () => {
  const child = spawn(
    'kubectl',
    ['--kubeconfig', k.kubeconfig, '--cache-dir', join(k.home, 'cache'), 'get', 'configmaps', '-n', 'default', '-w', '-o', 'name'],
    {
      env: { ...stack.env, PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: k.home },
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  try {
    // The namespace is empty: the watch is idle from its start, and five polls (and keep-alives) go by.
    const before = await stats();
    await until(async () => (await stats()) - before >= 5, { within: 30_000, every: 500, what: 'five polls of an idle watch' });
    expect(child.exitCode).toBeNull();
    expect((await k('create configmap later -n default --from-literal=a=b')).code).toBe(0);
    await until(() => out.includes('configmap/later'), { within: 15_000, what: `the watch to show configmap/later (out: ${out}, err: ${err})` });
    expect(child.exitCode).toBeNull();
    expect(err).toBe('');
  } finally {
    child.kill();
  }
});

it('ends a watch when its timeoutSeconds says, and lets 20 watchers of one namespace share one poll', async () => {
  const watch = (query: string, signal?: AbortSignal) =>
    fetch(`${server}/api/v1/namespaces/default/configmaps?watch=true&${query}`, { headers: { authorization: `Bearer ${bearer}` }, signal });
  const ended = await watch('timeoutSeconds=2');
  expect(ended.status).toBe(200);
  // The body ends (the server closed it), with the initial ADDED events only.
  const text = await ended.text();
  expect(
    text
      .split('\n')
      .filter(Boolean)
      .every((l) => JSON.parse(l).type === 'ADDED'),
  ).toBe(true);

  // Storage requests in a window with one watcher, then with twenty: about the same.
  // From the list's version, as a reflector watches: no initial list of its own.
  const listed = (await (await fetch(`${server}/api/v1/namespaces/default/configmaps`, { headers: { authorization: `Bearer ${bearer}` } })).json()) as {
    metadata: { resourceVersion: string };
  };
  const during = async (watchers: number) => {
    const abort = new AbortController();
    const open = await Promise.all(Array.from({ length: watchers }, () => watch(`resourceVersion=${listed.metadata.resourceVersion}`, abort.signal)));
    expect(open.every((r) => r.status === 200)).toBe(true);
    const before = await stats();
    const started = Date.now();
    await until(() => Date.now() - started >= 5_000, { within: 10_000, every: 250, what: 'a 5 s window' });
    const made = (await stats()) - before;
    abort.abort();
    return made;
  };
  const one = await during(1);
  const twenty = await during(20);
  expect(one).toBeGreaterThan(0);
  expect(twenty).toBeLessThanOrEqual(one * 2);
});
