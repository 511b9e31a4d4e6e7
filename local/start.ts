// `npm start`: the whole embedded stack, on loopback. State is kept under the data folder, so a stop
// and a start (or a crash and a start) go on where they were; FLEET_LOCAL_FRESH=1 (or
// `npm start -- --fresh`) starts empty.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureLocalTls } from './certs.js';
import { startLocalStack } from './stack.js';
import { runTrusting } from './trust.js';

const dataDir = resolve(process.env.FLEET_LOCAL_DIR ?? '.fleet-local');
const stateDir = resolve(process.env.FLEET_LOCAL_STATE ?? join(dataDir, 'state'));
const fresh = process.env.FLEET_LOCAL_FRESH === '1' || process.argv.includes('--fresh');
mkdirSync(dataDir, { recursive: true });
const tls = ensureLocalTls(join(dataDir, 'tls'));

await runTrusting(tls, async () => {
  if (fresh) rmSync(stateDir, { recursive: true, force: true });
  mkdirSync(stateDir, { recursive: true });
  // The ports are part of the state: tokens name the API's URL as their audience, and clients keep
  // the printed endpoints. Picked ones (FLEET_LOCAL_BASE_PORT=0) are used again on the next start.
  const portsFile = join(stateDir, 'ports.json');
  const base = Number(process.env.FLEET_LOCAL_BASE_PORT ?? 17440);
  const port = (offset: number) => (base === 0 ? 0 : base + offset);
  const saved = base === 0 && existsSync(portsFile) ? JSON.parse(readFileSync(portsFile, 'utf8')) : undefined;
  const ports = saved ?? { api: port(0), arm: port(1), identity: port(2), serviceBus: port(3), tables: port(4) };
  const stack = await startLocalStack({ tls, seedPath: process.env.FLEET_LOCAL_SEED, stateDir, ports }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EADDRINUSE') throw e;
    console.error(
      `Port ${(e as { port?: number }).port ?? ''} is in use (another npm start?). Stop it, or pick other ports: FLEET_LOCAL_BASE_PORT=<port> npm start (0 picks free ones).`,
    );
    process.exit(1);
  });
  writeFileSync(portsFile, JSON.stringify(stack.ports));
  const envFile = join(dataDir, 'env');
  const lines = Object.entries(stack.clientEnv).map(([k, v]) => `${k}=${v}`);
  // Quoted in the file, so that a shell sources the connection strings (with their ';') whole.
  writeFileSync(
    envFile,
    `${Object.entries(stack.clientEnv)
      .map(([k, v]) => `${k}='${v}'`)
      .join('\n')}\n`,
  );
  console.log(lines.join('\n'));
  console.log(
    `# Fleet Manager is running (state in ${stateDir}). These settings are also in ${envFile} (load them with: set -a; . ${envFile}; set +a). Ctrl-C stops.`,
  );
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    console.log('# stopped');
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
});
