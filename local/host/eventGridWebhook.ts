// What the Functions host does for Event Grid–triggered functions, at
// POST /runtime/webhooks/eventgrid?functionName={name} (functions-local.md, eventgrid-and-credentials.md
// B.21): an unknown function is 404; `aeg-event-type: SubscriptionValidation` is answered with the
// validation code; `Notification` runs the function once per event of the body (an array, or one
// CloudEvent object) and answers 202, or 500 when one failed (Event Grid then delivers the whole
// batch again); OPTIONS is the CloudEvents abuse-protection handshake; anything else is 400.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvocationContext } from '../../functions/azfn.js';
import type { FunctionDefinition } from '../../functions/definitions.js';

type EventGridDefinition = Extract<FunctionDefinition, { kind: 'eventGrid' }>;
export const eventGridWebhookPath = '/runtime/webhooks/eventgrid';

const answer = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }), ...headers });
  res.end(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
};

export async function serveEventGridWebhook(
  definitions: FunctionDefinition[],
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  log: (level: string, functionName: string, message: string) => void,
): Promise<void> {
  const name = url.searchParams.get('functionName') ?? '';
  const def = definitions.find((d): d is EventGridDefinition => d.kind === 'eventGrid' && d.name === name);
  if (!def) return answer(res, 404, `cannot find function: '${name.slice(0, 100)}'`);
  if (req.method === 'OPTIONS') {
    const origin = String(req.headers['webhook-request-origin'] ?? 'eventgrid.azure.net');
    return answer(res, 200, undefined, { 'webhook-allowed-origin': /^eventgrid\.azure\.(net|us|cn)$/.test(origin) ? origin : 'eventgrid.azure.net' });
  }
  if (req.method !== 'POST') return answer(res, 405);
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return answer(res, 400, 'the body is not JSON');
  }
  const events = Array.isArray(body) ? body : [body];
  const type = String(req.headers['aeg-event-type'] ?? '');
  if (type === 'SubscriptionValidation') {
    const code = (events[0] as { data?: { validationCode?: string } } | undefined)?.data?.validationCode;
    return answer(res, 200, { validationResponse: code });
  }
  if (type === 'Unsubscribe') return answer(res, 202);
  if (type !== 'Notification') return answer(res, 400, `aeg-event-type '${type.slice(0, 50)}' is not one the host knows`);
  for (const event of events) {
    const context = new InvocationContext({
      invocationId: randomUUID(),
      functionName: def.name,
      logHandler: (level, ...args) =>
        log(level, def.name, args.map((a) => (a instanceof Error ? a.stack : typeof a === 'string' ? a : JSON.stringify(a))).join(' ')),
    });
    try {
      await def.handler(event, context);
    } catch (e) {
      log('error', def.name, (e as Error).stack ?? String(e));
      return answer(res, 500, (e as Error).message);
    }
  }
  answer(res, 202);
}
