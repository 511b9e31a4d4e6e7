import { deleteMember, getMember, listMembers, patchMember, putMember } from '../shared/app/members.js';
import { fleetRef, memberRef } from '../shared/domain/armIds.js';
import { armHandler } from '../shared/http/armHandler.js';
import { type FunctionDefinition, fleetRoute, memberRoute } from './definitions.js';

const ref = (p: Record<string, string>) => memberRef(p.subscriptionId, p.resourceGroupName, p.fleetName, p.memberName);

export const memberFunctions: FunctionDefinition[] = [
  { kind: 'http', name: 'members-get', route: memberRoute, methods: ['GET'], handler: armHandler((r, rt) => getMember(rt.app, ref(r.params), r.ctx)) },
  { kind: 'http', name: 'members-put', route: memberRoute, methods: ['PUT'], handler: armHandler((r, rt) => putMember(rt.app, ref(r.params), r.body, r.ctx)) },
  {
    kind: 'http',
    name: 'members-patch',
    route: memberRoute,
    methods: ['PATCH'],
    handler: armHandler((r, rt) => patchMember(rt.app, ref(r.params), r.body, r.ctx)),
  },
  { kind: 'http', name: 'members-delete', route: memberRoute, methods: ['DELETE'], handler: armHandler((r, rt) => deleteMember(rt.app, ref(r.params), r.ctx)) },
  {
    kind: 'http',
    name: 'members-list-by-fleet',
    route: `${fleetRoute}/members`,
    methods: ['GET'],
    handler: armHandler((r, rt) => listMembers(rt.app, fleetRef(r.params.subscriptionId, r.params.resourceGroupName, r.params.fleetName), r.skipToken, r.ctx)),
  },
];
