import type { InvocationContext, Timer } from '@azure/functions';
import { missedHeartbeats, sweepMemberHealth } from '../shared/app/memberHealth.js';
import { resyncPlacements } from '../shared/app/placementTriggers.js';
import { resyncServices } from '../shared/app/serviceImports.js';
import { sweepOperations } from '../shared/app/sweeper.js';
import { settings, timerFunctionNames } from '../shared/config.js';
import { runtime } from '../shared/runtime.js';
import type { FunctionDefinition } from './definitions.js';

export const timerFunctions: FunctionDefinition[] = [
  {
    kind: 'timer',
    name: timerFunctionNames.sweeper,
    schedule: `%${settings.sweepSchedule.name}%`,
    handler: async (_timer: Timer, context: InvocationContext) => {
      const rt = await runtime();
      const { resent, deleted } = await sweepOperations(rt.app, rt.sweep);
      if (resent || deleted) context.log(`operations sweep: sent ${resent} stuck command(s) again, deleted ${deleted} finished operation(s)`);
    },
  },
  {
    kind: 'timer',
    name: timerFunctionNames.memberHealth,
    schedule: `%${settings.memberHealthSchedule.name}%`,
    handler: async (_timer: Timer, context: InvocationContext) => {
      const rt = await runtime();
      const { unknown } = await sweepMemberHealth(rt.app);
      if (unknown) context.log(`member health: ${unknown} member(s) whose agent missed ${missedHeartbeats} heartbeats are now Healthy Unknown`);
    },
  },
  {
    kind: 'timer',
    name: timerFunctionNames.placementResync,
    schedule: `%${settings.placementResyncSchedule.name}%`,
    handler: async (_timer: Timer, context: InvocationContext) => {
      const rt = await runtime();
      const { placements } = await resyncPlacements(rt.app);
      if (placements) context.log(`placement resync: asked ${placements} placement(s) to sync`);
      // Exported services too: what a lost service.sync message would have missed.
      const { services } = await resyncServices(rt.app);
      if (services) context.log(`placement resync: asked ${services} exported service(s) to sync`);
    },
  },
];
