// Starts `npm start`'s entry point (the compiled dist/local/start.js) as a child process, the
// way a user runs it, and reads the KEY=value lines it prints.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';

export interface StackProcess {
  env: Record<string, string>;
  pid: number;
  output(): string;
  stop(): Promise<number | null>;
}

export async function startStackProcess(extraEnv: Record<string, string> = {}): Promise<StackProcess> {
  const dir = process.env.FLEET_TEST_DIR;
  if (!dir) throw new Error('FLEET_TEST_DIR is not set: run under vitest with test/support/globalSetup.ts');
  const child: ChildProcess = spawn(process.execPath, [join(process.cwd(), 'dist', 'local', 'start.js')], {
    env: { ...process.env, FLEET_LOCAL_DIR: dir, FLEET_LOCAL_BASE_PORT: '0', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
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
    child.on('exit', (code) => reject(new Error(`stack exited with ${code}:\n${out}`)));
  });
  return {
    env,
    pid: child.pid!,
    output: () => out,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGINT');
      }),
  };
}

/**
 * One stack for the calling test file: started before its tests, stopped after them, and expected
 * to stop cleanly (exit code 0). `env` may be a function, evaluated when the stack starts.
 */
export function useStack(env: Record<string, string> | (() => Record<string, string>) = {}) {
  let stack: StackProcess | undefined;
  beforeAll(async () => {
    stack = await startStackProcess(typeof env === 'function' ? env() : env);
  });
  afterAll(async () => {
    if (stack) expect(await stack.stop()).toBe(0);
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
    output: () => started().output(),
  };
}
