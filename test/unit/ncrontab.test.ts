import { describe, expect, it } from 'vitest';
import { parseNcrontab, resolveSchedule } from '../../local/host/timerHost.js';

describe('NCRONTAB schedules of the local timer host', () => {
  const at = (iso: string) => new Date(iso);
  it.each<[string, string, boolean]>([
    ['0 */5 * * * *', '2026-11-24T10:05:00Z', true],
    ['0 */5 * * * *', '2026-11-24T10:05:01Z', false],
    ['0 */5 * * * *', '2026-11-24T10:06:00Z', false],
    ['*/1 * * * * *', '2026-11-24T10:06:07Z', true],
    ['30 0 9-17 * * 1-5', '2026-11-24T12:00:30Z', true],
    ['30 0 9-17 * * 1-5', '2026-11-22T12:00:30Z', false],
    ['0 0 0 1,15 * *', '2026-11-15T00:00:00Z', true],
  ])('%s at %s: %s', (expr, when, due) => expect(parseNcrontab(expr)(at(when))).toBe(due));
  it('refuses an expression without six fields', () => expect(() => parseNcrontab('*/5 * * * *')).toThrow(/six fields/));
  it('reads %SETTING% from the environment', () => {
    expect(resolveSchedule('%S%', { S: '0 * * * * *' })).toBe('0 * * * * *');
    expect(() => resolveSchedule('%S%', {})).toThrow(/not set/);
  });
});
