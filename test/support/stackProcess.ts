// Starts `npm start`'s entry point (the compiled dist/local/start.js) as a child process, the
// way a user runs it, and reads the KEY=value lines it prints. Each stack keeps its state in a
// folder of its own (FLEET_LOCAL_STATE), so that it can be killed and started again on it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';

export interface StackProcess {
  env: Record<string, string>;
  pid: number;
  stateDir: string;
  output(): string;
  /** SIGINT, as Ctrl-C: resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL to the stack and everything it started (its process group). */
  kill(): Promise<void>;
}

export async function startStackProcess(extraEnv: Record<string, string> = {}): Promise<StackProcess> {
  const dir = process.env.FLEET_TEST_DIR;
  if (!dir) throw new Error('FLEET_TEST_DIR is not set: run under vitest with test/support/globalSetup.ts');
  const stateDir = extraEnv.FLEET_LOCAL_STATE ?? mkdtempSync(join(dir, 'state-'));
  // Its own process group, so that a test can kill the stack with all it started, as a crash would.
  const child: ChildProcess = spawn(process.execPath, [join(process.cwd(), 'dist', 'local', 'start.js')], {
    env: { ...process.env, FLEET_LOCAL_DIR: dir, FLEET_LOCAL_BASE_PORT: '0', FLEET_LOCAL_STATE: stateDir, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const env = await new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack did not start in 30 s:\n${out}`)), 30_000);
    const check = () => {
      if (!out.includes('# Fleet Manager is running')) return;
      clearTimeout(timer);
      const pairs = out
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
      resolve(Object.fromEntries(pairs));
    };
    child.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`stack exited with ${code}:\n${out}`)));
  });
  return {
    env,
    pid: child.pid!,
    stateDir,
    output: () => out,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      return exited;
    },
    async kill() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await exited;
    },
  };
}

/**
 * One stack for the calling test file: started before its tests, stopped after them, and expected
 * to stop cleanly (exit code 0). `env` may be a function, evaluated when the stack starts.
 */
export function useStack(env: Record<string, string> | (() => Record<string, string>) = {}) {
  let stack: StackProcess | undefined;
  let startEnv: Record<string, string> = {};
  beforeAll(async () => {
    startEnv = typeof env === 'function' ? env() : env;
    stack = await startStackProcess(startEnv);
  });
  afterAll(async () => {
    if (stack) expect(await stack.stop()).toBe(0);
  });
  // A failed test prints what the stack (function host, agents, emulators) logged while it ran, so a
  // CI failure shows its cause, not only the wait that timed out.
  let mark = 0;
  beforeEach(() => {
    mark = stack?.output().length ?? 0;
  });
  afterEach((context) => {
    if (!stack || context.task.result?.state !== 'fail') return;
    const lines = stack.output().slice(mark).trimEnd().split('\n');
    console.error(`stack output during "${context.task.name}" (last ${Math.min(lines.length, 80)} of ${lines.length} lines):\n${lines.slice(-80).join('\n')}`);
  });
  const started = () => {
    if (!stack) throw new Error('the stack has not started');
    return stack;
  };
  return {
    get env() {
      return started().env;
    },
    get pid() {
      return started().pid;
    },
    get stateDir() {
      return started().stateDir;
    },
    output: () => started().output(),
    /** Ctrl-C (it must stop cleanly), then `npm start` again on the same state folder (its ports change: read env again). */
    async restart() {
      const stateDir = started().stateDir;
      expect(await started().stop()).toBe(0);
      stack = undefined;
      stack = await startStackProcess({ ...startEnv, FLEET_LOCAL_STATE: stateDir });
    },
  };
}
