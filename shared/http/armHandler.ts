// The one place where requests become domain calls and results or failures become ARM
// responses: authentication, api-version, JSON parsing, long-running-operation headers, paging
// and the error body. No handler builds an error body by hand.
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { ApiResult, RequestContext } from '../app/context.js';
import { maxRequestBytes, supportedApiVersions } from '../config.js';
import { checkAccess } from '../domain/access.js';
import { ArmError, badRequest } from '../domain/errors.js';
import { operationResultPath, operationStatusPath } from '../domain/wire.js';
import { ConcurrencyError, InvalidContinuationTokenError } from '../ports.js';
import { type Runtime, runtime } from '../runtime.js';

export interface ArmRequest {
  params: Record<string, string>;
  body: unknown;
  url: URL;
  skipToken?: string;
  ctx: RequestContext;
}

export interface ListResult {
  items: unknown[];
  continuationToken?: string;
}

type Outcome = ApiResult | ListResult;

export type ArmOperation = (req: ArmRequest, rt: Runtime) => Promise<Outcome>;

function checkApiVersion(versions: string[]): void {
  if (versions.length > 1) {
    throw badRequest(
      'InvalidApiVersionParameter',
      `The api-version query parameter was given ${versions.length} times ('${versions.join("', '")}'); give it once.`,
    );
  }
  const version = versions[0];
  if (!version)
    throw badRequest(
      'MissingApiVersionParameter',
      `The api-version query parameter (?api-version=) is required for all requests. Supported: ${supportedApiVersions.join(', ')}.`,
    );
  if (!supportedApiVersions.includes(version)) {
    throw badRequest('InvalidApiVersionParameter', `The api-version '${version}' is invalid. The supported versions are '${supportedApiVersions.join(', ')}'.`);
  }
}

const tooLarge = (bytes: number) =>
  new ArmError('RequestEntityTooLarge', 413, `The request content is ${bytes} bytes; at most ${maxRequestBytes} bytes (1 MiB) are accepted.`);

// application/json, with or without parameters (charset), or a +json type.
const isJson = (contentType: string | undefined) => !!contentType && /^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(contentType.trim());

async function readJson(req: HttpRequest): Promise<unknown> {
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > maxRequestBytes) throw tooLarge(declared);
  const bytes = Buffer.from(await req.arrayBuffer());
  if (bytes.length > maxRequestBytes) throw tooLarge(bytes.length);
  const text = bytes.toString('utf8');
  if (!text.trim()) return undefined;
  const contentType = req.headers.get('content-type') ?? undefined;
  if (!isJson(contentType)) {
    throw new ArmError(
      'UnsupportedMediaType',
      415,
      `The request content type '${contentType ?? '(none)'}' is not supported; send the body as application/json.`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest('InvalidRequestContent', `The request content was invalid and could not be deserialized: ${(e as Error).message}`);
  }
}

const header = (req: HttpRequest, name: string) => req.headers.get(name) ?? undefined;

export function armHandler(operation: ArmOperation) {
  return async (req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const requestId = randomUUID();
    const common = { 'x-ms-request-id': requestId, 'x-ms-correlation-request-id': header(req, 'x-ms-correlation-request-id') ?? requestId };
    try {
      const rt = await runtime();
      const caller = await rt.tokens.validate(req.headers.get('authorization'));
      const url = new URL(req.url);
      checkAccess(rt.access, caller, { write: req.method !== 'GET', action: `${req.method} ${url.pathname}` });
      checkApiVersion(req.query.getAll('api-version'));
      const body = req.method === 'PUT' || req.method === 'PATCH' ? await readJson(req) : undefined;
      const request: ArmRequest = {
        params: req.params,
        body,
        url,
        skipToken: req.query.get('$skipToken') ?? undefined,
        ctx: { caller, host: url.host, ifMatch: header(req, 'if-match'), ifNoneMatch: header(req, 'if-none-match') },
      };
      const outcome = await withRetryOnRace(() => operation(request, rt));
      const response = toResponse(outcome, url, rt.retryAfterSeconds, req.query.get('api-version')!);
      return { ...response, headers: { ...common, ...response.headers } };
    } catch (caught) {
      const e =
        caught instanceof InvalidContinuationTokenError
          ? badRequest('InvalidSkipToken', 'The $skipToken is not one this list handed out: use the nextLink of the previous page as it is.', '$skipToken')
          : caught;
      if (e instanceof ArmError) {
        const headers: Record<string, string> = { ...common };
        if (e.status === 401) headers['WWW-Authenticate'] = `Bearer error="invalid_token", error_description="${e.message.replaceAll('"', "'")}"`;
        return { status: e.status, headers, jsonBody: { error: { code: e.code, message: e.message, ...(e.target ? { target: e.target } : {}) } } };
      }
      context.error(`request ${requestId} ${req.method} ${req.url} failed`, e);
      return {
        status: 500,
        headers: common,
        jsonBody: { error: { code: 'InternalServerError', message: `The server had an error processing request ${requestId}.` } },
      };
    }
  };
}

// Two writers raced for the same rows (say, two identical PUTs). Reading again lets the loser see
// what the winner wrote, and answer as a retry of it would.
async function withRetryOnRace<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
      if (i >= 2) throw new ArmError('Conflict', 409, 'The resource was changed by a concurrent request; retry the request.');
    }
  }
}

function toResponse(outcome: Outcome, url: URL, retryAfterSeconds: number, apiVersion: string): HttpResponseInit & { headers: Record<string, string> } {
  if ('items' in outcome) {
    const body: { value: unknown[]; nextLink?: string } = { value: outcome.items };
    if (outcome.continuationToken) {
      const next = new URL(url);
      next.searchParams.set('$skipToken', outcome.continuationToken);
      body.nextLink = next.toString();
    }
    return { status: 200, jsonBody: body, headers: {} };
  }
  const headers: Record<string, string> = { ...(outcome.headers ?? {}) };
  const eTag = (outcome.body as { eTag?: string } | undefined)?.eTag;
  if (eTag) headers.ETag = eTag;
  if (outcome.operation) {
    const op = outcome.operation;
    const q = `?api-version=${apiVersion}`;
    headers['Azure-AsyncOperation'] = `${url.origin}${operationStatusPath(op.fleet.subscriptionId, op.location, op.id)}${q}`;
    // PUT is polled through Azure-AsyncOperation only: the client requires 200/201 on every PUT poll,
    // and a Location monitor answers 202.
    if (outcome.status === 202) headers.Location = `${url.origin}${operationResultPath(op.fleet.subscriptionId, op.location, op.id)}${q}`;
    headers['Retry-After'] = String(retryAfterSeconds);
  }
  return { status: outcome.status, headers, ...(outcome.body !== undefined ? { jsonBody: outcome.body } : {}) };
}
