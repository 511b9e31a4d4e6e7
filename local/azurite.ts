// Azurite's Table service in this process. The package's main entry is the VS Code extension,
// so the server comes from its dist folder (it ships no types).
import { createRequire } from 'node:module';
import { startOnThread, type ThreadLoad } from './threads.js';

const require = createRequire(import.meta.url);

export interface AzuriteTables {
  endpoint: string;
  connectionString: string;
  /** HTTP requests served so far (an entity group transaction is one). */
  requestCount(): number;
  close(): Promise<void>;
}

const account = 'devstoreaccount1';
const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export async function startAzuriteTables(options: { port?: number; location?: string; onRequest?: () => void } = {}): Promise<AzuriteTables> {
  const TableServer = require('azurite/dist/src/table/TableServer').default;
  const TableConfiguration = require('azurite/dist/src/table/TableConfiguration').default;
  const inMemory = !options.location;
  const config = new TableConfiguration(
    '127.0.0.1',
    options.port ?? 0,
    false, // keepAlive
    options.location ? `${options.location}/__azurite_db_table__.json` : undefined,
    false, // debugLog
    false, // accessLog
    undefined,
    undefined,
    true, // loose
    true, // skipApiVersionCheck
    undefined,
    undefined,
    undefined,
    undefined,
    false, // disableProductStyleUrl
    inMemory,
  );
  const server = new TableServer(config);
  await server.start();
  let requests = 0;
  server.httpServer.on('request', () => {
    requests++;
    options.onRequest?.();
  });
  const endpoint = `${server.getHttpServerAddress()}/${account}`;
  return {
    endpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};TableEndpoint=${endpoint};`,
    requestCount: () => requests,
    async close() {
      await server.close();
      await server.clean();
    },
  };
}

/** The same server on a worker thread (only from compiled code: the thread loads dist/local/azuriteThread.js). */
export async function startAzuriteTablesThread(options: { port?: number; load?: ThreadLoad } = {}): Promise<AzuriteTables & { counters: SharedArrayBuffer }> {
  const counters = new SharedArrayBuffer(4);
  const thread = await startOnThread<{ endpoint: string; connectionString: string }>(new URL('./azuriteThread.js', import.meta.url), { port: options.port ?? 0, counter: counters, load: options.load });
  const count = new Int32Array(counters);
  return { ...thread.ready, counters, requestCount: () => Atomics.load(count, 0), close: thread.close };
}
