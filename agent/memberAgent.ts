// The member agent: KubeFleet's join/leave protocol against our hub. It reads its
// InternalMemberCluster in `fleet-member-<name>`; while the fleet says Join it reports, every
// heartbeatPeriodSeconds (±5 %, as KubeFleet jitters), the MemberAgent's Joined and Healthy
// conditions (Healthy = its API server's /readyz), lastReceivedHeartbeat and the cluster's
// properties, then applies the member's Works. When the fleet says Leave it takes away what the
// fleet placed and reports Joined False (reason Left): that is the acknowledgement. Refused (401,
// 403) or unable to reach the hub, it waits with exponential backoff and jitter, and logs why.
import { ApiException, type CustomObjectsApi, Health, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { worksResyncSeconds, worksVersionAnnotation } from '../shared/domain/agentProtocol.js';
import { type Condition, setCondition, timestamp } from '../shared/hub/conditions.js';
import { defaultRequestTimeoutMs } from './apiClient.js';
import type { HubClient } from './hubClient.js';
import { syncMultiClusterServices, withdrawMultiClusterServices } from './multiClusterServices.js';
import { collectProperties } from './properties.js';
import { syncServiceExports, withdrawServiceExports } from './serviceExports.js';
import { listWorks, removeAllWorks, syncWorks, type Work } from './workApplier.js';

const group = 'cluster.kubernetes-fleet.io';
const version = 'v1';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface MemberAgentOptions {
  memberName: string;
  hub: HubClient;
  /** The member's own cluster (in AKS: in-cluster config; locally: the simulated cluster's admin kubeconfig). */
  cluster: KubeConfig;
  signal: AbortSignal;
  log?: (line: string) => void;
  random?: () => number;
  /** Until the InternalMemberCluster names one. */
  defaultHeartbeatSeconds?: number;
  maxBackoffSeconds?: number;
}

interface AgentState {
  conditions?: Condition[];
  left?: boolean;
  /** The InternalMemberCluster as the hub last returned it. */
  seen?: Imc;
  /** The member's Works as last listed (and as their status writes returned them since). */
  works?: Work[];
  /** The InternalMemberCluster's works-version annotation when they were listed, and when that was. */
  worksVersion?: string;
  worksListedAt?: number;
}

type Imc = {
  metadata?: { annotations?: Record<string, string> };
  spec?: { state?: string; heartbeatPeriodSeconds?: number };
  status?: { agentStatus?: { type: string; conditions?: Condition[] }[] };
};

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/** Why a hub call failed, in a line (the hub's Status message when it sent one). */
export function whyRefused(e: unknown): string {
  if (e instanceof ApiException) {
    try {
      const status = JSON.parse(String(e.body)) as { message?: string; reason?: string };
      return `${e.code} ${status.reason ?? ''}: ${status.message ?? ''}`.trim();
    } catch {
      return `${e.code}: ${String(e.body).slice(0, 300)}`;
    }
  }
  return (e as Error).message;
}

export async function runMemberAgent(o: MemberAgentOptions): Promise<void> {
  const log = o.log ?? ((line: string) => console.log(`[member-agent ${o.memberName}] ${line}`));
  const random = o.random ?? Math.random;
  const namespace = `fleet-member-${o.memberName}`;
  const state: AgentState = {};
  let failures = 0;
  let lastProblem = '';
  let period = o.defaultHeartbeatSeconds ?? 15;
  const health = new Health(o.cluster);
  while (!o.signal.aborted) {
    try {
      const hub = await o.hub.objects();
      // The state the fleet asks for: read once, then from each status write's answer (the whole
      // object), so that a heartbeat is one write, not also a read (and a list of Works only when
      // that answer says they changed).
      const imc =
        state.seen ?? ((await hub.getNamespacedCustomObject({ group, version, namespace, plural: 'internalmemberclusters', name: o.memberName })) as Imc);
      period = imc.spec?.heartbeatPeriodSeconds ?? period;
      state.seen = imc.spec?.state === 'Leave' ? await leave(o, hub, namespace, state, log) : await heartbeat(o, hub, namespace, state, health, log);
      if (failures || lastProblem) log(`connected again as ${o.hub.principal() ?? 'unknown principal'} after ${failures} failed attempt(s)`);
      failures = 0;
      lastProblem = '';
      await sleep(period * 1000 * (0.95 + 0.1 * random()), o.signal);
    } catch (e) {
      if (o.signal.aborted) break;
      // Read both again: they may have changed, or be gone.
      state.seen = undefined;
      state.works = undefined;
      failures++;
      const why = whyRefused(e);
      // Every failure is logged once; the same one again only when it keeps going (1, 2, 4, 8... attempts).
      if (why !== lastProblem || (failures & (failures - 1)) === 0)
        log(`hub refused or unreachable (attempt ${failures}, as ${o.hub.principal() ?? 'no token yet'}): ${why}`);
      if (e instanceof ApiException && (e.code === 401 || e.code === 403)) o.hub.refresh();
      lastProblem = why;
      const backoff = Math.min(o.maxBackoffSeconds ?? period, 2 ** Math.min(failures, 10));
      await sleep(backoff * 1000 * (0.5 + random() / 2), o.signal);
    }
  }
}

async function heartbeat(
  o: MemberAgentOptions,
  hub: CustomObjectsApi,
  namespace: string,
  state: AgentState,
  health: Health,
  log: (line: string) => void,
): Promise<Imc> {
  const now = new Date();
  const at = timestamp(now);
  let ready = false;
  let healthMessage = '';
  try {
    ready = await health.readyz({ signal: AbortSignal.timeout(defaultRequestTimeoutMs) });
    healthMessage = ready ? 'the member cluster API server answers /readyz' : 'the member cluster API server does not report ready (/readyz)';
  } catch (e) {
    healthMessage = `the member cluster API server cannot be reached: ${(e as Error).message}`;
  }
  const properties = ready ? await collectProperties(o.cluster, at).catch(() => undefined) : undefined;
  if (state.left) log('the fleet asks this member to join again');
  state.left = false;
  state.conditions = setCondition(
    state.conditions,
    { type: 'Joined', status: 'True', reason: 'MemberJoined', message: 'the member agent has joined the fleet' },
    at,
  );
  state.conditions = setCondition(
    state.conditions,
    { type: 'Healthy', status: ready ? 'True' : 'False', reason: ready ? 'MemberHealthy' : 'MemberUnhealthy', message: healthMessage },
    at,
  );
  const status = {
    ...(properties ?? {}),
    agentStatus: [{ type: 'MemberAgent', conditions: state.conditions, lastReceivedHeartbeat: at }],
  };
  const seen = (await hub.patchNamespacedCustomObjectStatus(
    { group, version, namespace, plural: 'internalmemberclusters', name: o.memberName, body: { status } },
    mergePatch,
  )) as Imc;
  if (ready) {
    // Listed again only when the hub says they changed (workHints.ts), or after worksResyncSeconds.
    const announced = seen.metadata?.annotations?.[worksVersionAnnotation];
    if (!state.works || announced !== state.worksVersion || Date.now() - (state.worksListedAt ?? 0) > worksResyncSeconds * 1000) {
      state.works = await listWorks({ hub, namespace });
      state.worksVersion = announced;
      state.worksListedAt = Date.now();
    }
    state.works = await syncWorks({ hub, cluster: o.cluster, namespace, now: () => timestamp(new Date()), log }, state.works);
    // fleet-networking's member side: what this cluster exports. A failure here is logged, and the
    // heartbeat (already written) stands.
    const networking = { memberName: o.memberName, cluster: o.cluster, hub, now: () => new Date(), log };
    await syncServiceExports(networking).catch((e) => log(`service exports: ${whyRefused(e)}`));
    await syncMultiClusterServices(networking).catch((e) => log(`multi-cluster services: ${whyRefused(e)}`));
  }
  return seen;
}

async function leave(o: MemberAgentOptions, hub: CustomObjectsApi, namespace: string, state: AgentState, log: (line: string) => void): Promise<Imc> {
  if (!state.left) {
    // Exports first, as fleet-networking's agents withdraw before the member agent says it left.
    const networking = { memberName: o.memberName, cluster: o.cluster, hub, now: () => new Date(), log };
    await withdrawMultiClusterServices(networking);
    const withdrawn = await withdrawServiceExports(networking);
    const removed = await removeAllWorks({ cluster: o.cluster, namespace, now: () => timestamp(new Date()), log });
    log(`the fleet asks this member to leave: withdrew ${withdrawn} service export(s), removed what ${removed} Work(s) placed`);
  }
  const at = timestamp(new Date());
  state.conditions = setCondition(
    state.conditions,
    { type: 'Joined', status: 'False', reason: 'MemberLeft', message: 'the member agent has left the fleet' },
    at,
  );
  state.left = true;
  state.works = undefined;
  return (await hub.patchNamespacedCustomObjectStatus(
    {
      group,
      version,
      namespace,
      plural: 'internalmemberclusters',
      name: o.memberName,
      body: { status: { agentStatus: [{ type: 'MemberAgent', conditions: state.conditions, lastReceivedHeartbeat: at }] } },
    },
    mergePatch,
  )) as Imc;
}
