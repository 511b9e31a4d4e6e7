// operations.list publishes what the service serves: every HTTP function is one of its operations,
// and each operation is served by some function.
import { expect, it } from 'vitest';
import { functionDefinitions } from '../../functions/index.js';
import { providerOperationNames, providerOperationOf, providerOperations } from '../../shared/domain/providerOperations.js';

// The hubs' Kubernetes API is not ARM's: its routes are no provider operations.
const isArm = (route: string) => !route.startsWith('hubs/');

it('lists exactly the operations the HTTP functions serve', () => {
  const served = new Set(
    functionDefinitions.flatMap((d) => (d.kind === 'http' && isArm(d.route) ? d.methods.map((m) => providerOperationOf(d.route, m)) : [])),
  );
  expect([...served].sort()).toEqual([...providerOperationNames].sort());
});

it('words each operation for the portal and role definitions', () => {
  for (const op of providerOperations()) {
    expect(op).toMatchObject({ isDataAction: false, display: { provider: 'Microsoft Container Service' } });
    expect(op.display.operation.length).toBeGreaterThan(0);
    expect(op.display.description).toMatch(/\.$/);
  }
});
