// Node reads NODE_EXTRA_CA_CERTS only at start-up. A process that must trust the local CA (to call
// the https emulators) runs itself again with the variable set, passing signals and exit code on.
import { spawn } from 'node:child_process';
import type { LocalTls } from './certs.js';

export async function runTrusting(tls: LocalTls, main: () => Promise<void>): Promise<void> {
  if (process.env.NODE_EXTRA_CA_CERTS === tls.caPath) return main();
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: tls.caPath },
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
}
