import { getOperationResult, getOperationStatus } from '../shared/app/operations.js';
import { checkSubscriptionId } from '../shared/domain/armIds.js';
import { armHandler } from '../shared/http/armHandler.js';
import type { FunctionDefinition } from './definitions.js';

const locations = 'subscriptions/{subscriptionId}/providers/Microsoft.ContainerService/locations/{location}';

export const operationFunctions: FunctionDefinition[] = [
  {
    kind: 'http',
    name: 'operation-statuses-get',
    route: `${locations}/operationStatuses/{operationId}`,
    methods: ['GET'],
    handler: armHandler((r, rt) => getOperationStatus(rt.app, checkSubscriptionId(r.params.subscriptionId), r.params.location, r.params.operationId, r.ctx)),
  },
  {
    kind: 'http',
    name: 'operation-results-get',
    route: `${locations}/operationResults/{operationId}`,
    methods: ['GET'],
    handler: armHandler((r, rt) => getOperationResult(rt.app, checkSubscriptionId(r.params.subscriptionId), r.params.location, r.params.operationId, r.ctx)),
  },
];
