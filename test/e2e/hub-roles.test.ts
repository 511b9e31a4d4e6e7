// Authorization on a hub: the API's app roles (the local identity holds Fleet.Read and Fleet.Write,
// local/seed.json). A hub made by a writer is then served by a stack that asks writers for
// Fleet.Admin: kubectl still reads, and every write is 403 Forbidden, with nothing stored.
import { expect, it } from 'vitest';
import { fleetWithHub } from '../support/kubectl.js';
import { startStackProcess } from '../support/stackProcess.js';

it('lets a reader read and refuses its writes with a Forbidden Status', async () => {
  const first = await startStackProcess();
  const k = await fleetWithHub(first.env, 'rg-roles', 'guarded');
  expect((await k('apply -f -', { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: before, namespace: default}\n' })).code).toBe(0);
  expect(await first.stop()).toBe(0);

  // The same state and ports, other roles.
  const second = await startStackProcess({ FLEET_LOCAL_STATE: first.stateDir, FLEET_AUTH_READ_ROLES: 'Fleet.Read', FLEET_AUTH_WRITE_ROLES: 'Fleet.Admin' });
  try {
    expect((await k('get cm -n default -o name')).stdout).toBe('configmap/before\n');
    const write = await k('apply -f -', { input: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after, namespace: default}\n' });
    expect(write.code).toBe(1);
    expect(write.stderr).toMatch(/Error from server \(Forbidden\).*cannot (create|patch) resource "configmaps" in API group "".*'Fleet\.Admin'/);
    expect((await k('delete cm before -n default')).stderr).toContain('Forbidden');
    expect((await k('get cm -n default -o name')).stdout).toBe('configmap/before\n');
    // kubectl auth says the same before trying: yes to reads, no to writes, with the reason.
    expect(await k('auth can-i get configmaps -n default')).toMatchObject({ code: 0, stdout: 'yes\n' });
    const can = await k('auth can-i create configmaps -n default');
    expect(can).toMatchObject({ code: 1, stdout: expect.stringMatching(/^no - .*cannot create resource "configmaps".*'Fleet\.Admin'/) });
    const who = await k('auth whoami -o json');
    expect(JSON.parse(who.stdout).status.userInfo.groups).toEqual(['system:authenticated', 'role:Fleet.Read', 'role:Fleet.Write']);
  } finally {
    expect(await second.stop()).toBe(0);
  }
}, 90_000);
