// The stack a benchmark measures: `npm start`'s entry point in a process of its own, on fresh
// state and free ports, with the settings a run asks for; this process is only the clients.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface BenchStack {
  clientEnv: Record<string, string>;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export async function startBenchStack(env: Record<string, string>, execArgv: string[] = []): Promise<BenchStack> {
  const dir = resolve(process.env.FLEET_LOCAL_DIR ?? '.fleet-local');
  const child = spawn(process.execPath, [...execArgv, join(import.meta.dirname, '..', 'local', 'start.js')], {
    // A state folder of its own, empty: the benchmark measures a stack that starts from nothing.
    env: { ...process.env, FLEET_LOCAL_DIR: dir, FLEET_LOCAL_STATE: mkdtempSync(join(tmpdir(), 'bench-state-')), FLEET_LOCAL_BASE_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // The stack goes with this process however it ends (an interrupted bench left stacks running
  // for good, which measured each other); a signal's own exit then runs this too.
  const orphaned = () => child.kill('SIGINT');
  process.once('exit', orphaned);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  let out = '';
  const clientEnv = await new Promise<Record<string, string>>((ok, fail) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('# Fleet Manager is running'))
        ok(
          Object.fromEntries(
            out
              .split('\n')
              .filter((l) => /^[A-Z_]+=/.test(l))
              .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
          ),
        );
    });
    child.on('exit', (code) => fail(new Error(`stack exited with ${code}: ${out}`)));
  });
  return {
    clientEnv,
    child,
    output: () => out,
    async stop() {
      process.off('exit', orphaned);
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
