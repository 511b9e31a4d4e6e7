import type { InvocationContext, Timer } from '@azure/functions';
import { sweepOperations } from '../shared/app/sweeper.js';
import { settings } from '../shared/config.js';
import { runtime } from '../shared/runtime.js';
import type { FunctionDefinition } from './definitions.js';

export const timerFunctions: FunctionDefinition[] = [
  {
    kind: 'timer',
    name: 'operations-sweeper',
    schedule: `%${settings.sweepSchedule.name}%`,
    handler: async (_timer: Timer, context: InvocationContext) => {
      const rt = await runtime();
      const { resent, deleted } = await sweepOperations(rt.app, rt.sweep);
      if (resent || deleted) context.log(`operations sweep: sent ${resent} stuck command(s) again, deleted ${deleted} finished operation(s)`);
    },
  },
];
