// The time from a cluster's identity change (a PUT of the managed cluster through ARM) to its member
// agent being accepted again, on each automatic path, at the default heartbeat period: from Event
// Grid (the hub's ARM check off) and from the hub's own ARM check (Event Grid delivery off). Each
// path runs on a stack of its own with the real member agent (local/agents.ts), three changes each.
import { startBenchStack } from './stack.js';

const sub = '00000000-0000-0000-0000-000000000001';
const cluster = `/subscriptions/${sub}/resourceGroups/rg-eastus/providers/Microsoft.ContainerService/managedClusters/aks-eastus-1`;
const fmt = (n: number, d = 1) => n.toFixed(d);

// biome-ignore lint/suspicious/noExplicitAny: ARM and hub answers, read by the fields the bench needs
type Json = Record<string, any>;
interface MemberCluster {
  spec: { identity: { name: string } };
  status?: { conditions?: { type: string; status: string }[]; agentStatus?: { lastReceivedHeartbeat?: string }[] };
}

async function onePath(name: string, env: Record<string, string>, changes: number): Promise<string> {
  const stack = await startBenchStack(env);
  try {
    const e = stack.clientEnv;
    const token = async (resource: string) => {
      const r = await fetch(`${e.IDENTITY_ENDPOINT}?resource=${encodeURIComponent(resource)}&api-version=2019-08-01`, {
        headers: { 'X-IDENTITY-HEADER': e.IDENTITY_HEADER },
      });
      return ((await r.json()) as { access_token: string }).access_token;
    };
    const [api, arm] = [await token(e.FLEET_API), await token('https://management.azure.com')];
    const call = async (base: string, t: string, method: string, path: string, body?: unknown) => {
      const r = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json().catch(() => undefined)) as Json };
    };
    const fleet = `/subscriptions/${sub}/resourceGroups/rg-bench/providers/Microsoft.ContainerService/fleets/heal`;
    const until = async <T>(check: () => Promise<T | undefined>, within: number, what: string): Promise<T> => {
      const end = Date.now() + within;
      for (;;) {
        const v = await check().catch(() => undefined);
        if (v !== undefined) return v;
        if (Date.now() > end) throw new Error(`${name}: no ${what} within ${within} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const settled = async (path: string) =>
      until(
        async () =>
          (await call(e.FLEET_API, api, 'GET', `${path}?api-version=2025-03-01`)).body?.properties?.provisioningState === 'Succeeded' ? true : undefined,
        60_000,
        'operation',
      );
    await call(e.FLEET_API, api, 'PUT', `${fleet}?api-version=2025-03-01`, { location: 'eastus', properties: { hubProfile: { dnsPrefix: 'heal' } } });
    await settled(fleet);
    const hub = `https://${(await call(e.FLEET_API, api, 'GET', `${fleet}?api-version=2025-03-01`)).body.properties.hubProfile.fqdn}`;
    await call(e.FLEET_API, api, 'PUT', `${fleet}/members/m1?api-version=2025-03-01`, { properties: { clusterResourceId: cluster } });
    await settled(`${fleet}/members/m1`);
    const mc = async () => (await call(hub, api, 'GET', '/apis/cluster.kubernetes-fleet.io/v1/memberclusters/m1')).body as MemberCluster;
    const accepted = (m: MemberCluster, principal: string | undefined, since: number) => {
      const ok = m.status?.conditions?.find((c) => c.type === 'AgentIdentityAccepted')?.status === 'True';
      const beat = Date.parse(m.status?.agentStatus?.[0]?.lastReceivedHeartbeat ?? '');
      return ok && (!principal || m.spec.identity.name === principal) && beat >= since - 1000 ? true : undefined;
    };
    await until(async () => accepted(await mc(), undefined, 0), 90_000, 'first heartbeat');
    const seconds: number[] = [];
    for (let k = 1; k <= changes; k++) {
      const path = `${cluster}?api-version=2026-04-01`;
      const current = (await call(e.ARM_ENDPOINT, arm, 'GET', path)).body;
      const uami = `/subscriptions/${sub}/resourceGroups/rg-eastus/providers/Microsoft.ManagedIdentity/userAssignedIdentities/bench-${k}`;
      const changedAt = Date.now();
      const next = (await call(e.ARM_ENDPOINT, arm, 'PUT', path, { ...current, identity: { type: 'UserAssigned', userAssignedIdentities: { [uami]: {} } } }))
        .body;
      const principal = (Object.values(next.identity.userAssignedIdentities)[0] as { principalId: string }).principalId;
      await until(async () => accepted(await mc(), principal, changedAt), 120_000, `agent accepted as ${principal}`);
      seconds.push((Date.now() - changedAt) / 1000);
    }
    return `  ${name.padEnd(34)} ${seconds.map((s) => fmt(s)).join(' s, ')} s (${changes} changes)`;
  } finally {
    await stack.stop();
  }
}

export async function benchIdentityHealing(changes = 3): Promise<string> {
  return [
    'identity change to agent accepted again, heartbeat every 15 s (the default):',
    await onePath('from Event Grid (ARM check off):', { FLEET_HUB_IDENTITY_CHECK_SECONDS: '0' }, changes),
    await onePath('hub asks ARM (Event Grid off):', { FLEET_LOCAL_EVENT_GRID: '0' }, changes),
  ].join('\n');
}
