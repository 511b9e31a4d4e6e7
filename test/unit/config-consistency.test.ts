// One source of truth: shared/config.ts. host.json (read by the Functions host in Azure and by the
// local host) must agree with it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { functionDefinitions } from '../../functions/index.js';
import { queues, serviceBusHostSettings, settings } from '../../shared/config.js';

const hostJson = JSON.parse(readFileSync('host.json', 'utf8'));

describe('host.json', () => {
  it('serves routes at the ARM paths (no /api prefix)', () => {
    expect(hostJson.extensions.http.routePrefix).toBe('');
  });
  it('declares the Service Bus trigger settings the code assumes', () => {
    expect(hostJson.extensions.serviceBus).toEqual(serviceBusHostSettings);
  });
});

describe('function definitions', () => {
  it('bind only to queues and connection settings declared in config', () => {
    const queueNames = Object.values(queues).map((q) => q.name);
    for (const def of functionDefinitions) {
      if (def.kind !== 'serviceBusQueue') continue;
      expect(queueNames).toContain(def.queueName);
      expect(def.connection).toBe(settings.serviceBusConnection.name);
      expect(def.isSessionsEnabled).toBe(Object.values(queues).find((q) => q.name === def.queueName)!.requiresSession);
    }
  });
  it('have unique names, and no two serve the same route and method', () => {
    const names = functionDefinitions.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    const routes = functionDefinitions.flatMap((d) => (d.kind === 'http' ? d.methods.map((m) => `${m} ${d.route.toLowerCase()}`) : []));
    expect(new Set(routes).size).toBe(routes.length);
  });
});
