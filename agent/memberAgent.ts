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
import { withdrawMultiClusterServices } from './multiClusterServices.js';
import { type NetworkingLoop, networkingLoop } from './networkingLoop.js';
import { collectProperties } from './properties.js';
import { withdrawServiceExports } from './serviceExports.js';
import { sleep } from './sleep.js';
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
  /** The Joined condition each of fleet-networking's agents reports (networkingAgents). */
  networking?: Record<string, Condition[]>;
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

/**
 * fleet-networking's two member agents, whose work this agent does (serviceExports.ts,
 * multiClusterServices.ts): each is reported beside MemberAgent with Joined and its heartbeat, as
 * their own binaries do, so that tools reading a MemberCluster find the three Azure Fleet has.
 */
const networkingAgents = ['ServiceExportImportAgent', 'MultiClusterServiceAgent'] as const;

/** The InternalMemberCluster's agentStatus: MemberAgent's conditions, and the networking agents' Joined. */
function agentStatuses(state: AgentState, at: string, joined: boolean) {
  state.networking ??= {};
  for (const type of networkingAgents)
    state.networking[type] = setCondition(
      state.networking[type],
      joined
        ? { type: 'Joined', status: 'True', reason: 'AgentJoined', message: 'the agent has joined the fleet' }
        : { type: 'Joined', status: 'False', reason: 'AgentLeft', message: 'the agent has left the fleet' },
      at,
    );
  return [
    { type: 'MemberAgent', conditions: state.conditions, lastReceivedHeartbeat: at },
    ...networkingAgents.map((type) => ({ type, conditions: state.networking?.[type], lastReceivedHeartbeat: at })),
  ];
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
  const networking = networkingLoop({ memberName: o.memberName, cluster: o.cluster, hub: o.hub, log, signal: o.signal });
  while (!o.signal.aborted) {
    try {
      const hub = await o.hub.objects();
      // The state the fleet asks for: read once, then from each status write's answer (the whole
      // object), so that a heartbeat is one write, not also a read (and a list of Works only when
      // that answer says they changed).
      const imc =
        state.seen ?? ((await hub.getNamespacedCustomObject({ group, version, namespace, plural: 'internalmemberclusters', name: o.memberName })) as Imc);
      period = imc.spec?.heartbeatPeriodSeconds ?? period;
      state.seen =
        imc.spec?.state === 'Leave'
          ? await leave(o, hub, namespace, state, networking, log)
          : await heartbeat(o, hub, namespace, state, health, networking, log);
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
  networking: NetworkingLoop,
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
    agentStatus: agentStatuses(state, at, true),
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
    // fleet-networking's member side (also run by its watches between heartbeats). A failure
    // there is logged, and the heartbeat (already written) stands.
    await networking.pass();
  }
  return seen;
}

async function leave(
  o: MemberAgentOptions,
  hub: CustomObjectsApi,
  namespace: string,
  state: AgentState,
  networking: NetworkingLoop,
  log: (line: string) => void,
): Promise<Imc> {
  if (!state.left) {
    // Exports first, as fleet-networking's agents withdraw before the member agent says it left
    // (and no watch may export them again meanwhile).
    await networking.pause();
    const x = { memberName: o.memberName, cluster: o.cluster, hub, now: () => new Date(), log };
    await withdrawMultiClusterServices(x);
    const withdrawn = await withdrawServiceExports(x);
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
      body: { status: { agentStatus: agentStatuses(state, at, false) } },
    },
    mergePatch,
  )) as Imc;
}
