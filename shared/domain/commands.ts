import { z } from 'zod';
import type { OperationRecord } from './model.js';

/** A message on the fleet-commands queue: "converge the resource this operation changed". */
export const fleetCommandSchema = z.object({
  operationId: z.string().min(1),
  // member.refresh has no operation: "read the member's cluster in ARM again and record what changed"
  // (its identity, or that it is gone). Its operationId only names the message.
  // placement.sync has no operation either: "bring placement `placementName` on the fleet's hub to
  // what its spec, the members and the selected resources say now" (shared/app/placements.ts).
  // service.sync neither: "bring exported service `serviceName` (ns/name) on the hub to what its
  // exports, imports and members say now" (shared/app/serviceImports.ts).
  kind: z.enum([
    'fleet.createOrUpdate',
    'fleet.update',
    'fleet.delete',
    'member.createOrUpdate',
    'member.update',
    'member.delete',
    'member.refresh',
    'placement.sync',
    'service.sync',
  ]),
  fleet: z.object({ subscriptionId: z.string(), resourceGroup: z.string(), fleetName: z.string() }),
  memberName: z.string().optional(),
  placementName: z.string().optional(),
  serviceName: z.string().optional(),
});

/** Commands that converge no operation: run after a batch's operations, each at most once a batch. */
export const isNotification = (c: FleetCommand) => c.kind === 'member.refresh' || c.kind === 'placement.sync' || c.kind === 'service.sync';

export type FleetCommand = z.infer<typeof fleetCommandSchema>;

/** The command that has the worker converge an operation's resource. */
export const commandFor = (op: OperationRecord): FleetCommand => ({
  operationId: op.id,
  kind: op.kind,
  fleet: op.fleet,
  ...(op.memberName !== undefined ? { memberName: op.memberName } : {}),
});
