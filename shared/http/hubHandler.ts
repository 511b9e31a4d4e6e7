// The hub's HTTP adapter: a Functions HTTP request becomes a HubCall, and a result or failure a
// Kubernetes response — JSON (kubectl refuses any other success type), `Status` bodies for every
// failure, and watches streamed as newline-delimited events (Functions HTTP streaming in Azure).
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { fleetWriteHooks } from '../app/hubPolicy.js';
import { answerReview, type Reviewer, reviewOf } from '../app/hubReviews.js';
import { agentReported, agentWriteHooks, authorizeAgent, identifyCaller, workType } from '../app/memberAgents.js';
import { memberOfNamespace } from '../app/memberClusters.js';
import { parentLabel } from '../app/placements.js';
import { onHubWrite, onMemberChange, requestPlacementSync } from '../app/placementTriggers.js';
import { requestServiceSync, serviceOf } from '../app/serviceImports.js';
import { announceWorkChanges } from '../app/workHints.js';
import { fleetRefOfId } from '../domain/armIds.js';
import { ArmError } from '../domain/errors.js';
import { authorizeHub, type HubAction } from '../hub/access.js';
import { decodeRequestBody, type HubCall, type HubResult, handleHubCall, targetOf, watchKeepAlive } from '../hub/api.js';
import type { KubeObject } from '../hub/kinds.js';
import { hubNetworkingTypes, networkingGroup, stagedNetworkingKinds } from '../hub/networking.js';
import { HubObjects } from '../hub/objects.js';
import { HubError, statusBody } from '../hub/status.js';
import { HubGone, type HubRef } from '../hub/store.js';
import { type Runtime, runtime } from '../runtime.js';

/** kube-apiserver's request limit (3 MiB); objects themselves stop at 1.5 MiB (objects.ts). */
export const maxHubRequestBytes = 3 * 1024 * 1024;

const jsonType = 'application/json';

function respond(status: number, body: unknown, contentType = jsonType, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status,
    headers: { 'content-type': contentType, ...headers },
    body: typeof body === 'string' && !contentType.includes('json') ? body : JSON.stringify(body),
  };
}

const failure = (e: HubError) => respond(e.code, statusBody(e), jsonType, e.headers);

/** The verb a request is, for authorization (kube-apiserver's request info). */
function actionOf(method: string, path: string[], query: URLSearchParams): HubAction {
  const target = targetOf(path);
  if (target?.kind !== 'resource') return { verb: method === 'GET' ? 'get' : 'create', group: '', plural: '' };
  const base = {
    group: target.group,
    plural: target.subresource ? `${target.plural}/${target.subresource}` : target.plural,
    namespace: target.namespace,
    name: target.name,
  };
  const watch = query.get('watch') === 'true' || query.get('watch') === '1';
  const verb: HubAction['verb'] =
    method === 'GET'
      ? target.name === undefined
        ? watch
          ? 'watch'
          : 'list'
        : 'get'
      : method === 'POST'
        ? 'create'
        : method === 'PUT'
          ? 'update'
          : method === 'PATCH'
            ? 'patch'
            : target.name === undefined
              ? 'deletecollection'
              : 'delete';
  return { verb, ...base };
}

const dryRun = (url: URL) => url.searchParams.getAll('dryRun').includes('All');

/** Hub name → its record, remembered briefly (a deleted hub's table answers 404 meanwhile: HubGone). */
const known = new Map<string, { at: number; record: { table: string; fleetId: string } | undefined }>();
const rememberMs = 15_000;

async function hubNamed(rt: Runtime, name: string): Promise<{ table: string; fleetId: string } | undefined> {
  const hit = known.get(name);
  if (hit && Date.now() - hit.at < rememberMs) return hit.record;
  const record = await rt.hubs.directory.get(name);
  if (known.size > 10_000) known.clear();
  known.set(name, { at: Date.now(), record });
  return record;
}

function streamOf(events: AsyncIterable<unknown>, abort: AbortController, context: InvocationContext): ReadableStream<Uint8Array> {
  const iterator = events[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  // A client that goes away cancels the stream while an event may still be on its way: that event has nowhere to go.
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: IteratorResult<unknown>;
      try {
        next = await iterator.next();
      } catch (e) {
        if (cancelled) return;
        // Headers are gone: the failure is an ERROR event, as kube-apiserver ends a broken watch.
        const error = e instanceof HubError ? e : new HubError(500, 'InternalError', 'the watch failed on the server');
        if (!(e instanceof HubError)) context.error('watch failed', e);
        controller.enqueue(encoder.encode(`${JSON.stringify({ type: 'ERROR', object: statusBody(error) })}\n`));
        controller.close();
        return;
      }
      if (cancelled) return;
      if (next.done) controller.close();
      // A keep-alive is a bare newline, which a watch decoder reads past as whitespace.
      else controller.enqueue(encoder.encode(next.value === watchKeepAlive ? '\n' : `${JSON.stringify(next.value)}\n`));
    },
    async cancel() {
      cancelled = true;
      abort.abort();
      await iterator.return?.(undefined);
    },
  });
}

/** After a write: the placements it can affect are asked to sync (an agent's Work report moves its placement's rollout on). */
async function askPlacements(
  rt: Runtime,
  fleetArmId: string,
  hub: HubRef,
  caller: 'user' | 'agent',
  action: HubAction,
  body: KubeObject,
  previous?: KubeObject,
) {
  const fleet = fleetRefOfId(fleetArmId);
  const [plural, subresource] = action.plural.split('/');
  // An export, an exported slice or an import written (by its agent, or by hand): its service's import follows.
  const exported =
    action.group === networkingGroup && !subresource ? hubNetworkingTypes.find((t) => t.plural === plural && !stagedNetworkingKinds.has(t.kind)) : undefined;
  if (exported) {
    // (A delete answers with a Status: the object it deleted says which service.)
    const service = serviceOf(exported.kind, body?.kind === 'Status' ? previous : body);
    if (service) await requestServiceSync(rt.app, fleet, [service]);
    return;
  }
  if (caller === 'agent') {
    const parent = body?.metadata?.labels?.[parentLabel];
    if (plural === 'works' && subresource === 'status' && parent) await requestPlacementSync(rt.app, fleet, [parent]);
    return;
  }
  if (subresource) return;
  // Works written by hand: their member's agent is told, as for the fleet's own (workHints.ts).
  const member = memberOfNamespace(action.namespace);
  if (plural === workType.plural && action.group === workType.group && member)
    await announceWorkChanges(new HubObjects({ store: rt.app.hubStore, now: () => new Date() }, hub), [member]);
  if (action.group === 'cluster.kubernetes-fleet.io') {
    if (plural === 'memberclusters' && action.name) await onMemberChange(rt.app, fleet, hub, action.name, ['labels', 'taints']);
    return;
  }
  const object = body?.kind && body.kind !== 'Status' && !body.kind.endsWith('List') && !body.metadata?.deletionTimestamp ? body : undefined;
  await onHubWrite(rt.app, fleet, hub, { group: action.group, plural, namespace: action.namespace, name: action.name, object });
}

const refusalsLogged = new Map<string, number>();
function logRefusal(context: InvocationContext, why: string) {
  const last = refusalsLogged.get(why);
  if (last !== undefined && Date.now() - last < 60_000) return;
  if (refusalsLogged.size > 100) refusalsLogged.clear();
  refusalsLogged.set(why, Date.now());
  context.warn(`hub: a token was refused: ${why}`);
}

export function hubHandler() {
  return async (req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    try {
      const rt = await runtime();
      let caller: Awaited<ReturnType<Runtime['tokens']['validate']>>;
      try {
        caller = await rt.tokens.validate(req.headers.get('authorization'));
      } catch (e) {
        if (e instanceof ArmError && e.status === 401) {
          // The caller learns no more than kube-apiserver tells; the log says why (once a minute per reason).
          logRefusal(context, e.message);
          throw new HubError(401, 'Unauthorized', 'Unauthorized', undefined, { 'www-authenticate': 'Bearer' });
        }
        throw e;
      }
      const name = req.params.hubName ?? '';
      const record = await hubNamed(rt, name.toLowerCase());
      if (!record) throw new HubError(404, 'NotFound', `the hub "${name.slice(0, 100)}" does not exist (its fleet was deleted, or has no hub)`);
      const url = new URL(req.url);
      const path = (req.params.path ?? '').split('/').filter(Boolean);
      const hub = { name, table: record.table };
      const action = actionOf(req.method, path, url.searchParams);
      const who = await identifyCaller({ deps: rt.app, hub, fleetArmId: record.fleetId, caller, action });
      const review = reviewOf(req.method, path);
      if (!review) {
        if (who.kind === 'agent') authorizeAgent(who.member, caller.principalId ?? caller.id, action);
        else authorizeHub(rt.access, caller, action);
      }
      const declared = Number(req.headers.get('content-length') ?? 0);
      const tooLarge = () => new HubError(413, 'RequestEntityTooLarge', `the request is over ${maxHubRequestBytes} bytes (3 MiB), the most a hub accepts`);
      if (declared > maxHubRequestBytes) throw tooLarge();
      const body = req.method === 'GET' ? undefined : Buffer.from(await req.arrayBuffer());
      if (body && body.length > maxHubRequestBytes) throw tooLarge();
      // Anyone may ask what they may do, and who they are: answered from the checks above, stored nowhere.
      if (review) {
        const reviewer: Reviewer = who.kind === 'agent' ? { kind: 'agent', caller, member: who.member } : { kind: 'user', caller, access: rt.access };
        const object = decodeRequestBody(req.headers.get('content-type') ?? undefined, body);
        if (typeof object !== 'object' || object === null) throw new HubError(400, 'BadRequest', 'the review must be an object');
        return respond(201, answerReview(review, reviewer, object as KubeObject, new Date()), jsonType, { 'cache-control': 'no-cache, private' });
      }
      const abort = new AbortController();
      const call: HubCall = {
        hub,
        method: req.method,
        path,
        query: url.searchParams,
        accept: req.headers.get('accept') ?? undefined,
        contentType: req.headers.get('content-type') ?? undefined,
        body,
        userAgent: req.headers.get('user-agent') ?? undefined,
        host: url.host,
        signal: abort.signal,
      };
      // An agent writes its status and its own exports and imports (authorizeAgent), each naming its
      // own cluster (agentWriteHooks); the fleet's guards are for people.
      const hooks = who.kind === 'agent' ? agentWriteHooks(who.member, caller.principalId ?? caller.id) : fleetWriteHooks(rt.app, record.fleetId);
      const result: HubResult = await handleHubCall({ store: rt.hubs.store, now: () => new Date(), watch: rt.hubs.watch, hooks }, call);
      if (who.kind === 'agent' && !('events' in result) && result.status === 200 && action.plural === 'internalmemberclusters/status' && !dryRun(url)) {
        await agentReported(rt.app, hub, record.fleetId, { ...who, principal: caller.principalId ?? caller.id }, result.previous, result.body as KubeObject);
      }
      if (!('events' in result) && req.method !== 'GET' && result.status < 300 && !dryRun(url))
        await askPlacements(rt, record.fleetId, hub, who.kind, action, result.body as KubeObject, result.previous).catch((e) =>
          // The write stands; the placement resync timer brings the placements up to it.
          context.warn(`hub ${name}: could not ask the placements a write affects to sync: ${(e as Error).message}`),
        );
      if ('events' in result)
        return { status: 200, headers: { 'content-type': jsonType, 'cache-control': 'no-cache, private' }, body: streamOf(result.events, abort, context) };
      return respond(result.status, result.body, result.contentType ?? jsonType, { 'cache-control': 'no-cache, private', ...(result.headers ?? {}) });
    } catch (e) {
      if (e instanceof HubError) return failure(e);
      if (e instanceof HubGone) return failure(new HubError(404, 'NotFound', 'this hub no longer exists: its fleet was deleted'));
      const id = randomUUID();
      context.error(`hub request ${id} ${req.method} ${req.url} failed`, e);
      return failure(new HubError(500, 'InternalError', `an error on the server prevented request ${id} from succeeding`));
    }
  };
}
