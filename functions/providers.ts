import { providerOperations } from '../shared/domain/providerOperations.js';
import { armHandler } from '../shared/http/armHandler.js';
import type { FunctionDefinition } from './definitions.js';

export const providerFunctions: FunctionDefinition[] = [
  {
    kind: 'http',
    name: 'operations-list',
    route: 'providers/Microsoft.ContainerService/operations',
    methods: ['GET'],
    handler: armHandler(async () => ({ items: providerOperations() })),
  },
];
