// The Azure entry point registers exactly the definitions the local host serves. Outside the
// Functions host @azure/functions skips registrations, so this test stands in for the host's
// worker: it provides '@azure/functions-core' and records what register.js registers.
import Module, { createRequire } from 'node:module';
import { expect, it } from 'vitest';
import { functionDefinitions } from '../../functions/index.js';

it('registers every function with its trigger, route, methods and queue', async () => {
  const registered: { name: string; bindings: Record<string, Record<string, unknown>> }[] = [];
  const fakeCore = {
    version: '4.0.0',
    setProgrammingModel: () => undefined,
    getProgrammingModel: () => ({ name: '@azure/functions', version: '4' }),
    registerFunction: (metadata: { name: string; bindings: Record<string, Record<string, unknown>> }) => {
      registered.push(metadata);
      return { dispose: () => undefined };
    },
    registerHook: () => ({ dispose: () => undefined }),
    log: () => undefined,
    Disposable: class {
      dispose() {}
    },
  };
  const loader = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const original = loader._load;
  loader._load = function (request: string, ...rest: unknown[]) {
    return request === '@azure/functions-core' ? fakeCore : original.call(this, request, ...rest);
  };
  try {
    // The compiled entry point, as the host loads it (npm test builds first).
    const require = createRequire(import.meta.url);
    await import(require.resolve('../../dist/functions/register.js'));
  } finally {
    loader._load = original;
  }
  const summary = (r: (typeof registered)[number]) => {
    const trigger = Object.values(r.bindings).find((b) => String(b.type).endsWith('Trigger'))!;
    if (trigger.type === 'httpTrigger') return { name: r.name, kind: 'http', route: trigger.route, methods: trigger.methods };
    if (trigger.type === 'timerTrigger') return { name: r.name, kind: 'timer', schedule: trigger.schedule };
    if (trigger.type === 'eventGridTrigger') return { name: r.name, kind: 'eventGrid' };
    return {
      name: r.name,
      kind: 'serviceBusQueue',
      queueName: trigger.queueName,
      connection: trigger.connection,
      isSessionsEnabled: trigger.isSessionsEnabled,
      cardinality: trigger.cardinality,
    };
  };
  const expected = functionDefinitions.map((d) =>
    d.kind === 'http'
      ? { name: d.name, kind: 'http', route: d.route, methods: d.methods }
      : d.kind === 'timer'
        ? { name: d.name, kind: 'timer', schedule: d.schedule }
        : d.kind === 'eventGrid'
          ? { name: d.name, kind: 'eventGrid' }
          : {
              name: d.name,
              kind: 'serviceBusQueue',
              queueName: d.queueName,
              connection: d.connection,
              isSessionsEnabled: d.isSessionsEnabled,
              cardinality: d.cardinality,
            },
  );
  expect(expected.some((e) => e.kind === 'timer')).toBe(true);
  expect(expected.some((e) => e.kind === 'eventGrid')).toBe(true);
  expect(registered.map(summary)).toEqual(expected);
});
