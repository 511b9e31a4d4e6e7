// Runs timer-triggered functions on their NCRONTAB schedules (six fields: second minute hour day
// month day-of-week), resolving %SETTING% from the environment as the Functions host does.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { InvocationContext } from '../../functions/azfn.js';
import type { FunctionDefinition } from '../../functions/definitions.js';
import { timerFunctionNames } from '../../shared/config.js';
import type { LogSink } from './httpHost.js';

type Field = (value: number) => boolean;

function field(spec: string, min: number, max: number): Field {
  const parts = spec.split(',').map((part) => {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    const [lo, hi] =
      range === '*' ? [min, max] : range.includes('-') ? range.split('-').map(Number) : [Number(range), stepText === undefined ? Number(range) : max];
    if (![lo, hi, step].every(Number.isInteger) || step < 1) throw new Error(`bad NCRONTAB field '${spec}'`);
    return (v: number) => v >= lo && v <= hi && (v - lo) % step === 0;
  });
  return (v) => parts.some((p) => p(v));
}

/** A predicate over UTC seconds for a six-field NCRONTAB expression. */
export function parseNcrontab(expression: string): (at: Date) => boolean {
  const f = expression.trim().split(/\s+/);
  if (f.length !== 6) throw new Error(`NCRONTAB '${expression}' needs six fields (second minute hour day month day-of-week)`);
  const [sec, min, hour, day, month, dow] = [
    field(f[0], 0, 59),
    field(f[1], 0, 59),
    field(f[2], 0, 23),
    field(f[3], 1, 31),
    field(f[4], 1, 12),
    field(f[5], 0, 6),
  ];
  return (at) =>
    sec(at.getUTCSeconds()) && min(at.getUTCMinutes()) && hour(at.getUTCHours()) && day(at.getUTCDate()) && month(at.getUTCMonth() + 1) && dow(at.getUTCDay());
}

/**
 * The timer whose run the current code is part of (undefined outside a timer run): the host counts
 * the storage requests each timer makes, so that a measurement of other work can leave them out.
 */
export const runningTimer = new AsyncLocalStorage<string>();

/** The timer functions' names, in the order of the stack's counters. */
export const timerNames: string[] = Object.values(timerFunctionNames);

export function resolveSchedule(schedule: string, env: NodeJS.ProcessEnv): string {
  const m = /^%(\w+)%$/.exec(schedule);
  if (!m) return schedule;
  const value = env[m[1]];
  if (!value) throw new Error(`timer schedule ${schedule}: app setting ${m[1]} is not set`);
  return value;
}

export function startTimerHost(options: { definitions: FunctionDefinition[]; log: LogSink }): { close(): Promise<void> } {
  const timers = options.definitions.filter((d): d is Extract<FunctionDefinition, { kind: 'timer' }> => d.kind === 'timer');
  const due = timers.map((def) => ({
    def,
    matches: parseNcrontab(resolveSchedule(def.schedule, process.env)),
    running: undefined as Promise<void> | undefined,
    last: undefined as Date | undefined,
  }));
  const run = (t: (typeof due)[number], at: Date, isPastDue: boolean) => {
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: t.def.name,
      logHandler: (level, ...args) => options.log(level, t.def.name, args.map(String).join(' ')),
    });
    const timer = {
      isPastDue,
      schedule: { adjustForDST: false },
      scheduleStatus: { last: (t.last ?? at).toISOString(), next: at.toISOString(), lastUpdated: at.toISOString() },
    };
    t.last = at;
    t.running = Promise.resolve(runningTimer.run(t.def.name, () => t.def.handler(timer, context)))
      .then(() => undefined)
      .catch((e) => options.log('error', t.def.name, (e as Error).stack ?? String(e)))
      .finally(() => (t.running = undefined));
  };
  // The Functions host runs a schedule that came due while no host was running (isPastDue) as soon
  // as it starts. This host keeps no schedule status, so it takes every timer as past due at start:
  // a host that is recycled more often than its timers' period still runs them (the sweeper is what
  // heals a crash).
  for (const t of due) run(t, new Date(), true);
  let lastSecond = Math.floor(Date.now() / 1000);
  const tick = setInterval(() => {
    const second = Math.floor(Date.now() / 1000);
    for (let s = lastSecond + 1; s <= second; s++) {
      const at = new Date(s * 1000);
      for (const t of due) {
        if (!t.matches(at) || t.running) continue;
        run(t, at, false);
      }
    }
    lastSecond = second;
  }, 250);
  return {
    async close() {
      clearInterval(tick);
      await Promise.allSettled(due.map((t) => t.running));
    },
  };
}
