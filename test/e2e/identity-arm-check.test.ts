// The FAQ's story, healed by our addition: the hub, refusing an unknown principal, asks ARM whether it
// is now the cluster's identity (Event Grid delivery is off here, and no one runs member create).
import { describe, expect, it } from 'vitest';
import { changeIdentity, joinedMember, untilAccepted } from '../support/members.js';
import { useStack } from '../support/stackProcess.js';

const fast3s = { FLEET_HEARTBEAT_PERIOD_SECONDS: '3' };

describe('our addition: the hub asks ARM about a principal it does not know', () => {
  const stack = useStack({ ...fast3s, FLEET_LOCAL_EVENT_GRID: '0' });

  it('heals within a heartbeat or two with no Event Grid subscription and no member create', async () => {
    const { hub } = await joinedMember(stack.env, 'rg-arm-check');
    const started = Date.now();
    const principal = await changeIdentity(stack.env, 'rg-arm-check', 'aks-1', 'id-new');
    await untilAccepted(hub, principal, started, 30_000);
    expect(stack.output()).toContain("ARM confirms it is now the cluster's identity");
    expect(stack.output()).not.toContain('cluster-events: cluster event');
    console.log(`arm check: identity changed, accepted again ${((Date.now() - started) / 1000).toFixed(1)} s later`);
  }, 90_000);
});
