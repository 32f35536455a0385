/**
 * The store's HTTP face (docs/api.md). Routes translate between HTTP and the store
 * layer; this file and status.ts are the only places that know about HTTP statuses.
 * No stack trace, body or secret ever reaches a response or the log.
 */
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { KeypostError, isErrorCode } from '../errors.js';
import { fromHex, toHex } from '../bytes/index.js';
import { addressFromText, addressToText } from '../identity/index.js';
import { wellKnownResponse } from '../discovery/index.js';
import { LIMITS } from '../wire/index.js';
import { NotificationBatch, Upload } from '../wire/schema.js';
import { decode } from '../wire/index.js';
import type { Store } from '../store/store.js';
import type { UserRow } from '../storage/types.js';
import { HTTP_STATUS } from './status.js';

const SMALL = 64 * 1024;
const EMPTY = new Uint8Array(0);

function parseId(hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new KeypostError('INVALID_ARGUMENT', 'a message id is 64 lowercase hex digits');
  return fromHex(hex);
}

function json<T>(body: Uint8Array): T {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new KeypostError('INVALID_ARGUMENT', 'body is not JSON');
  }
  // Destructuring null would throw a TypeError (a 500): every JSON body here is an object.
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new KeypostError('INVALID_ARGUMENT', 'body is not a JSON object');
  return v as T;
}

/** Answers fastify and node:http give before any route runs, in the same `{error, message}` form. */
const errorBody = (code: 'INVALID_ARGUMENT' | 'WIRE_TOO_LARGE', detail: string) => JSON.stringify({ error: code, message: `${code}: ${detail}` });

function clientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const big = err.code === 'HPE_HEADER_OVERFLOW';
  const body = big ? errorBody('WIRE_TOO_LARGE', 'request headers exceed the limit') : errorBody('INVALID_ARGUMENT', 'malformed HTTP request');
  const status = big ? '413 Payload Too Large' : '400 Bad Request';
  if (socket.writable) socket.write(`HTTP/1.1 ${status}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy();
}

const bodyOf = (req: FastifyRequest): Uint8Array => (req.body instanceof Uint8Array ? req.body : EMPTY);

export interface AppOptions {
  store: Store;
  /** Log failures (default: to stderr through fastify's logger at level warn). */
  logger?: boolean;
}

export function buildApp({ store, logger = false }: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: logger ? { level: 'warn' } : false,
    bodyLimit: SMALL,
    // A body announced but never sent must not hold a connection forever (64 MiB at 1 MB/s fits).
    requestTimeout: 120_000,
    // Requests that arrive while closing get 503 UNAVAILABLE from the hook below, in our format.
    return503OnClosing: false,
    clientErrorHandler: clientError,
    // node:http would answer a missing Host with a bare 400; the hook below answers it in our format.
    http: { requireHostHeader: false },
    // A URL the router cannot decode, or a path parameter over its length limit.
    frameworkErrors: (_err, _req, reply) => void (reply as unknown as FastifyReply).code(400).type('application/json').send(errorBody('INVALID_ARGUMENT', 'malformed URL')),
  });
  const now = () => store.deps.clock.now();

  // Bodies stay raw bytes: signatures cover the exact bytes received.
  // Any other type is refused (415, INVALID_ARGUMENT), text/plain too: fastify's own parser would
  // make it a string, which the routes would silently read as an empty body.
  app.removeContentTypeParser('text/plain');
  for (const type of ['application/octet-stream', 'application/json']) {
    app.addContentTypeParser(type, { parseAs: 'buffer' }, (_req, body, done) => done(null, new Uint8Array(body as Buffer)));
  }

  app.setErrorHandler((err: unknown, req, reply) => {
    let code: string = 'INTERNAL';
    let message = 'internal error';
    const e = err as { code?: string; message?: string; statusCode?: number; retryAfter?: number };
    if (err instanceof KeypostError) {
      code = err.code;
      message = err.message;
    } else if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      code = 'WIRE_TOO_LARGE';
      message = 'WIRE_TOO_LARGE: body exceeds the limit of this route';
    } else if (e.statusCode && e.statusCode < 500 && typeof e.code === 'string' && e.code.startsWith('FST_')) {
      code = 'INVALID_ARGUMENT';
      message = `INVALID_ARGUMENT: ${e.message ?? 'bad request'}`;
    } else {
      req.log.error({ err: { message: e.message, code: e.code } }, 'unexpected failure');
    }
    const status = isErrorCode(code) ? HTTP_STATUS[code] : 500;
    if (e.retryAfter) void reply.header('retry-after', String(e.retryAfter));
    void reply.code(status).type('application/json').send({ error: code, message });
  });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (req) => {
    if (closing) throw new KeypostError('UNAVAILABLE', 'the store is shutting down');
    if (req.raw.httpVersion === '1.1' && req.headers.host === undefined) throw new KeypostError('INVALID_ARGUMENT', 'an HTTP/1.1 request carries a Host header');
  });
  app.setNotFoundHandler((_req, reply) => void reply.code(404).send({ error: 'NOT_FOUND', message: 'NOT_FOUND: no such route' }));

  const auth = (req: FastifyRequest): UserRow =>
    store.users.authenticate(req.headers.authorization, { method: req.method, path: req.url, body: bodyOf(req) }).user!;

  const bytes = (reply: FastifyReply, b: Uint8Array) => reply.type('application/octet-stream').send(Buffer.from(b.buffer, b.byteOffset, b.length));

  app.get('/v1/health', async () => ({ status: 'ok' }));

  // ---- discovery -------------------------------------------------------------------------

  const serveBundle = (reply: FastifyReply, assertions: Uint8Array[]) => {
    if (assertions.length === 0) throw new KeypostError('NOT_FOUND', 'no current assertions here');
    const r = wellKnownResponse(assertions, now());
    return reply.headers(r.headers).send(Buffer.from(r.body));
  };
  // CORS preflight for the well-known paths (browsers' clients resolve through them).
  app.options('/.well-known/keypost/*', async (_req, reply) =>
    reply.code(204).headers({ 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, OPTIONS', 'access-control-max-age': '86400' }).send(),
  );
  app.get<{ Params: { address: string } }>('/.well-known/keypost/:address', async (req, reply) =>
    serveBundle(reply, store.storage.getAssertions(addressFromText(req.params.address), now())),
  );
  app.get<{ Params: { hash: string } }>('/.well-known/keypost/name/:hash', async (req, reply) => {
    if (!/^[0-9a-f]{56}$/.test(req.params.hash)) throw new KeypostError('INVALID_ARGUMENT', 'a name hash is 56 hex digits');
    return serveBundle(reply, store.storage.getAssertionsByName(req.params.hash, now()));
  });

  // ---- store to store --------------------------------------------------------------------

  app.post('/v1/notifications', { bodyLimit: LIMITS.NOTIFICATION }, async (req, reply) => {
    const r = await store.recipient.accept(bodyOf(req));
    store.wake();
    return reply.code(r === 'accepted' ? 202 : 200).send({ status: r });
  });
  app.post('/v1/notifications/batch', { bodyLimit: NotificationBatch.maxSize }, async (req) => {
    const { notifications } = decode(NotificationBatch, bodyOf(req));
    const results = await store.recipient.acceptMany(notifications);
    store.wake();
    return { results };
  });
  app.post('/v1/fetch', { bodyLimit: 1024 }, async (req, reply) => bytes(reply, await store.sender.serveFetch(bodyOf(req))));
  app.post('/v1/receipts', { bodyLimit: 1024 }, async (req) => {
    await store.sender.acceptReceipt(bodyOf(req));
    return { status: 'confirmed' };
  });
  app.post('/v1/retractions', { bodyLimit: 1024 }, async (req) => ({ status: await store.recipient.acceptRetraction(bodyOf(req)) }));

  // ---- the store's own users ---------------------------------------------------------------

  app.post('/v1/register', async (req, reply) => {
    const { v } = store.users.authenticate(req.headers.authorization, { method: req.method, path: req.url, body: bodyOf(req) }, false);
    const { invite } = json<{ invite?: unknown }>(bodyOf(req));
    if (typeof invite !== 'string') throw new KeypostError('INVALID_ARGUMENT', 'invite must be a string');
    const delegateKey = await store.users.register(v, invite);
    return reply.code(201).send({ address: addressToText(v.user), delegateKey: toHex(delegateKey) });
  });
  app.put('/v1/me/delegate', async (req) => {
    await store.setDelegateCert(auth(req), bodyOf(req));
    return { status: 'ok' };
  });
  app.post('/v1/me/devices', async (req, reply) => reply.code(201).send({ device: toHex(await store.addDevice(auth(req), bodyOf(req))) }));
  app.post('/v1/me/revocations', { bodyLimit: 512 }, async (req) => ({ revoked: toHex(await store.revokeDevice(auth(req), bodyOf(req))) }));
  app.put('/v1/me/assertions', { bodyLimit: 64 * 1024 }, async (req) => ({ stored: await store.putAssertions(auth(req), bodyOf(req)) }));
  app.put('/v1/me/prefetch', async (req) => {
    const user = auth(req);
    const { on } = json<{ on?: unknown }>(bodyOf(req));
    if (typeof on !== 'boolean') throw new KeypostError('INVALID_ARGUMENT', 'on must be a boolean');
    await store.storage.setPrefetch(user.address, on);
    return { status: 'ok' };
  });

  app.post('/v1/messages', { bodyLimit: Upload.maxSize }, async (req, reply) => {
    const r = await store.sender.upload(auth(req), bodyOf(req));
    store.wake();
    return reply.code(r.duplicate ? 200 : 201).send({ id: toHex(r.id), recipients: r.recipients });
  });
  app.get<{ Params: { id: string } }>('/v1/messages/:id', async (req) => store.sender.status(auth(req), parseId(req.params.id)));
  app.delete<{ Params: { id: string } }>('/v1/messages/:id', { bodyLimit: LIMITS.RECIPIENTS * 520 }, async (req) => {
    const withdrawn = await store.sender.unsend(auth(req), parseId(req.params.id), bodyOf(req));
    store.wake();
    return { withdrawn: withdrawn.map(addressToText) };
  });

  app.get<{ Querystring: { since?: string; limit?: string } }>('/v1/inbox', async (req) => {
    const user = auth(req);
    const since = Number(req.query.since ?? 0);
    const limit = Math.min(1000, Number(req.query.limit ?? 100));
    if (!Number.isSafeInteger(since) || since < 0 || !Number.isSafeInteger(limit) || limit < 1) throw new KeypostError('INVALID_ARGUMENT', 'since and limit are non-negative integers');
    const items = store.storage.listInbox(user.address, since, limit).map((i) => ({
      seq: i.seq,
      id: toHex(i.id),
      sender: addressToText(i.sender),
      senderStore: i.senderStore,
      size: i.size,
      received: i.received,
      state: i.state,
      notification: Buffer.from(i.notification).toString('base64url'),
    }));
    return { items, next: items.length ? items[items.length - 1]!.seq : since };
  });
  // Inbox items are addressed by their seq number (as listed), like IMAP UIDs.
  const seqOf = (s: string) => {
    if (!/^[1-9][0-9]{0,15}$/.test(s) || !Number.isSafeInteger(Number(s))) throw new KeypostError('INVALID_ARGUMENT', 'an inbox item is named by its seq number');
    return Number(s);
  };
  const inboxItem = (user: UserRow, seq: string) => {
    const row = store.storage.getInbox(user.address, seqOf(seq));
    if (!row || row.state === 'deleted') throw new KeypostError('NOT_FOUND', 'no such message in your inbox');
    if (row.state === 'retracted') throw new KeypostError('GONE', 'the sender withdrew this message');
    return row;
  };
  app.get<{ Params: { seq: string } }>('/v1/inbox/:seq', async (req, reply) => {
    const user = auth(req);
    const row = inboxItem(user, req.params.seq);
    const env = store.storage.getInboxEnvelope(user.address, row.seq) ?? (await store.recipient.fetchNow(user, row));
    return bytes(reply, env);
  });
  app.post<{ Params: { seq: string } }>('/v1/inbox/:seq/confirm', async (req) => {
    const user = auth(req);
    let row = inboxItem(user, req.params.seq);
    if (row.state === 'notified') {
      await store.recipient.fetchNow(user, row);
      row = inboxItem(user, req.params.seq);
    }
    if (!row.receiptSent) await store.recipient.sendReceipt(user, row);
    return { status: 'confirmed' };
  });
  app.delete<{ Params: { seq: string } }>('/v1/inbox/:seq', async (req) => {
    const user = auth(req);
    if (!(await store.storage.deleteInbox(user.address, seqOf(req.params.seq)))) throw new KeypostError('NOT_FOUND', 'no such message in your inbox');
    return { status: 'deleted' };
  });
  app.post<{ Params: { seq: string } }>('/v1/inbox/:seq/report', async (req, reply) => {
    const user = auth(req);
    const row = inboxItem(user, req.params.seq);
    const url = store.deps.config.reportUrl;
    if (!url || !store.deps.peers.report) throw new KeypostError('NOT_FOUND', 'this store has no report address');
    const r = await store.deps.peers.report(url, row.notification, store.storage.getInboxEnvelope(user.address, row.seq)).catch(() => {
      throw new KeypostError('UNAVAILABLE', 'the report address could not be reached');
    });
    if (r.status >= 300) throw new KeypostError('UNAVAILABLE', `the report address answered ${r.status}`);
    return reply.code(202).send({ status: 'reported' });
  });

  const blockOf = (body: Uint8Array) => {
    const { sender, store: origin } = json<{ sender?: unknown; store?: unknown }>(body);
    if (sender === undefined && origin === undefined) throw new KeypostError('INVALID_ARGUMENT', 'name a sender, a store, or both');
    if (sender !== undefined && typeof sender !== 'string') throw new KeypostError('INVALID_ARGUMENT', 'sender is an address');
    if (origin !== undefined && (typeof origin !== 'string' || origin === '')) throw new KeypostError('INVALID_ARGUMENT', 'store is an origin');
    // Storage reads an absent sender or store as "any": an empty one must not become that.
    return { ...(sender !== undefined ? { sender: addressFromText(sender as string) } : {}), ...(origin !== undefined ? { store: origin as string } : {}) };
  };
  app.post('/v1/blocks', async (req) => {
    await store.storage.addBlock(auth(req).address, blockOf(bodyOf(req)));
    return { status: 'blocked' };
  });
  app.delete('/v1/blocks', async (req) => {
    await store.storage.removeBlock(auth(req).address, blockOf(bodyOf(req)));
    return { status: 'unblocked' };
  });
  app.post('/v1/contacts', async (req) => {
    const user = auth(req);
    const { address } = json<{ address?: unknown }>(bodyOf(req));
    if (typeof address !== 'string') throw new KeypostError('INVALID_ARGUMENT', 'address is a kp1… text');
    await store.storage.addContact(user.address, addressFromText(address));
    return { status: 'ok' };
  });

  return app;
}
