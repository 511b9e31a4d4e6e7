// Which exports of a service make up its import: the oldest wins, ports compared as a set, and a
// conflicting export is told who won and which port differs.
import { expect, it } from 'vitest';
import { resolveExports } from '../../shared/domain/networking/conflicts.js';

const http = { name: 'http', protocol: 'TCP', port: 8080, targetPort: 8080 };
const metrics = { name: 'metrics', protocol: 'TCP', port: 9090 };

it('takes the oldest export, and every export with the same ports in any order', () => {
  const r = resolveExports('shop/web', [
    { member: 'west', ports: [metrics, http], since: '2026-12-03T10:00:05Z' },
    { member: 'east', ports: [http, metrics], since: '2026-12-03T10:00:00Z' },
    { member: 'central', ports: [http], since: '2026-12-03T09:00:00Z' },
  ]);
  // central is oldest: its single port wins, the others conflict.
  expect(r.winner?.member).toBe('central');
  expect(r.clusters).toEqual(['central']);
  expect(r.verdicts.get('central')).toEqual({ conflict: false, reason: 'NoConflictFound', message: 'service shop/web is exported without conflict' });
  expect(r.verdicts.get('east')?.message).toBe(
    "service shop/web is in conflict with other exported services: cluster central exported it first (since 2026-12-03T09:00:00Z), and its ports differ from this export's: metrics 9090/TCP is not in it",
  );
  const same = resolveExports('shop/web', [
    { member: 'west', ports: [metrics, http], since: '2026-12-03T10:00:05Z' },
    { member: 'east', ports: [http, metrics], since: '2026-12-03T10:00:00Z' },
  ]);
  expect(same.clusters).toEqual(['east', 'west']);
  expect([...same.verdicts.values()].every((v) => !v.conflict)).toBe(true);
});

it('breaks a tie by member name, says which port is missing, and resolves nothing from nothing', () => {
  const r = resolveExports('shop/web', [
    { member: 'b', ports: [{ ...http, targetPort: 80 }], since: '2026-12-03T10:00:00Z' },
    { member: 'a', ports: [http], since: '2026-12-03T10:00:00Z' },
  ]);
  expect(r.winner?.member).toBe('a');
  expect(r.verdicts.get('b')?.message).toContain('http 8080->80/TCP is not in it; http 8080/TCP is missing here');
  expect(resolveExports('shop/web', [])).toEqual({ clusters: [], verdicts: new Map() });
});
