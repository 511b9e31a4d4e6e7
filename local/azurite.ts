// Azurite's Table service in this process. The package's main entry is the VS Code extension,
// so the server comes from its dist folder (it ships no types).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface AzuriteTables {
  endpoint: string;
  connectionString: string;
  close(): Promise<void>;
}

const account = 'devstoreaccount1';
const key = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export async function startAzuriteTables(options: { port?: number; location?: string } = {}): Promise<AzuriteTables> {
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
  const endpoint = `${server.getHttpServerAddress()}/${account}`;
  return {
    endpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${key};TableEndpoint=${endpoint};`,
    async close() {
      await server.close();
      await server.clean();
    },
  };
}
