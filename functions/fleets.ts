import { deleteFleet, getFleet, listFleetCredentials, listFleets, patchFleet, putFleet } from '../shared/app/fleets.js';
import { fleetRef } from '../shared/domain/armIds.js';
import { armHandler } from '../shared/http/armHandler.js';
import { armPrefix, type FunctionDefinition, fleetRoute } from './definitions.js';

const ref = (p: Record<string, string>) => fleetRef(p.subscriptionId, p.resourceGroupName, p.fleetName);

export const fleetFunctions: FunctionDefinition[] = [
  { kind: 'http', name: 'fleets-get', route: fleetRoute, methods: ['GET'], handler: armHandler((r, rt) => getFleet(rt.app, ref(r.params), r.ctx)) },
  { kind: 'http', name: 'fleets-put', route: fleetRoute, methods: ['PUT'], handler: armHandler((r, rt) => putFleet(rt.app, ref(r.params), r.body, r.ctx)) },
  {
    kind: 'http',
    name: 'fleets-patch',
    route: fleetRoute,
    methods: ['PATCH'],
    handler: armHandler((r, rt) => patchFleet(rt.app, ref(r.params), r.body, r.ctx)),
  },
  { kind: 'http', name: 'fleets-delete', route: fleetRoute, methods: ['DELETE'], handler: armHandler((r, rt) => deleteFleet(rt.app, ref(r.params), r.ctx)) },
  {
    kind: 'http',
    name: 'fleets-list-credentials',
    route: `${fleetRoute}/listCredentials`,
    methods: ['POST'],
    handler: armHandler((r, rt) => listFleetCredentials(rt.app, ref(r.params), r.ctx)),
  },
  {
    kind: 'http',
    name: 'fleets-list-by-resource-group',
    route: `${armPrefix}/fleets`,
    methods: ['GET'],
    handler: armHandler((r, rt) => {
      const { subscriptionId, resourceGroup } = fleetRef(r.params.subscriptionId, r.params.resourceGroupName, 'x');
      return listFleets(rt.app, { subscriptionId, resourceGroup }, r.skipToken, r.ctx);
    }),
  },
  {
    kind: 'http',
    name: 'fleets-list-by-subscription',
    route: 'subscriptions/{subscriptionId}/providers/Microsoft.ContainerService/fleets',
    methods: ['GET'],
    handler: armHandler((r, rt) => {
      const { subscriptionId } = fleetRef(r.params.subscriptionId, 'x', 'x');
      return listFleets(rt.app, { subscriptionId }, r.skipToken, r.ctx);
    }),
  },
];
