// What this resource provider publishes at GET /providers/Microsoft.ContainerService/operations
// (operations.list in the SDK): one entry per action it serves, in ARM's naming
// (`{namespace}/{type}/{read|write|delete|action name}`), as a role definition would name it. A unit
// test checks that every HTTP function serves one of these and that each of these is served.
const provider = 'Microsoft Container Service';

interface Entry {
  name: string;
  resource: string;
  operation: string;
  description: string;
}

const entries: Entry[] = [
  {
    name: 'Microsoft.ContainerService/operations/read',
    resource: 'Operations',
    operation: 'List operations',
    description: 'Lists the operations this resource provider serves.',
  },
  {
    name: 'Microsoft.ContainerService/fleets/read',
    resource: 'Fleet',
    operation: 'Get fleet',
    description: 'Gets a fleet, or lists fleets in a resource group or subscription.',
  },
  {
    name: 'Microsoft.ContainerService/fleets/write',
    resource: 'Fleet',
    operation: 'Create or update fleet',
    description: 'Creates a fleet, or updates its tags and identity.',
  },
  { name: 'Microsoft.ContainerService/fleets/delete', resource: 'Fleet', operation: 'Delete fleet', description: 'Deletes a fleet and its members.' },
  {
    name: 'Microsoft.ContainerService/fleets/listCredentials/action',
    resource: 'Fleet',
    operation: 'List fleet credentials',
    description: "Lists the kubeconfig of a fleet's hub.",
  },
  {
    name: 'Microsoft.ContainerService/fleets/members/read',
    resource: 'Fleet member',
    operation: 'Get fleet member',
    description: 'Gets a fleet member, or lists the members of a fleet.',
  },
  {
    name: 'Microsoft.ContainerService/fleets/members/write',
    resource: 'Fleet member',
    operation: 'Create or update fleet member',
    description: 'Joins an AKS cluster to a fleet, or updates its group and labels.',
  },
  {
    name: 'Microsoft.ContainerService/fleets/members/delete',
    resource: 'Fleet member',
    operation: 'Delete fleet member',
    description: 'Removes a member from its fleet.',
  },
  {
    name: 'Microsoft.ContainerService/locations/operationStatuses/read',
    resource: 'Operation status',
    operation: 'Get operation status',
    description: 'Gets the status of a long-running operation.',
  },
  {
    name: 'Microsoft.ContainerService/locations/operationResults/read',
    resource: 'Operation result',
    operation: 'Get operation result',
    description: 'Gets the result of a long-running operation.',
  },
];

export const providerOperationNames = entries.map((e) => e.name);

/** The body of operations.list: ARM's OperationListResult. */
export function providerOperations() {
  return entries.map((e) => ({
    name: e.name,
    isDataAction: false,
    display: { provider, resource: e.resource, operation: e.operation, description: e.description },
    origin: 'user,system',
  }));
}

/** The provider operation an HTTP route and method serve: `…/fleets/{f}/members/{m}` PUT is `…/fleets/members/write`. */
export function providerOperationOf(route: string, method: string): string {
  const namespace = 'providers/Microsoft.ContainerService/';
  const at = route.indexOf(namespace);
  if (at < 0) throw new Error(`${route} is not under ${namespace}`);
  const types = route
    .slice(at + namespace.length)
    .split('/')
    .filter((s) => !s.startsWith('{'));
  const verb = method === 'POST' ? 'action' : method === 'GET' ? 'read' : method === 'DELETE' ? 'delete' : 'write';
  return `Microsoft.ContainerService/${types.join('/')}/${verb}`;
}
