// A local Service Bus endpoint for the real @azure/service-bus client (AMQP 1.0 over rhea), with
// the queue behaviour our code relies on: sessions, peek-lock, complete/abandon/dead-letter/defer,
// delivery counts and max delivery count, scheduled messages, duplicate detection by message id,
// lock renewal, TTL. Queues come from the same definitions infra/ deploys (shared/config.ts).
// Protocol facts it depends on are in ../shared/reference/servicebus-local.md.
import { randomUUID } from 'node:crypto';
import type { AddressInfo, Server } from 'node:net';
import rhea from 'rhea';
import type { QueueDefinition } from '../../shared/config.js';
import { startOnThread, type ThreadLoad } from '../threads.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rhea's runtime objects are loosely typed */
type Link = any;
type Delivery = any;
type AmqpMessage = any;

const { types } = rhea;
const outcomes = rhea.message as any;
const BATCH_FORMAT = 0x80013700;
const DLQ_SUFFIX = '/$deadletterqueue';
const SESSION_FILTER = 'com.microsoft:session-filter';

interface Stored {
  seq: number;
  messageId: string;
  sessionId?: string;
  enqueuedAt: Date;
  expiresAt: number;
  visibleAt: number;
  deliveries: number;
  state: 'active' | 'locked' | 'scheduled' | 'deferred';
  lockKey?: string;
  lockedUntil?: number;
  receiver?: Receiver;
  message: AmqpMessage;
}

interface SessionState {
  id: string;
  owner?: Receiver;
  lockedUntil: number;
  state: Buffer | null;
}

interface Receiver {
  link: Link;
  queue: Queue;
  sessionId?: string;
  receiveAndDelete: boolean;
}

interface Waiter {
  link: Link;
  queue: Queue;
  receiveAndDelete: boolean;
  timer: NodeJS.Timeout;
}

class Queue {
  readonly messages = new Map<number, Stored>();
  readonly sessions = new Map<string, SessionState>();
  readonly seen = new Map<string, number>();
  readonly receivers = new Set<Receiver>();
  readonly waiters: Waiter[] = [];
  deadLetter?: Queue;
  constructor(
    readonly name: string,
    readonly def: Pick<
      QueueDefinition,
      | 'requiresSession'
      | 'lockDurationSeconds'
      | 'maxDeliveryCount'
      | 'duplicateDetectionWindowSeconds'
      | 'defaultMessageTimeToLiveSeconds'
      | 'deadLetteringOnMessageExpiration'
    >,
  ) {}
  get lockMs() {
    return this.def.lockDurationSeconds * 1000;
  }
  /** The next message a receiver may take, in sequence order. */
  next(sessionId: string | undefined, now: number): Stored | undefined {
    let best: Stored | undefined;
    for (const m of this.messages.values()) {
      if (m.state !== 'active' || m.visibleAt > now) continue;
      if (this.def.requiresSession && m.sessionId !== sessionId) continue;
      if (!best || m.seq < best.seq) best = m;
    }
    return best;
  }
  /** A session with messages that no receiver holds. */
  freeSession(now: number): string | undefined {
    let best: Stored | undefined;
    for (const m of this.messages.values()) {
      if (m.state !== 'active' || m.visibleAt > now || m.sessionId === undefined) continue;
      const s = this.sessions.get(m.sessionId);
      if (s?.owner && s.lockedUntil > now) continue;
      if (!best || m.seq < best.seq) best = m;
    }
    return best?.sessionId;
  }
}

export interface ServiceBusEmulator {
  port: number;
  connectionString: string;
  /** Messages waiting in a queue (or `queue/$deadletterqueue`), for tests and diagnostics. */
  /** Messages accepted from senders (duplicates included) and deliveries made, since start. */
  stats(): { received: number; duplicates: number; delivered: number };
  peek(queue: string): { messageId: string; sessionId?: string; deliveryCount: number; body: unknown; applicationProperties: Record<string, unknown> }[];
  close(): Promise<void>;
}

// The SDK reorders a lock token's first three groups (the .NET GUID layout) when it turns the
// delivery tag into a string and back; index locks by the bytes it will send on $management.
const reorder = (b: Buffer) =>
  Buffer.concat([Buffer.from(b.subarray(0, 4)).reverse(), Buffer.from(b.subarray(4, 6)).reverse(), Buffer.from(b.subarray(6, 8)).reverse(), b.subarray(8)]);

const ticks = (ms: number) => {
  const buf = Buffer.alloc(8);
  buf.writeBigInt64BE(BigInt(ms) * 10000n + 621355968000000000n);
  return types.wrap_long(buf);
};
const longBuf = (n: number) => {
  const buf = Buffer.alloc(8);
  buf.writeBigInt64BE(BigInt(n));
  return buf;
};
const toNumber = (v: unknown): number => (Buffer.isBuffer(v) ? Number(v.readBigInt64BE()) : Number(v));

function decodeBody(message: AmqpMessage): unknown {
  const body = message.body;
  const bytes = body && typeof body === 'object' && 'content' in body ? body.content : body;
  if (Buffer.isBuffer(bytes)) {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      return bytes.toString('utf8');
    }
  }
  return bytes;
}

/** The same endpoint on a worker thread (only from compiled code: the thread loads dist/local/servicebus/thread.js). */
export async function startServiceBusEmulatorThread(options: {
  queues: QueueDefinition[];
  port?: number;
  load?: ThreadLoad;
}): Promise<Omit<ServiceBusEmulator, 'peek'> & { counters: SharedArrayBuffer }> {
  const counters = new SharedArrayBuffer(12);
  const thread = await startOnThread<{ port: number; connectionString: string }>(new URL('./thread.js', import.meta.url), {
    queues: options.queues,
    port: options.port ?? 0,
    counters,
    load: options.load,
  });
  const c = new Int32Array(counters);
  return {
    ...thread.ready,
    counters,
    // Published every 50 ms by the thread: a reading may lag by that much.
    stats: () => ({ received: Atomics.load(c, 0), duplicates: Atomics.load(c, 1), delivered: Atomics.load(c, 2) }),
    close: thread.close,
  };
}

export async function startServiceBusEmulator(options: { queues: QueueDefinition[]; port?: number; host?: string }): Promise<ServiceBusEmulator> {
  const queues = new Map<string, Queue>();
  for (const def of options.queues) {
    const q = new Queue(def.name, def);
    q.deadLetter = new Queue(`${def.name}${DLQ_SUFFIX}`, { ...def, requiresSession: false });
    queues.set(def.name.toLowerCase(), q);
    queues.set(q.deadLetter.name.toLowerCase(), q.deadLetter);
  }
  let nextSeq = 1;
  const counts = { received: 0, duplicates: 0, delivered: 0 };
  const locks = new Map<string, Stored>();
  const deliveries = new WeakMap<Delivery, { m: Stored; lockKey: string }>();
  const container = rhea.create_container({ id: 'fleet-manager-servicebus-emulator', autoaccept: false });

  const queueOf = (address: string | undefined): Queue | undefined => {
    if (!address) return undefined;
    const path = address
      .replace(/^amqps?:\/\/[^/]+\//, '')
      .replace(/\/\$management$/i, '')
      .toLowerCase();
    return queues.get(path);
  };

  // ---- storing and moving messages -------------------------------------------------------------

  const enqueue = (q: Queue, message: AmqpMessage, now = Date.now()): number | undefined => {
    if (message.message_id === undefined || message.message_id === null) message.message_id = randomUUID().replaceAll('-', '');
    const messageId = String(message.message_id);
    counts.received++;
    const window = q.def.duplicateDetectionWindowSeconds * 1000;
    if (window > 0) {
      const seenUntil = q.seen.get(messageId);
      if (seenUntil !== undefined && seenUntil > now) {
        counts.duplicates++;
        return undefined;
      }
      q.seen.set(messageId, now + window);
    }
    const annotations = message.message_annotations ?? {};
    const scheduled = annotations['x-opt-scheduled-enqueue-time'];
    const visibleAt = scheduled instanceof Date ? scheduled.getTime() : now;
    const ttl = message.ttl ?? (message.absolute_expiry_time instanceof Date ? message.absolute_expiry_time.getTime() - now : undefined);
    const seq = nextSeq++;
    q.messages.set(seq, {
      seq,
      messageId,
      sessionId: message.group_id ?? undefined,
      enqueuedAt: new Date(Math.max(now, visibleAt)),
      expiresAt: Math.max(now, visibleAt) + (ttl ?? q.def.defaultMessageTimeToLiveSeconds * 1000),
      visibleAt,
      deliveries: 0,
      state: visibleAt > now ? 'scheduled' : 'active',
      message,
    });
    if (visibleAt > now) setTimeout(() => pump(q), visibleAt - now + 5).unref();
    else pump(q);
    return seq;
  };

  const unlock = (m: Stored) => {
    if (m.lockKey) locks.delete(m.lockKey);
    m.lockKey = undefined;
    m.lockedUntil = undefined;
    m.receiver = undefined;
  };

  const deadLetter = (q: Queue, m: Stored, reason: string, description: string, extra: Record<string, unknown> = {}) => {
    unlock(m);
    q.messages.delete(m.seq);
    if (!q.deadLetter) return;
    const copy = {
      ...m.message,
      application_properties: { ...(m.message.application_properties ?? {}), DeadLetterReason: reason, DeadLetterErrorDescription: description, ...extra },
    };
    copy.message_annotations = { ...(copy.message_annotations ?? {}), 'x-opt-deadletter-source': q.name };
    q.deadLetter.messages.set(m.seq, { ...m, message: copy, state: 'active', visibleAt: 0, expiresAt: Number.MAX_SAFE_INTEGER, deliveries: m.deliveries });
    pump(q.deadLetter);
  };

  const settle = (q: Queue, m: Stored, outcome: 'complete' | 'abandon' | 'defer' | 'deadletter', info: Record<string, unknown> = {}) => {
    if (outcome === 'complete') {
      unlock(m);
      q.messages.delete(m.seq);
    } else if (outcome === 'defer') {
      unlock(m);
      m.state = 'deferred';
    } else if (outcome === 'deadletter') {
      deadLetter(q, m, String(info.DeadLetterReason ?? ''), String(info.DeadLetterErrorDescription ?? ''));
    } else {
      unlock(m);
      if (info.annotations && typeof info.annotations === 'object')
        m.message.message_annotations = { ...(m.message.message_annotations ?? {}), ...(info.annotations as object) };
      if (m.deliveries >= q.def.maxDeliveryCount) {
        deadLetter(q, m, 'MaxDeliveryCountExceeded', `Message could not be consumed after ${q.def.maxDeliveryCount} delivery attempts.`);
      } else {
        m.state = 'active';
      }
    }
    pump(q);
  };

  // ---- delivering ------------------------------------------------------------------------------

  const deliver = (r: Receiver, m: Stored) => {
    const q = r.queue;
    const now = Date.now();
    m.deliveries += 1;
    counts.delivered++;
    const tag = Buffer.from(randomUUID().replaceAll('-', ''), 'hex');
    const session = r.sessionId !== undefined ? q.sessions.get(r.sessionId) : undefined;
    const lockedUntil = session ? session.lockedUntil : now + q.lockMs;
    const out = {
      ...m.message,
      // AMQP's delivery-count is the number of earlier delivery attempts.
      delivery_count: m.deliveries - 1,
      message_annotations: {
        ...(m.message.message_annotations ?? {}),
        'x-opt-sequence-number': types.wrap_long(longBuf(m.seq)),
        'x-opt-enqueued-time': m.enqueuedAt,
        ...(r.receiveAndDelete ? {} : { 'x-opt-locked-until': new Date(lockedUntil) }),
      },
    };
    delete out.message_annotations['x-opt-scheduled-enqueue-time'];
    if (r.receiveAndDelete) {
      q.messages.delete(m.seq);
      r.link.send(out, tag);
      return;
    }
    m.state = 'locked';
    m.lockKey = reorder(tag).toString('hex');
    m.lockedUntil = lockedUntil;
    m.receiver = r;
    locks.set(m.lockKey, m);
    const d = r.link.send(out, tag);
    deliveries.set(d, { m, lockKey: m.lockKey });
  };

  const pump = (q: Queue) => {
    const now = Date.now();
    if (q.def.requiresSession) {
      while (q.waiters.length > 0) {
        const sessionId = q.freeSession(now);
        if (sessionId === undefined) break;
        const w = q.waiters.shift()!;
        clearTimeout(w.timer);
        openSession(w.link, q, sessionId, w.receiveAndDelete);
      }
    }
    for (const r of q.receivers) {
      // Only the session's current owner receives: a receiver whose session lock lapsed keeps nothing.
      if (q.def.requiresSession && (r.sessionId === undefined || q.sessions.get(r.sessionId)?.owner !== r)) continue;
      while (r.link.sendable()) {
        const m = q.next(r.sessionId, now);
        if (!m) break;
        deliver(r, m);
      }
    }
  };

  const releaseReceiver = (r: Receiver) => {
    r.queue.receivers.delete(r);
    for (const m of r.queue.messages.values()) {
      if (m.receiver === r && m.state === 'locked') settle(r.queue, m, 'abandon');
    }
    if (r.sessionId !== undefined) {
      const s = r.queue.sessions.get(r.sessionId);
      if (s?.owner === r) s.owner = undefined;
    }
    pump(r.queue);
  };

  const openSession = (link: Link, q: Queue, sessionId: string, receiveAndDelete: boolean) => {
    const s = q.sessions.get(sessionId) ?? { id: sessionId, lockedUntil: 0, state: null };
    const r: Receiver = { link, queue: q, sessionId, receiveAndDelete };
    s.owner = r;
    s.lockedUntil = Date.now() + q.lockMs;
    q.sessions.set(sessionId, s);
    link.set_source({ address: q.name, filter: { [SESSION_FILTER]: sessionId } });
    link.local.attach.properties = { 'com.microsoft:locked-until-utc': ticks(s.lockedUntil) };
    link.__receiver = r;
    q.receivers.add(r);
    if (!link.state.local_open) link.open();
    pump(q);
  };

  const refuseAttach = (link: Link, condition: string, description: string) => {
    link.local.attach.source = null;
    link.local.attach.target = null;
    if (!link.state.local_open) link.open();
    link.close({ condition, description });
  };

  // ---- link attach -----------------------------------------------------------------------------

  container.on('sender_open', (ctx: any) => {
    const link: Link = ctx.sender;
    const source = link.remote.attach.source ?? {};
    const address: string = source.address ?? '';
    link.set_target(link.remote.attach.target ?? {});
    if (address === '$cbs' || address.endsWith('/$management') || address === '$management') {
      link.set_source({ address });
      return;
    }
    const q = queueOf(address);
    const receiveAndDelete = link.remote.attach.snd_settle_mode === 1;
    link.local.attach.snd_settle_mode = link.remote.attach.snd_settle_mode;
    link.local.attach.rcv_settle_mode = link.remote.attach.rcv_settle_mode;
    if (!q) return refuseAttach(link, 'amqp:not-found', `The messaging entity '${address}' could not be found.`);
    const filter = source.filter;
    const wantsSession = filter && Object.hasOwn(filter, SESSION_FILTER);
    if (!q.def.requiresSession) {
      if (wantsSession) return refuseAttach(link, 'amqp:not-allowed', `'${q.name}' is not a session-enabled entity.`);
      link.set_source({ address: q.name });
      const r: Receiver = { link, queue: q, receiveAndDelete };
      link.__receiver = r;
      q.receivers.add(r);
      return;
    }
    if (!wantsSession) return refuseAttach(link, 'amqp:not-allowed', `'${q.name}' requires sessions; receive with acceptSession or acceptNextSession.`);
    const requested = filter[SESSION_FILTER];
    const now = Date.now();
    if (requested !== undefined && requested !== null) {
      const s = q.sessions.get(String(requested));
      if (s?.owner && s.lockedUntil > now)
        return refuseAttach(
          link,
          'com.microsoft:session-cannot-be-locked',
          `The requested session '${requested}' cannot be accepted. It may be locked by another receiver.`,
        );
      return openSession(link, q, String(requested), receiveAndDelete);
    }
    const free = q.freeSession(now);
    if (free !== undefined) return openSession(link, q, free, receiveAndDelete);
    // No session has messages: hold the attach, as Service Bus does, until one does or the client's timeout nears.
    link.state.local_open = false;
    link.state.open_requests--;
    const clientTimeout = Number(link.remote.attach.properties?.['com.microsoft:timeout'] ?? 60000);
    const w: Waiter = {
      link,
      queue: q,
      receiveAndDelete,
      timer: setTimeout(
        () => {
          const i = q.waiters.indexOf(w);
          if (i >= 0) q.waiters.splice(i, 1);
          refuseAttach(link, 'com.microsoft:timeout', 'No unlocked session with messages was available within the timeout.');
        },
        Math.max(100, clientTimeout - 500),
      ),
    };
    w.timer.unref();
    q.waiters.push(w);
  });

  container.on('receiver_open', (ctx: any) => {
    const link: Link = ctx.receiver;
    const address: string = link.remote.attach.target?.address ?? '';
    link.set_source(link.remote.attach.source ?? {});
    link.set_target({ address });
    // A sender needs max_message_size on our attach, or createMessageBatch() builds an unusable batch.
    link.local.attach.max_message_size = 262144;
    if (address === '$cbs' || address.endsWith('$management')) return;
    if (!queueOf(address) || address.toLowerCase().endsWith(DLQ_SUFFIX))
      refuseAttach(link, 'amqp:not-found', `The messaging entity '${address}' could not be found.`);
  });

  container.on('sendable', (ctx: any) => {
    const r: Receiver | undefined = ctx.sender.__receiver;
    if (r) pump(r.queue);
  });

  container.on('sender_draining', (ctx: any) => {
    const r: Receiver | undefined = ctx.sender.__receiver;
    if (r) pump(r.queue);
    ctx.sender.set_drained(true);
  });

  const onLinkGone = (ctx: any) => {
    const link = ctx.sender ?? ctx.receiver;
    const r: Receiver | undefined = link?.__receiver;
    if (r) {
      link.__receiver = undefined;
      releaseReceiver(r);
    }
    for (const q of queues.values()) {
      const i = q.waiters.findIndex((w) => w.link === link);
      if (i >= 0) {
        clearTimeout(q.waiters[i].timer);
        q.waiters.splice(i, 1);
      }
    }
  };
  container.on('sender_close', onLinkGone);
  // The connection's waiting accepts go first: releasing its sessions hands them to waiters, and
  // one of that same dead connection would take a session to a receiver that is gone (it stayed
  // locked until its lock ran out, and each kill of a busy host stalled its fleets for that long).
  const onConnectionGone = (ctx: any) => {
    for (const q of queues.values()) {
      for (const w of [...q.waiters]) if (w.link.connection === ctx.connection) onLinkGone({ sender: w.link });
      for (const r of [...q.receivers]) if (r.link.connection === ctx.connection) onLinkGone({ sender: r.link });
    }
  };
  container.on('connection_close', onConnectionGone);
  container.on('disconnected', onConnectionGone);
  container.on('error', () => undefined);

  // ---- settlement over the link ----------------------------------------------------------------

  const settledByUs = (d: Delivery, outcome: unknown) => {
    d.update(true, outcome);
    // rhea frees an outgoing delivery only when both ends settled; the SDK never settles its side.
    d.remote_settled = true;
  };

  const lockLost = () =>
    outcomes
      .rejected({
        error: {
          condition: 'com.microsoft:message-lock-lost',
          description: 'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
        },
      })
      .described();

  /** The message a settlement is for, while this delivery still holds its lock; otherwise answers lock-lost. */
  const heldBy = (d: Delivery): Stored | undefined => {
    const entry = deliveries.get(d);
    if (!entry) return undefined;
    deliveries.delete(d);
    const { m, lockKey } = entry;
    const q = m.receiver?.queue;
    const session = q && m.sessionId !== undefined ? q.sessions.get(m.sessionId) : undefined;
    const lockedUntil = session ? session.lockedUntil : (m.lockedUntil ?? 0);
    if (m.state !== 'locked' || m.lockKey !== lockKey || lockedUntil < Date.now()) {
      settledByUs(d, lockLost());
      return undefined;
    }
    return m;
  };

  container.on('accepted', (ctx: any) => {
    const m = heldBy(ctx.delivery);
    if (!m) return;
    settle(m.receiver!.queue, m, 'complete');
    settledByUs(ctx.delivery, outcomes.accepted().described());
  });

  container.on('modified', (ctx: any) => {
    const m = heldBy(ctx.delivery);
    if (!m) return;
    const state = ctx.delivery.remote_state ?? {};
    settle(m.receiver!.queue, m, state.undeliverable_here ? 'defer' : 'abandon', { annotations: state.message_annotations });
    settledByUs(ctx.delivery, outcomes.accepted().described());
  });

  // rhea raises 'released' after 'modified' too; by then the delivery is no longer in the map.
  container.on('released', (ctx: any) => {
    const m = heldBy(ctx.delivery);
    if (!m) return;
    settle(m.receiver!.queue, m, 'abandon');
    settledByUs(ctx.delivery, outcomes.accepted().described());
  });

  container.on('rejected', (ctx: any) => {
    const m = heldBy(ctx.delivery);
    if (!m) return;
    const info = ctx.delivery.remote_state?.error?.info ?? {};
    settle(m.receiver!.queue, m, 'deadletter', info);
    // Answer with accepted: echoing the client's rejected outcome makes deadLetterMessage() fail.
    settledByUs(ctx.delivery, outcomes.accepted().described());
  });

  // ---- incoming messages: sends, $cbs and $management ------------------------------------------

  const replyLink = (connection: any, name: string) => {
    for (const session of connection.local_channel_map ? Object.values(connection.local_channel_map) : []) {
      for (const l of Object.values((session as any).links ?? {})) {
        const link = l as Link;
        if (link.is_sender() && (link.name === name || link.remote.attach?.target?.address === name)) return link;
      }
    }
    return undefined;
  };

  container.on('message', (ctx: any) => {
    const link: Link = ctx.receiver;
    const address: string = link.remote.attach.target?.address ?? '';
    if (address === '$cbs') {
      ctx.delivery.accept();
      const req = ctx.message;
      replyLink(ctx.connection, req.reply_to)?.send({
        correlation_id: req.message_id,
        application_properties: { 'status-code': 202, 'status-description': 'Accepted' },
      });
      return;
    }
    if (address.endsWith('$management')) {
      ctx.delivery.accept();
      const req = ctx.message;
      const reply = management(queueOf(address), req);
      replyLink(ctx.connection, req.reply_to)?.send({
        correlation_id: req.message_id,
        application_properties: {
          statusCode: reply.status,
          statusDescription: reply.description ?? 'OK',
          ...(reply.condition ? { errorCondition: reply.condition } : {}),
        },
        ...(reply.body !== undefined ? { body: reply.body } : {}),
      });
      return;
    }
    const q = queueOf(address);
    if (!q) return ctx.delivery.reject({ condition: 'amqp:not-found', description: `The messaging entity '${address}' could not be found.` });
    const batch: AmqpMessage[] = [];
    if (ctx.delivery.format === BATCH_FORMAT) {
      const envelope = rhea.message.decode(ctx.message);
      const sections = envelope.body?.multiple ? envelope.body.content : [envelope.body?.content ?? envelope.body];
      for (const s of sections) batch.push(rhea.message.decode(s));
    } else {
      batch.push(ctx.message);
    }
    if (q.def.requiresSession && batch.some((m) => m.group_id === undefined || m.group_id === null)) {
      return ctx.delivery.reject({
        condition: 'amqp:not-allowed',
        description: `The SessionId was not set on a message, and it cannot be sent to the session-enabled entity '${q.name}'.`,
      });
    }
    for (const m of batch) enqueue(q, m);
    ctx.delivery.accept();
  });

  interface Reply {
    status: number;
    description?: string;
    condition?: string;
    body?: unknown;
  }

  const management = (q: Queue | undefined, req: AmqpMessage): Reply => {
    const op = req.application_properties?.operation;
    const body = req.body ?? {};
    if (!q) return { status: 404, condition: 'amqp:not-found', description: 'entity not found' };
    const now = Date.now();
    switch (op) {
      case 'com.microsoft:renew-lock': {
        const expirations: Date[] = [];
        for (const token of body['lock-tokens'] ?? []) {
          const m = locks.get(Buffer.from(token).toString('hex'));
          if (!m || (m.lockedUntil ?? 0) < now)
            return { status: 410, condition: 'com.microsoft:message-lock-lost', description: 'The lock supplied is invalid.' };
          m.lockedUntil = now + q.lockMs;
          expirations.push(new Date(m.lockedUntil));
        }
        return {
          status: 200,
          body: {
            expirations: types.wrap_array(
              expirations.map((d) => d.getTime()),
              0x83,
              undefined,
            ),
          },
        };
      }
      case 'com.microsoft:renew-session-lock': {
        const s = q.sessions.get(String(body['session-id']));
        if (!s?.owner || s.lockedUntil < now)
          return { status: 410, condition: 'com.microsoft:session-lock-lost', description: 'The session lock has expired.' };
        s.lockedUntil = now + q.lockMs;
        for (const m of q.messages.values()) if (m.sessionId === s.id && m.state === 'locked') m.lockedUntil = s.lockedUntil;
        return { status: 200, body: { expiration: new Date(s.lockedUntil) } };
      }
      case 'com.microsoft:get-session-state':
        return { status: 200, body: { 'session-state': q.sessions.get(String(body['session-id']))?.state ?? null } };
      case 'com.microsoft:set-session-state': {
        const id = String(body['session-id']);
        const s = q.sessions.get(id) ?? { id, lockedUntil: 0, state: null };
        s.state = body['session-state'] ?? null;
        q.sessions.set(id, s);
        return { status: 200, body: {} };
      }
      case 'com.microsoft:schedule-message': {
        const seqs: Buffer[] = [];
        for (const entry of body.messages ?? []) {
          const m = rhea.message.decode(entry.message);
          if (entry['session-id'] !== undefined) m.group_id = entry['session-id'];
          if (q.def.requiresSession && (m.group_id === undefined || m.group_id === null))
            return { status: 400, condition: 'amqp:not-allowed', description: 'A scheduled message for a session-enabled entity needs a SessionId.' };
          const seq = enqueue(q, m);
          seqs.push(longBuf(seq ?? 0));
        }
        return { status: 200, body: { 'sequence-numbers': types.wrap_array(seqs, 0x81, undefined) } };
      }
      case 'com.microsoft:cancel-scheduled-message': {
        for (const s of body['sequence-numbers'] ?? []) {
          const m = q.messages.get(toNumber(s));
          if (m?.state === 'scheduled') q.messages.delete(m.seq);
        }
        return { status: 200, body: {} };
      }
      case 'com.microsoft:peek-message': {
        const from = toNumber(body['from-sequence-number'] ?? 0);
        const count = Number(body['message-count'] ?? 1);
        const sessionId = body['session-id'];
        const found = [...q.messages.values()]
          .filter((m) => m.seq >= from && (sessionId === undefined || m.sessionId === sessionId))
          .sort((a, b) => a.seq - b.seq)
          .slice(0, count);
        if (found.length === 0) return { status: 204, description: 'No Content' };
        return {
          status: 200,
          body: {
            messages: found.map((m) => ({
              message: rhea.message.encode({
                ...m.message,
                delivery_count: Math.max(0, m.deliveries),
                message_annotations: {
                  ...(m.message.message_annotations ?? {}),
                  'x-opt-sequence-number': types.wrap_long(longBuf(m.seq)),
                  'x-opt-enqueued-time': m.enqueuedAt,
                  ...(m.state === 'deferred' ? { 'x-opt-message-state': 1 } : m.state === 'scheduled' ? { 'x-opt-message-state': 2 } : {}),
                },
              }),
            })),
          },
        };
      }
      case 'com.microsoft:update-disposition': {
        const status = String(body['disposition-status']);
        for (const token of body['lock-tokens'] ?? []) {
          const m = locks.get(Buffer.from(token).toString('hex'));
          if (!m) return { status: 410, condition: 'com.microsoft:message-lock-lost', description: 'The lock supplied is invalid.' };
          const outcome = status === 'completed' ? 'complete' : status === 'suspended' ? 'deadletter' : status === 'defered' ? 'defer' : 'abandon';
          settle(q, m, outcome, { DeadLetterReason: body['deadletter-reason'], DeadLetterErrorDescription: body['deadletter-description'] });
        }
        return { status: 200, body: {} };
      }
      default:
        return { status: 501, condition: 'amqp:not-implemented', description: `${op} is not implemented by the local Service Bus emulator.` };
    }
  };

  // ---- time: lock expiry, session lock loss, TTL ------------------------------------------------

  const sweep = setInterval(() => {
    const now = Date.now();
    const seen = new Set<Queue>();
    for (const q of queues.values()) {
      if (seen.has(q)) continue;
      seen.add(q);
      for (const s of q.sessions.values()) {
        if (s.owner && s.lockedUntil < now) {
          const owner = s.owner;
          s.owner = undefined;
          owner.link.__receiver = undefined;
          owner.link.close({ condition: 'com.microsoft:session-lock-lost', description: `The session lock for session '${s.id}' has expired.` });
          releaseReceiver(owner);
        }
      }
      for (const m of [...q.messages.values()]) {
        if (m.state === 'locked' && m.sessionId === undefined && (m.lockedUntil ?? 0) < now) settle(q, m, 'abandon');
        else if (m.state === 'scheduled' && m.visibleAt <= now) {
          m.state = 'active';
          pump(q);
        } else if (m.state === 'active' && m.expiresAt < now) {
          if (q.def.deadLetteringOnMessageExpiration) deadLetter(q, m, 'TTLExpiredException', 'The message expired and was dead lettered.');
          else q.messages.delete(m.seq);
        }
      }
      for (const [id, until] of q.seen) if (until < now) q.seen.delete(id);
    }
  }, 250);
  sweep.unref();

  const server: Server = container.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    connectionString: `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=local-emulator-key;UseDevelopmentEmulator=true;`,
    stats: () => ({ ...counts }),
    peek(name) {
      const q = queues.get(name.toLowerCase());
      if (!q) return [];
      return [...q.messages.values()]
        .sort((a, b) => a.seq - b.seq)
        .map((m) => ({
          messageId: m.messageId,
          sessionId: m.sessionId,
          deliveryCount: m.deliveries,
          body: decodeBody(m.message),
          applicationProperties: { ...(m.message.application_properties ?? {}) },
        }));
    },
    async close() {
      clearInterval(sweep);
      for (const q of queues.values()) for (const w of q.waiters) clearTimeout(w.timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
