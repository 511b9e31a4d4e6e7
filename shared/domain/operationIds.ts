import { randomUUID } from 'node:crypto';
import type { FleetRef } from './armIds.js';

// An operation id names the fleet it belongs to, so its status is one point read in the fleet's
// partition; the subscription comes from the status URL, so an id is useless in another subscription.
export function newOperationId(fleet: FleetRef): string {
  const scope = Buffer.from(`${fleet.resourceGroup.toLowerCase()}/${fleet.fleetName}`).toString('base64url');
  return `${scope}.${randomUUID()}`;
}

export function fleetOfOperation(subscriptionId: string, operationId: string): FleetRef | undefined {
  const [scope, uuid, ...rest] = operationId.split('.');
  if (!scope || !uuid || rest.length > 0 || !/^[0-9a-f-]{36}$/.test(uuid)) return undefined;
  const decoded = Buffer.from(scope, 'base64url').toString('utf8');
  const slash = decoded.lastIndexOf('/');
  if (slash <= 0) return undefined;
  return { subscriptionId: subscriptionId.toLowerCase(), resourceGroup: decoded.slice(0, slash), fleetName: decoded.slice(slash + 1) };
}
