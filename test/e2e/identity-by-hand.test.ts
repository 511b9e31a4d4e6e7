// The FAQ's story, healed as the FAQ says: a member cluster's identity changes, its agent is locked
// out and the member shows why at once (MemberCluster condition, ARM member status), and re-running
// member create heals it. Event Grid delivery and the hub's ARM check are off here, so nothing else can.
import { describe, expect, it } from 'vitest';
import { arm, fast, fleetClient, fleetPath } from '../support/clients.js';
import { changeIdentity, conditionOf, joinedMember, memberCluster, untilAccepted } from '../support/members.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

const fast3s = { FLEET_HEARTBEAT_PERIOD_SECONDS: '3' };

describe('by hand: re-running member create, as the FAQ says', () => {
  const stack = useStack({ ...fast3s, FLEET_LOCAL_EVENT_GRID: '0', FLEET_HUB_IDENTITY_CHECK_SECONDS: '0' });

  it('locks the agent out and shows why at once, until member create runs again', async () => {
    const { hub, clusterId } = await joinedMember(stack.env, 'rg-by-hand');
    const changedAt = Date.now();
    const principal = await changeIdentity(stack.env, 'rg-by-hand', 'aks-1', 'id-new');
    const refused = await until(
      async () => {
        const mc = await memberCluster(hub, 'm1');
        return conditionOf(mc, 'AgentIdentityAccepted')?.status === 'False' && mc;
      },
      { within: 20_000, every: 500, what: 'the mismatch on the MemberCluster' },
    );
    expect(conditionOf(refused, 'AgentIdentityAccepted')).toMatchObject({ reason: 'IdentityMismatch' });
    expect(conditionOf(refused, 'AgentIdentityAccepted')!.message).toContain(`authenticated as ${principal}`);
    const member = await arm(stack.env, 'GET', `${fleetPath('rg-by-hand', 'fleet')}/members/m1`);
    expect(member.body.properties.provisioningState).toBe('Succeeded');
    expect(member.body.properties.status.lastOperationError.code).toBe('MemberAgentIdentityMismatch');
    expect(member.body.properties.status.lastOperationError.message).toContain(principal);
    expect(stack.output()).toMatch(/identity mismatch: "[^"]+" is not the identity fleet member "m1" records/);
    expect(stack.output()).toContain('run `az fleet member create -g rg-by-hand -f fleet -n m1 --member-cluster-id');
    // Nothing else heals it here: still locked out several heartbeats later.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(conditionOf(await memberCluster(hub, 'm1'), 'AgentIdentityAccepted')?.status).toBe('False');
    expect((await memberCluster(hub, 'm1')).spec.identity.name).not.toBe(principal);

    const healing = Date.now();
    await fleetClient(stack.env).fleetMembers.create('rg-by-hand', 'fleet', 'm1', { properties: { clusterResourceId: clusterId } }, fast);
    await untilAccepted(hub, principal, healing, 30_000);
    const healed = await arm(stack.env, 'GET', `${fleetPath('rg-by-hand', 'fleet')}/members/m1`);
    expect(healed.body.properties.status.lastOperationError).toBeUndefined();
    console.log(
      `by hand: identity changed, accepted again ${((Date.now() - changedAt) / 1000).toFixed(1)} s later (${((Date.now() - healing) / 1000).toFixed(1)} s after member create)`,
    );
  }, 120_000);
});
