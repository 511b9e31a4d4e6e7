// `npm start`: the whole embedded stack in one process, on loopback.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureLocalTls } from './certs.js';
import { startLocalStack } from './stack.js';
import { runTrusting } from './trust.js';

const dataDir = resolve(process.env.FLEET_LOCAL_DIR ?? '.fleet-local');
mkdirSync(dataDir, { recursive: true });
const tls = ensureLocalTls(join(dataDir, 'tls'));

await runTrusting(tls, async () => {
  const base = Number(process.env.FLEET_LOCAL_BASE_PORT ?? 17440);
  const port = (offset: number) => (base === 0 ? 0 : base + offset);
  const stack = await startLocalStack({
    tls,
    seedPath: process.env.FLEET_LOCAL_SEED,
    ports: { api: port(0), arm: port(1), identity: port(2), serviceBus: port(3), tables: port(4) },
  }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EADDRINUSE') throw e;
    console.error(
      `Port ${(e as { port?: number }).port ?? ''} is in use (another npm start?). Stop it, or pick other ports: FLEET_LOCAL_BASE_PORT=<port> npm start (0 picks free ones).`,
    );
    process.exit(1);
  });
  const envFile = join(dataDir, 'env');
  const lines = Object.entries(stack.clientEnv).map(([k, v]) => `${k}=${v}`);
  writeFileSync(envFile, `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
  console.log(`# Fleet Manager is running. These settings are also in ${envFile} (load them with: set -a; . ${envFile}; set +a). Ctrl-C stops.`);
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
