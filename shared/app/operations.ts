import { notFound } from '../domain/errors.js';
import { fleetOfOperation } from '../domain/operationIds.js';
import { fleetToArm, memberToArm, operationToArm } from '../domain/wire.js';
import type { ApiResult, AppDeps, RequestContext } from './context.js';

const operationNotFound = (id: string) => notFound('NotFound', `Operation '${id}' was not found in this subscription and location.`);

async function readOperation(deps: AppDeps, subscriptionId: string, location: string, operationId: string, ctx: RequestContext) {
  const fleet = fleetOfOperation(subscriptionId, operationId);
  if (!fleet) throw operationNotFound(operationId);
  const { operation } = await deps.store.readFleet(fleet, { includeFleet: false, operationId, abortSignal: ctx.abortSignal });
  const op = operation?.value;
  if (!op || op.location !== location.toLowerCase()) throw operationNotFound(operationId);
  return op;
}

/** The Azure-AsyncOperation status monitor: always 200 with the operation's status. */
export async function getOperationStatus(
  deps: AppDeps,
  subscriptionId: string,
  location: string,
  operationId: string,
  ctx: RequestContext,
): Promise<ApiResult> {
  const op = await readOperation(deps, subscriptionId, location, operationId, ctx);
  return { status: 200, body: operationToArm(op) };
}

/** The Location monitor: 202 while running, then what the operation produced (or its error). */
export async function getOperationResult(
  deps: AppDeps,
  subscriptionId: string,
  location: string,
  operationId: string,
  ctx: RequestContext,
): Promise<ApiResult> {
  const op = await readOperation(deps, subscriptionId, location, operationId, ctx);
  if (op.status === 'InProgress') return { status: 202, operation: op };
  if (op.status !== 'Succeeded') {
    const error = op.error ?? { code: 'Canceled', message: `Operation ${op.id} was canceled.`, httpStatus: 409 };
    return { status: error.httpStatus, body: { error: { code: error.code, message: error.message } } };
  }
  if (op.kind.endsWith('.delete')) return { status: 204 };
  const part = await deps.store.readFleet(op.fleet, { includeFleet: !op.memberName, memberName: op.memberName, abortSignal: ctx.abortSignal });
  if (op.memberName) return part.members[0] ? { status: 200, body: memberToArm(part.members[0].value) } : { status: 204 };
  return part.fleet ? { status: 200, body: fleetToArm(part.fleet.value) } : { status: 204 };
}
