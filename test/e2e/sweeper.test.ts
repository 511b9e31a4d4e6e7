// A command lost between the transaction and the send (a crash there) is sent again by the
// operations sweeper, a timer function; the member then joins as if nothing had happened.
import { expect, it } from 'vitest';
import { createTableStore } from '../../shared/azure/tableStore.js';
import { newOperationId } from '../../shared/domain/operationIds.js';
import { eastus1, fast, fleetClient, sub1 } from '../support/clients.js';
import { useStack } from '../support/stackProcess.js';
import { until } from '../support/until.js';

const stack = useStack({ FLEET_SWEEP_SCHEDULE: '*/1 * * * * *', FLEET_STUCK_OPERATION_SECONDS: '2' });

it('sends the command of an operation left running again, and the join completes', async () => {
  const client = fleetClient(stack.env);
  await client.fleets.create('rg', 'swept', { location: 'eastus' }, fast);
  const fleet = { subscriptionId: sub1, resourceGroup: 'rg', fleetName: 'swept' };
  const store = createTableStore({ connectionString: stack.env.TABLES_CONNECTION_STRING });
  // What an accepted PUT leaves behind when the process dies before the Service Bus send.
  const opId = newOperationId(fleet);
  const at = new Date(Date.now() - 5000).toISOString();
  const sys = {
    createdBy: 'someone',
    createdByType: 'User' as const,
    createdAt: at,
    lastModifiedBy: 'someone',
    lastModifiedByType: 'User' as const,
    lastModifiedAt: at,
  };
  await store.commit(fleet, [
    {
      op: 'create',
      row: {
        kind: 'member',
        value: {
          ref: { ...fleet, memberName: 'lost' },
          clusterResourceId: eastus1,
          provisioningState: 'Joining',
          lastOperationId: opId,
          eTag: '"x"',
          systemData: sys,
        },
      },
    },
    {
      op: 'create',
      row: {
        kind: 'operation',
        value: { id: opId, kind: 'member.createOrUpdate', fleet, memberName: 'lost', resourceId: 'x', location: 'eastus', status: 'InProgress', startTime: at },
      },
    },
  ]);
  const member = await until(
    async () => {
      const m = await client.fleetMembers.get('rg', 'swept', 'lost');
      return m.properties?.provisioningState === 'Succeeded' && m;
    },
    { within: 15_000, what: 'the swept join to succeed' },
  );
  expect(member.properties?.status?.lastOperationId).toBe(opId);
  expect(stack.output()).toContain('operations sweep: sent 1 stuck command(s) again');
});
