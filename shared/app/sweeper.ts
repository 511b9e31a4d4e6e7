// The safety net under the command queue. A command can be lost between the transaction that
// records an operation and the send that announces it (a crash, a Service Bus outage), or
// dead-lettered when the hosts that held it died on each of its deliveries; the sweeper sends the
// command of every operation still running after a while again, as a message of its own. The
// worker is level-triggered, so a resend of a command that was not lost does no harm. It also
// deletes finished operations once clients can no longer be polling them.
import { commandFor } from '../domain/commands.js';
import type { OperationRecord } from '../domain/model.js';
import type { AppDeps } from './context.js';

export interface SweepOptions {
  stuckAfterSeconds: number;
  retentionDays: number;
  /** Bounds one run; the next run picks up the rest. */
  maxPerRun?: number;
}

export async function sweepOperations(deps: AppDeps, options: SweepOptions): Promise<{ resent: number; deleted: number }> {
  const now = deps.now().getTime();
  const max = options.maxPerRun ?? 1000;
  let resent = 0;
  let deleted = 0;

  let token: string | undefined;
  do {
    const page = await deps.store.listOperations(
      { running: true, startedBefore: new Date(now - options.stuckAfterSeconds * 1000).toISOString() },
      { pageSize: 100, continuationToken: token },
    );
    for (const op of page.items) {
      // A message of its own: the first one may be in the dead-letter queue (its host died with it
      // locked on its last delivery), and a send with the same id would be dropped as a duplicate.
      // One resend per stuck period, whatever the sweeper's schedule.
      await deps.queue.send(commandFor(op), { resend: `sweep-${Math.floor(now / (options.stuckAfterSeconds * 1000 || 1))}` });
      resent++;
    }
    token = page.continuationToken;
  } while (token && resent < max);

  const endedBefore = new Date(now - options.retentionDays * 86400_000).toISOString();
  while (deleted < max) {
    const page = await deps.store.listOperations({ running: false, endedBefore }, { pageSize: 100 });
    if (page.items.length === 0) break;
    const byFleet = new Map<string, OperationRecord[]>();
    for (const op of page.items) {
      const key = JSON.stringify([op.fleet.subscriptionId, op.fleet.resourceGroup.toLowerCase(), op.fleet.fleetName]);
      byFleet.set(key, [...(byFleet.get(key) ?? []), op]);
    }
    for (const ops of byFleet.values()) {
      await deps.store.commit(
        ops[0].fleet,
        ops.map((op) => ({ op: 'delete', kind: 'operation', name: op.id })),
      );
      deleted += ops.length;
    }
  }
  return { resent, deleted };
}
