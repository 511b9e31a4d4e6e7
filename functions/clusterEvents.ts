import type { InvocationContext } from '@azure/functions';
import { handleClusterEvent } from '../shared/app/clusterEvents.js';
import { runtime } from '../shared/runtime.js';
import type { FunctionDefinition } from './definitions.js';

/** ARM's events about AKS clusters (infra/ subscribes it to each member subscription's system topic). */
export const clusterEventFunctions: FunctionDefinition[] = [
  {
    kind: 'eventGrid',
    name: 'cluster-events',
    handler: async (event: unknown, context: InvocationContext) => {
      const rt = await runtime();
      const outcome = await handleClusterEvent(rt.app, event);
      if (outcome === 'refresh-sent') context.log(`cluster event ${(event as { id?: string }).id}: the member holding the cluster is read again`);
    },
  },
];
