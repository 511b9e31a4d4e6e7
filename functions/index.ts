import { clusterEventFunctions } from './clusterEvents.js';
import type { FunctionDefinition } from './definitions.js';
import { commandFunctions } from './fleetCommands.js';
import { fleetFunctions } from './fleets.js';
import { hubFunctions } from './hub.js';
import { memberFunctions } from './members.js';
import { operationFunctions } from './operations.js';
import { providerFunctions } from './providers.js';
import { timerFunctions } from './timers.js';

export const functionDefinitions: FunctionDefinition[] = [
  ...fleetFunctions,
  ...memberFunctions,
  ...operationFunctions,
  ...providerFunctions,
  ...hubFunctions,
  ...commandFunctions,
  ...timerFunctions,
  ...clusterEventFunctions,
];
