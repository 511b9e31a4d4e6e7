// The member agent against a hub that accepts a request and never answers it (a recycled host, a
// half-open connection): the request fails at its deadline, the agent logs why, and its next
// attempt heartbeats. Without a deadline that one request held the agent's loop for good.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, expect, it } from 'vitest';
import { createHubClient } from '../../agent/hubClient.js';
import { runMemberAgent } from '../../agent/memberAgent.js';
import { ensureLocalTls } from '../../local/certs.js';
import { until } from '../support/until.js';

// The local CA the test run made (globalSetup): the agent talks TLS only, as to a real hub.
const tls = ensureLocalTls(join(process.env.FLEET_TEST_DIR!, 'tls'));
const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, handle);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Hung requests would keep close() waiting: drop their sockets with the server.
  server.on('close', () => server.closeAllConnections());
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const json = (res: ServerResponse, body: unknown) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

it('gives up on a hub request that is never answered, and heartbeats on the next attempt', async () => {
  const imc = {
    apiVersion: 'cluster.kubernetes-fleet.io/v1',
    kind: 'InternalMemberCluster',
    metadata: { name: 'm1' },
    spec: { state: 'Join', heartbeatPeriodSeconds: 1 },
  };
  let reads = 0;
  const heartbeats: string[] = [];
  const hubUrl = await serve((req, res) => {
    if (req.method === 'GET' && req.url?.includes('/internalmemberclusters/m1')) {
      if (reads++ === 0) return; // the first read is never answered
      return json(res, imc);
    }
    if (req.method === 'PATCH' && req.url?.endsWith('/internalmemberclusters/m1/status')) {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        heartbeats.push(JSON.parse(body).status.agentStatus[0].lastReceivedHeartbeat);
        json(res, imc);
      });
      return;
    }
    if (req.url?.includes('/works')) return json(res, { items: [] });
    res.writeHead(404).end();
  });
  // The member's own cluster: ready, no nodes, nothing applied.
  const clusterUrl = await serve((req, res) => {
    if (req.url?.startsWith('/readyz')) return res.writeHead(200).end('ok');
    if (req.url?.startsWith('/version')) return json(res, { gitVersion: 'v1.31.1' });
    return json(res, { apiVersion: 'v1', kind: 'List', items: [] });
  });
  const cluster = new KubeConfig();
  cluster.loadFromOptions({
    clusters: [{ name: 'c', server: clusterUrl, caData: Buffer.from(tls.caPem).toString('base64') }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'c', user: 'u' }],
    currentContext: 'c',
  });
  const hub = createHubClient({
    server: hubUrl,
    caPem: tls.caPem,
    audience: 'api://fleet',
    credential: { getToken: async () => ({ token: 'x.e30.y', expiresOnTimestamp: Date.now() + 3_600_000 }) },
    requestTimeoutMs: 300,
  });
  const lines: string[] = [];
  const stop = new AbortController();
  const agent = runMemberAgent({ memberName: 'm1', hub, cluster, signal: stop.signal, log: (l) => lines.push(l), random: () => 0, maxBackoffSeconds: 1 });
  try {
    await until(() => heartbeats.length >= 2, { within: 10_000, what: 'two heartbeats after the hung request' });
  } finally {
    stop.abort();
    await agent;
  }
  expect(reads).toBeGreaterThanOrEqual(2);
  expect(lines[0]).toMatch(/hub refused or unreachable \(attempt 1.*(abort|timeout)/i);
  expect(lines).toContainEqual(expect.stringMatching(/connected again .* after 1 failed attempt/));
});
