import { hubHandler, maxHubRequestBytes } from '../shared/http/hubHandler.js';
import type { FunctionDefinition } from './definitions.js';

// Every fleet hub's Kubernetes API, under the hub's name: kubeconfigs name https://<host>/hubs/<name>
// as the server, and kubectl puts its paths (/api, /apis/..., /version) after it.
export const hubFunctions: FunctionDefinition[] = [
  {
    kind: 'http',
    name: 'hub-api',
    route: 'hubs/{hubName}/{*path}',
    methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
    handler: hubHandler(),
    maxRequestBytes: 2 * maxHubRequestBytes,
  },
];
