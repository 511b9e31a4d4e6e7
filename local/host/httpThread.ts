// The HTTP-triggered functions on a thread of their own, as on Flex Consumption, where HTTP
// functions scale as one group on instances apart from each Service Bus-triggered function.
// The thread builds its own runtime (clients, token cache), as an instance does.
import { workerData } from 'node:worker_threads';
import { functionDefinitions } from '../../functions/index.js';
import { settings } from '../../shared/config.js';
import { closeRuntime } from '../../shared/runtime.js';
import { serveOnThread } from '../threads.js';
import { startHttpHost, stderrLog } from './httpHost.js';

const http = await startHttpHost({
  definitions: functionDefinitions,
  routePrefix: workerData.routePrefix,
  tls: workerData.tls,
  port: workerData.port,
  log: stderrLog,
});
// Tokens for the API are requested for its own URL (the official client asks for `${endpoint}/.default`).
process.env[settings.authAudience.name] = http.url;
serveOnThread({ url: http.url }, async () => {
  await http.close();
  await closeRuntime();
});
