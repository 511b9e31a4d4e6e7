// Serves the HTTP-triggered functions the way the Functions host does: route templates matched
// case-insensitively under host.json's routePrefix, requests and responses through the
// @azure/functions classes the handlers see in Azure.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { HttpMethod } from '@azure/functions';
import { HttpRequest, HttpResponse, InvocationContext } from '../../functions/azfn.js';
import type { FunctionDefinition } from '../../functions/definitions.js';
import { maxRequestBytes } from '../../shared/config.js';
import { startOnThread, type ThreadLoad } from '../threads.js';
import { eventGridWebhookPath, serveEventGridWebhook } from './eventGridWebhook.js';

type HttpDefinition = Extract<FunctionDefinition, { kind: 'http' }>;

interface CompiledRoute {
  def: HttpDefinition;
  pattern: RegExp;
  names: string[];
  /** For each name, the index of the path segment it is. */
  segmentOf: number[];
  /** The last name takes the rest of the path. */
  catchAll: boolean;
}

/**
 * What the Functions host (and the front end before it) would refuse before any function runs: a
 * Host header that is no host, a path that is not a clean ARM path — a percent-escape that does not
 * decode, or a '.' or '..' segment, which URL normalization would otherwise fold into another
 * resource's path. The path is split and decoded here once, segment by segment.
 */
function checkRequest(req: IncomingMessage): { url: URL; path: string; segments: string[] } | { error: { code: string; message: string } } {
  const raw = req.url ?? '/';
  const path = raw.split('?')[0];
  let url: URL;
  try {
    url = new URL(raw, `https://${req.headers.host ?? '127.0.0.1'}`);
  } catch {
    return { error: { code: 'BadRequest', message: `The Host header '${String(req.headers.host).slice(0, 100)}' or the request target is malformed.` } };
  }
  const segments: string[] = [];
  for (const segment of path.split('/').slice(1)) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return { error: { code: 'BadRequest', message: `The path segment '${segment.slice(0, 100)}' has a malformed percent-escape.` } };
    }
    if (decoded === '.' || decoded === '..')
      return { error: { code: 'BadRequest', message: `'${decoded}' is not a path segment ARM accepts: it names no resource.` } };
    segments.push(decoded);
  }
  return { url, path, segments };
}

function compile(def: HttpDefinition, routePrefix: string): CompiledRoute {
  const names: string[] = [];
  const segmentOf: number[] = [];
  const template = [routePrefix, def.route].filter(Boolean).join('/');
  const segments = template.split('/');
  segments.forEach((segment, i) => {
    if (/^\{[^}]+\}$/.test(segment)) segmentOf.push(i);
  });
  // A trailing {*name} is a catch-all, as in Functions route templates: the rest of the path, slashes included.
  const catchAll = /^\{\*([^}]+)\}$/.exec(segments[segments.length - 1] ?? '');
  const fixed = catchAll ? segments.slice(0, -1) : segments;
  const source = fixed
    .map((segment) =>
      segment.replace(/\{([^}:?]+)(?::[^}?]+)?\??\}|[^{]+/g, (part, name?: string) => {
        if (name) {
          names.push(name);
          return '([^/]+)';
        }
        return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      }),
    )
    .join('/');
  if (catchAll) names.push(catchAll[1]);
  return { def, pattern: new RegExp(`^/${source}${catchAll ? '(?:/(.*))?' : '/?'}$`, 'i'), names, segmentOf, catchAll: Boolean(catchAll) };
}

export interface HttpHost {
  url: string;
  close(): Promise<void>;
}

export type LogSink = (level: string, functionName: string, message: string) => void;

/** What the local host logs: information and above, to stderr. */
export const stderrLog: LogSink = (level, fn, message) => {
  if (level !== 'trace' && level !== 'debug') console.error(`[${level}] ${fn}: ${message}`);
};

/** The same host on a worker thread of its own (only from compiled code). */
export async function startHttpHostThread(options: {
  routePrefix: string;
  tls: { certPem: string; keyPem: string };
  port?: number;
  load: ThreadLoad;
}): Promise<HttpHost> {
  const thread = await startOnThread<{ url: string }>(new URL('./httpThread.js', import.meta.url), {
    routePrefix: options.routePrefix,
    tls: { certPem: options.tls.certPem, keyPem: options.tls.keyPem },
    port: options.port ?? 0,
    load: options.load,
  });
  return { url: thread.ready.url, close: thread.close };
}

/** How much of an oversized body is read (and dropped) so that its client gets the 413 (100 MB: the Functions host's own limit). */
const discardBytes = 100 * 1024 * 1024;

/**
 * The request's body, or 'tooLarge' past `limit` bytes. An oversized body is not kept (memory is not
 * the client's to fill) but read to its end: a client sends its whole body before it reads the
 * answer, and a socket closed under a body still coming reaches it as EPIPE or a reset, not as the
 * 413. Past `discardBytes` reading stops, and the answer closes the connection.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'tooLarge'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= limit) chunks.push(c);
      else chunks.length = 0;
      if (size > discardBytes) {
        req.off('data', onData);
        req.pause();
        resolve('tooLarge');
      }
    };
    req.on('data', onData);
    req.once('end', () => resolve(size > limit ? 'tooLarge' : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/**
 * An answer whose body is all there (a string or bytes, as every answer but a watch's): sent as the
 * Functions host sends it, with its length, in one write, without going through a web stream (which
 * cost a heartbeat more than the function did). Anything else goes the general way.
 */
function wholeBody(init: unknown): { status: number; headers: Record<string, string>; body: Buffer } | undefined {
  if (!init || typeof init !== 'object' || init instanceof HttpResponse) return undefined;
  const { status, headers, body, ...rest } = init as { status?: number; headers?: unknown; body?: unknown };
  if (Object.keys(rest).length || !(typeof body === 'string' || body instanceof Uint8Array)) return undefined;
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || headers instanceof Headers || Array.isArray(headers))) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((headers ?? {}) as Record<string, string>)) out[k.toLowerCase()] = String(v);
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // As the Response class does for a string body without a type.
  if (typeof body === 'string' && !out['content-type']) out['content-type'] = 'text/plain;charset=UTF-8';
  out['content-length'] = String(bytes.length);
  return { status: status ?? 200, headers: out, body: bytes };
}

export async function startHttpHost(options: {
  definitions: FunctionDefinition[];
  routePrefix: string;
  tls: { certPem: string; keyPem: string };
  port?: number;
  log: LogSink;
}): Promise<HttpHost> {
  const routes = options.definitions.filter((d): d is HttpDefinition => d.kind === 'http').map((d) => compile(d, options.routePrefix));

  const refuse = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code, message } }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const request = checkRequest(req);
    if ('error' in request) return refuse(res, 400, request.error.code, request.error.message);
    // Routes match the path as it was sent (the URL parser would turn '\\' into '/'), so a parameter is one of `segments`.
    const { url, path, segments } = request;
    if (path.toLowerCase() === eventGridWebhookPath) return serveEventGridWebhook(options.definitions, req, res, url, options.log);
    const method = (req.method ?? 'GET').toUpperCase() as HttpMethod;
    let pathMatched = false;
    for (const route of routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (!route.def.methods.includes(method)) continue;
      // The segments were decoded once, in checkRequest; a parameter is a whole segment.
      const params = Object.fromEntries(
        route.names.map((n, i) =>
          route.catchAll && i === route.names.length - 1 ? [n, segments.slice(route.segmentOf[i]).join('/')] : [n, segments[route.segmentOf[i]]],
        ),
      );
      const limit = route.def.maxRequestBytes ?? maxRequestBytes;
      const body = await readBody(req, limit);
      if (body === 'tooLarge') {
        if (!req.readableEnded) res.setHeader('connection', 'close');
        return refuse(res, 413, 'RequestEntityTooLarge', `The request content is over ${limit} bytes, the most accepted.`);
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const request = new HttpRequest({ method, url: url.toString(), headers, params, ...(body.length ? { body: { bytes: body } } : {}) });
      const context = new InvocationContext({
        invocationId: randomUUID(),
        functionName: route.def.name,
        logHandler: (level, ...args) =>
          options.log(level, route.def.name, args.map((a) => (a instanceof Error ? a.stack : typeof a === 'string' ? a : JSON.stringify(a))).join(' ')),
      });
      const init = await route.def.handler(request, context);
      const whole = wholeBody(init);
      if (whole) {
        res.writeHead(whole.status, whole.headers);
        return void res.end(whole.body);
      }
      const response = init instanceof HttpResponse ? init : new HttpResponse(init ?? { status: 204 });
      const out: Record<string, string> = {};
      for (const [k, v] of response.headers) out[k] = v;
      // Streamed, as the Functions host does with HTTP streaming on: the status and headers go at
      // once (a watch may wait long for its first event), the body as it comes; a client that goes
      // away cancels it.
      const reader = response.body?.getReader();
      if (!reader) {
        res.writeHead(response.status, out);
        return void res.end();
      }
      res.on('close', () => void reader.cancel().catch(() => undefined));
      // A body that is there at once (every answer but a watch's) goes out with the headers in one
      // write; a stream that has nothing yet gets its headers sent now (kubectl waits for them).
      let next: Promise<ReadableStreamReadResult<Uint8Array>> | undefined = reader.read();
      let timer: NodeJS.Timeout | undefined;
      const ready = await Promise.race([next.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), 5)))]);
      clearTimeout(timer);
      res.writeHead(response.status, out);
      if (!ready) res.flushHeaders();
      for (;;) {
        const { done, value } = await (next ?? reader.read());
        next = undefined;
        if (done) break;
        if (!res.write(value)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
      return;
    }
    refuse(
      res,
      pathMatched ? 405 : 404,
      pathMatched ? 'MethodNotAllowed' : 'NotFound',
      `${method} ${url.pathname.slice(0, 500)} is not served by Fleet Manager.`,
    );
  };

  const server = createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, (req, res) => {
    handle(req, res).catch((e) => {
      options.log('error', 'http-host', (e as Error).stack ?? String(e));
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'InternalServerError', message: 'The local host failed to run the function.' } }));
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
