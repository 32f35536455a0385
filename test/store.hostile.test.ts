/**
 * Hostile input against running stores (issue point 7): real HTTP on 127.0.0.1, real
 * SQLite files in a temporary folder. Oversize, malformed, replayed, forged, wrong-store,
 * expired and rolled-back input on every route, each answered with its exact error code
 * and the HTTP status docs/api.md gives it. Every error answer seen here, through fetch
 * or a raw socket, is also checked to be `{error, message}` and nothing else: a code
 * from ERROR_CODES, its status, no stack, no file path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { concat, toHex, utf8 } from '../src/bytes/index.js';
import { StoreClient } from '../src/client/store-client.js';
import { crypto, systemRandom } from '../src/crypto/index.js';
import { wellKnownResponse } from '../src/discovery/index.js';
import { isErrorCode, type ErrorCode } from '../src/errors.js';
import { addressToText, SigningKey } from '../src/identity/index.js';
import {
  certifySubkey,
  LABELS,
  makeAssertion,
  makeFetchRequest,
  makeNotification,
  makeReceipt,
  makeRequestAuth,
  makeRetraction,
  PURPOSE,
  sealEnvelope,
  subkeySigner,
  identitySigner,
  type AssertionContent,
  type Signer,
} from '../src/protocol/index.js';
import { signBytes } from '../src/protocol/signed.js';
import { startStore, type RunningStore } from '../src/server/server.js';
import { HTTP_STATUS } from '../src/server/status.js';
import type { StoreConfig } from '../src/store/ports.js';
import { decode, encode, LIMITS, type StructT } from '../src/wire/index.js';
import {
  Assertion,
  AssertionBody,
  AssertionBundle,
  FetchRequest,
  FetchRequestBody,
  Notification,
  NotificationBatch,
  NotificationBody,
  Receipt,
  RequestAuth,
  RequestAuthBody,
  Retraction,
  RetractionList,
  SubkeyCert,
  Upload,
  type NotificationBody as NoteBody,
  type Signed,
} from '../src/wire/schema.js';
import { makeUser, type User } from './helpers.js';
import { inboxById, seqOf } from './store-fixtures.js';

const now = () => Math.floor(Date.now() / 1000);
const rnd = (n: number) => systemRandom(n);
const SMALL = 64 * 1024; // app.ts: the default body limit
const ID = 'ab'.repeat(32);
/** A well-formed inbox seq that names no item (inbox items are addressed by seq, not by message id). */
const SEQ = '4503599627370495';

// ---- every error answer is well-formed ------------------------------------------------

const STACK = /\n\s+at |\bat [\w$.<>]+ \(|\(?[\w./-]+:\d+:\d+\)?/;
const PATHS = /node_modules|file:\/\/|(?:^|[\s"'(])\/(?:work|home|tmp|usr|src|root)\/|\b[\w-]+\.(?:ts|js|mjs|cjs)\b/;
let errorsChecked = 0;

/** Check an error answer completely; returns its code. */
function wellFormedError(status: number, type: string | null | undefined, text: string): ErrorCode {
  const where = `${status} ${text.slice(0, 300)}`;
  expect(status, where).toBeGreaterThanOrEqual(400);
  expect(type ?? '', where).toMatch(/^application\/json\b/);
  let j: unknown;
  expect(() => (j = JSON.parse(text)), where).not.toThrow();
  expect(typeof j === 'object' && j !== null && !Array.isArray(j), where).toBe(true);
  const o = j as Record<string, unknown>;
  expect(Object.keys(o).sort(), where).toEqual(['error', 'message']);
  expect(typeof o.error === 'string' && isErrorCode(o.error), where).toBe(true);
  const code = o.error as ErrorCode;
  expect(code, where).not.toBe('INTERNAL');
  expect(status, where).toBe(HTTP_STATUS[code]);
  expect(typeof o.message, where).toBe('string');
  expect((o.message as string).startsWith(`${code}:`), where).toBe(true);
  expect(text, where).not.toMatch(STACK);
  expect(text, where).not.toMatch(PATHS);
  errorsChecked++;
  return code;
}

interface Res {
  status: number;
  type: string | null;
  retryAfter: string | null;
  bytes: Uint8Array;
  text: string;
  /** Parsed JSON answer, or undefined. */
  json: any;
  /** The error code, for error answers. */
  code?: ErrorCode;
}

interface CallOptions {
  body?: Uint8Array | string;
  /** Content type: defaults to application/octet-stream when there is a body; null for none. */
  type?: string | null;
  auth?: string;
  headers?: Record<string, string>;
}

async function call(base: string, method: string, path: string, o: CallOptions = {}): Promise<Res> {
  const body = typeof o.body === 'string' ? utf8(o.body) : o.body;
  const headers: Record<string, string> = { ...o.headers };
  const type = o.type === undefined ? (body ? 'application/octet-stream' : undefined) : (o.type ?? undefined);
  if (type) headers['content-type'] = type;
  if (o.auth !== undefined) headers.authorization = o.auth;
  const r = await fetch(base + path, { method, headers, ...(body ? { body } : {}) });
  const bytes = new Uint8Array(await r.arrayBuffer());
  const text = Buffer.from(bytes).toString('utf8');
  const res: Res = { status: r.status, type: r.headers.get('content-type'), retryAfter: r.headers.get('retry-after'), bytes, text, json: undefined };
  expect(r.status, `${method} ${path}: ${text.slice(0, 200)}`).not.toBe(500);
  if (r.status >= 400) res.code = wellFormedError(r.status, res.type, text);
  if (res.type?.startsWith('application/json')) res.json = JSON.parse(text);
  return res;
}

function expectCode(r: Res, code: ErrorCode): void {
  expect({ code: r.code, status: r.status }, r.text).toEqual({ code, status: HTTP_STATUS[code] });
}

// ---- raw HTTP, for what fetch will not send ---------------------------------------------

interface RawRes {
  status: number;
  headers: Record<string, string>;
  text: string;
}

function parseResponses(buf: Buffer): RawRes[] {
  const out: RawRes[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end < 0) break;
    const lines = buf.subarray(pos, end).toString('latin1').split('\r\n');
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const n = Number(headers['content-length'] ?? 0);
    out.push({ status, headers, text: buf.subarray(end + 4, end + 4 + n).toString('utf8') });
    pos = end + 4 + n;
  }
  return out;
}

/**
 * Write `parts` to a fresh connection (waiting for each to drain, stopping as soon as
 * the server answers or closes) and collect every response until the server closes
 * the connection or `waitMs` passes.
 */
function raw(base: string, parts: (string | Uint8Array)[], waitMs = 3000): Promise<RawRes[]> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname);
    const got: Buffer[] = [];
    let done = false;
    let answered = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(parseResponses(Buffer.concat(got)));
    };
    const timer = setTimeout(finish, waitMs);
    s.on('data', (c: Buffer) => {
      got.push(c);
      answered = true;
    });
    s.on('error', () => {}); // EPIPE / ECONNRESET after the server refused: what it said is in `got`
    s.on('close', finish);
    s.on('connect', async () => {
      for (const p of parts) {
        if (answered || s.destroyed) break;
        if (!s.write(typeof p === 'string' ? Buffer.from(p, 'latin1') : p)) await new Promise((r) => s.once('drain', r).once('close', r));
      }
    });
  });
}

function checkRaw(rs: RawRes[]): ErrorCode[] {
  return rs.map((r) => {
    expect(r.status, r.text).not.toBe(500);
    return r.status >= 400 ? wellFormedError(r.status, r.headers['content-type'], r.text) : ('ok' as ErrorCode);
  });
}

const head = (method: string, path: string, headers: Record<string, string | number>) =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

// ---- the network: stores, users, a hostile sender store -------------------------------------

let dir: string;
let A: RunningStore; // alice's and mallory's store: the sender side
let B: RunningStore; // bob's and carol's store: the recipient side
let C: RunningStore; // greylisting and a tight per-sender rate limit
let evil: Server; // a sender store that answers fetches badly
let evilUrl: string;
let evilMode: 'garbage' | 'error' | 'reset' = 'garbage';

interface Member extends User {
  c: StoreClient;
  s: RunningStore;
  delegateKey: Uint8Array;
}
let alice: Member;
let mallory: Member; // her own *stores* assertion names another store than A
let bob: Member;
let carol: Member; // demands 20 bits of proof of work of strangers
let gina: Member; // on C
const dave = makeUser('hostile-dave', now()); // registered nowhere
const sam = makeUser('hostile-sam', now()); // served by the evil store

const TEST_CONFIG: Partial<Omit<StoreConfig, 'origin'>> = { greylistSeconds: 0 };

function assertion(u: User, seq: number, content: AssertionContent, from = now() - 60, to = now() + 86400) {
  return makeAssertion({ identity: u.identity, seq, notBefore: from, notAfter: to, content });
}
const storesOf = (u: User, url: string, seq = 1) => assertion(u, seq, { type: 'stores', stores: [{ priority: 10, url }] });
const keysOf = (u: User) => assertion(u, 1, { type: 'keys', keys: [{ purpose: 2, key: u.enc.publicKey, notAfter: now() + 86400 }] });

async function join_(s: RunningStore, name: string, o: { storesUrl?: string; extra?: (u: User) => Uint8Array[] } = {}): Promise<Member> {
  const u = makeUser(name, now());
  const c = new StoreClient({ url: s.url, signer: u.device });
  const r = await c.register(await s.store.users.createInvite(), u.identity);
  await c.publish([storesOf(u, o.storesUrl ?? s.url), keysOf(u), ...(o.extra?.(u) ?? [])]);
  return { ...u, c, s, delegateKey: Buffer.from(r.delegateKey, 'hex') };
}

/** A signed request header, as the client library makes it, with every part overridable. */
function authFor(signer: Signer, s: RunningStore, method: string, path: string, body: Uint8Array = new Uint8Array(0), o: { store?: string; time?: number } = {}) {
  return makeRequestAuth(signer, { method, path, body, store: o.store ?? s.url }, o.time ?? now(), systemRandom);
}

/** A request signed by `signer` for exactly what is sent. */
function signed(signer: Signer, s: RunningStore, method: string, path: string, body?: Uint8Array | string, type?: string | null): Promise<Res> {
  const b = typeof body === 'string' ? utf8(body) : body;
  return call(s.url, method, path, { ...(b ? { body: b } : {}), ...(type !== undefined ? { type } : {}), auth: authFor(signer, s, method, path, b) });
}
const signedJson = (signer: Signer, s: RunningStore, method: string, path: string, body: string) => signed(signer, s, method, path, body, 'application/json');

function note(from: Signer, to: Uint8Array, o: { store?: string; id?: Uint8Array; time?: number; expires?: number; pow?: Uint8Array; size?: number } = {}): Uint8Array {
  const time = o.time ?? now();
  return makeNotification({
    sender: from,
    recipient: { address: to },
    store: o.store ?? A.url,
    id: o.id ?? rnd(32),
    size: o.size ?? 1000,
    time,
    expires: o.expires ?? time + 86400,
    random: systemRandom,
    ...(o.pow ? { pow: o.pow } : {}),
  });
}

/** A notification with any body at all, signed properly (makeNotification refuses some of these). */
const rawNote = (signer: Signer, body: NoteBody) => signBytes(Notification, LABELS.notification, encode(NotificationBody, body), signer);

type SignedT = StructT<Signed>;
/** Flip one bit of the signature. */
function flipSig(t: SignedT, bytes: Uint8Array): Uint8Array {
  const c = decode(t, bytes);
  const sig = c.sig.slice();
  sig[7]! ^= 0x10;
  return encode(t, { ...c, sig });
}
/** Swap in another (validly encoded) body under the same signature. */
function swapBody<B>(t: SignedT, bt: StructT<B>, bytes: Uint8Array, change: (b: B) => B): Uint8Array {
  const c = decode(t, bytes);
  return encode(t, { ...c, body: encode(bt, change(decode(bt, c.body))) });
}

function newDevice(u: User): Signer {
  const key = SigningKey.generate(systemRandom);
  const cert = certifySubkey({ identity: u.identity, purpose: PURPOSE.device, subkey: key.publicKey, notBefore: now() - 60, notAfter: now() + 86400 });
  return subkeySigner(u.identity.typedKey, key, cert);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kp-hostile-'));
  A = await startStore({ dataDir: join(dir, 'a'), config: TEST_CONFIG, workerIntervalMs: 200 });
  B = await startStore({ dataDir: join(dir, 'b'), config: TEST_CONFIG, workerIntervalMs: 200 });
  C = await startStore({ dataDir: join(dir, 'c'), config: { greylistSeconds: 300, perSenderPerMinute: 2 }, workerIntervalMs: 200 });
  evil = createServer((req, res) => {
    const t = now();
    if (req.method === 'GET' && req.url?.startsWith('/.well-known/keypost/')) {
      const r = wellKnownResponse([storesOf(sam, evilUrl), keysOf(sam)], t);
      res.writeHead(200, r.headers);
      res.end(Buffer.from(r.body));
    } else if (evilMode === 'reset') {
      req.socket.destroy();
    } else if (evilMode === 'error') {
      res.writeHead(500, { 'content-type': 'text/html' });
      res.end('<h1>oops</h1>');
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.from(rnd(1000)));
    }
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
  evilUrl = `http://127.0.0.1:${(evil.address() as AddressInfo).port}`;
  alice = await join_(A, 'hostile-alice');
  mallory = await join_(A, 'hostile-mallory', { storesUrl: 'https://elsewhere.example' });
  bob = await join_(B, 'hostile-bob');
  carol = await join_(B, 'hostile-carol', {
    extra: (u) => [assertion(u, 1, { type: 'policy', policy: { powBits: 20, powUnit: 1 << 20, maxSize: 1 << 24 } })],
  });
  gina = await join_(C, 'hostile-gina');
});

afterAll(async () => {
  await A?.close();
  await B?.close();
  await C?.close();
  evil?.closeAllConnections();
  await new Promise((r) => evil?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

// ---- every route with a body: size, framing, content type ------------------------------------

interface Route {
  method: string;
  path: string;
  limit: number;
}
const BODY_ROUTES: Route[] = [
  { method: 'POST', path: '/v1/notifications', limit: LIMITS.NOTIFICATION },
  { method: 'POST', path: '/v1/notifications/batch', limit: NotificationBatch.maxSize },
  { method: 'POST', path: '/v1/fetch', limit: 1024 },
  { method: 'POST', path: '/v1/receipts', limit: 1024 },
  { method: 'POST', path: '/v1/retractions', limit: 1024 },
  { method: 'POST', path: '/v1/register', limit: SMALL },
  { method: 'PUT', path: '/v1/me/delegate', limit: SMALL },
  { method: 'POST', path: '/v1/me/devices', limit: SMALL },
  { method: 'POST', path: '/v1/me/revocations', limit: 512 },
  { method: 'PUT', path: '/v1/me/assertions', limit: 64 * 1024 },
  { method: 'PUT', path: '/v1/me/prefetch', limit: SMALL },
  { method: 'POST', path: '/v1/messages', limit: Upload.maxSize },
  { method: 'DELETE', path: `/v1/messages/${ID}`, limit: LIMITS.RECIPIENTS * 520 },
  { method: 'POST', path: `/v1/inbox/${SEQ}/confirm`, limit: SMALL },
  { method: 'DELETE', path: `/v1/inbox/${SEQ}`, limit: SMALL },
  { method: 'POST', path: `/v1/inbox/${SEQ}/report`, limit: SMALL },
  { method: 'POST', path: '/v1/blocks', limit: SMALL },
  { method: 'DELETE', path: '/v1/blocks', limit: SMALL },
  { method: 'POST', path: '/v1/contacts', limit: SMALL },
];
const PUBLIC = new Set(['/v1/notifications', '/v1/notifications/batch', '/v1/fetch', '/v1/receipts', '/v1/retractions']);
/**
 * What a route says to `limit` bytes of zeros: HTTP lets them through, so the next check speaks
 * (the structure's own, smaller limit for fetch requests, receipts and retractions).
 */
const atLimit = (r: Route): ErrorCode =>
  ['/v1/fetch', '/v1/receipts', '/v1/retractions'].includes(r.path) ? 'WIRE_TOO_LARGE' : PUBLIC.has(r.path) ? 'WIRE_MALFORMED' : 'AUTH_REQUIRED';
/** Routes whose limit is small enough to really send. */
const SENDABLE = BODY_ROUTES.filter((r) => r.limit <= 6 * 1024 * 1024);

describe('body limits: 413 WIRE_TOO_LARGE on every route with a body', () => {
  test.each(BODY_ROUTES)('$method $path: Content-Length above the limit is refused before the body is read', async (r) => {
    const rs = await raw(A.url, [head(r.method, r.path, { 'content-type': 'application/octet-stream', 'content-length': r.limit + 1, connection: 'close' })]);
    expect(checkRaw(rs)).toEqual(['WIRE_TOO_LARGE']);
  });

  test.each(SENDABLE)('$method $path: a body one byte over the limit is refused, one at the limit is not', async (r) => {
    expectCode(await call(A.url, r.method, r.path, { body: new Uint8Array(r.limit + 1) }), 'WIRE_TOO_LARGE');
    expectCode(await call(A.url, r.method, r.path, { body: new Uint8Array(r.limit) }), atLimit(r));
  });

  test.each(SENDABLE)('$method $path: a chunked body (no Content-Length) is cut off at the limit', async (r) => {
    const chunk = 64 * 1024;
    const parts: (string | Uint8Array)[] = [head(r.method, r.path, { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked', connection: 'close' })];
    for (let left = r.limit + 1; left > 0; left -= chunk) {
      const n = Math.min(chunk, left);
      parts.push(`${n.toString(16)}\r\n`, new Uint8Array(n), '\r\n');
    }
    parts.push('0\r\n\r\n');
    expect(checkRaw(await raw(A.url, parts))).toEqual(['WIRE_TOO_LARGE']);
  });

  test('Upload: a chunked body far above the 64 KiB default is still bounded by its own limit, not refused early', async () => {
    // 200 KiB chunked to POST /v1/messages: over the default limit, under Upload's: it reaches the handler.
    const parts = [head('POST', '/v1/messages', { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked', connection: 'close' })];
    for (let i = 0; i < 4; i++) parts.push(`${(50 * 1024).toString(16)}\r\n`, 'x'.repeat(50 * 1024), '\r\n');
    parts.push('0\r\n\r\n');
    expect(checkRaw(await raw(A.url, parts))).toEqual(['AUTH_REQUIRED']);
  });

  test('a Content-Length that understates the body: the rest is a bad request, answered as one', async () => {
    const rs = await raw(A.url, [head('POST', '/v1/fetch', { 'content-type': 'application/octet-stream', 'content-length': 4 }), 'x'.repeat(3000)]);
    const codes = checkRaw(rs);
    expect(codes.length).toBeGreaterThan(0);
    expect(codes.at(-1)).toBe('INVALID_ARGUMENT');
  });

  test('Content-Length and Transfer-Encoding together (request smuggling) → 400 INVALID_ARGUMENT', async () => {
    const rs = await raw(A.url, [head('POST', '/v1/notifications', { 'content-type': 'application/octet-stream', 'content-length': 4, 'transfer-encoding': 'chunked' }), '4\r\nabcd\r\n0\r\n\r\n']);
    expect(checkRaw(rs)).toEqual(['INVALID_ARGUMENT']);
  });

  test.each([
    ['two different Content-Lengths', { 'content-type': 'application/octet-stream', 'content-length': '4\r\nContent-Length: 5' }],
    ['a negative Content-Length', { 'content-type': 'application/octet-stream', 'content-length': -1 }],
    ['a non-numeric Content-Length', { 'content-type': 'application/octet-stream', 'content-length': 'lots' }],
    ['a malformed chunk size', { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }],
  ] as const)('%s → 400 INVALID_ARGUMENT', async (_, h) => {
    const rs = await raw(A.url, [head('POST', '/v1/notifications', h), 'zz\r\nabcd\r\n0\r\n\r\n']);
    expect(checkRaw(rs)).toEqual(['INVALID_ARGUMENT']);
  });

  test('a request line that is not HTTP → 400 INVALID_ARGUMENT', async () => {
    expect(checkRaw(await raw(A.url, ['GARBAGE \x00\x01\x02\r\n\r\n']))).toEqual(['INVALID_ARGUMENT']);
  });

  test('headers over the server limit → 413 WIRE_TOO_LARGE', async () => {
    expect(checkRaw(await raw(A.url, [head('GET', '/v1/health', { 'x-filler': 'a'.repeat(20_000) })]))).toEqual(['WIRE_TOO_LARGE']);
    expect(checkRaw(await raw(A.url, [head('GET', `/v1/inbox/${'1'.repeat(100_000)}`, {})]))).toEqual(['WIRE_TOO_LARGE']);
  });

  test('GET routes ignore a body: the answer is the one without it', async () => {
    const rs = await raw(A.url, [head('GET', '/v1/inbox', { 'content-type': 'application/octet-stream', 'content-length': 100_000, connection: 'close' }), new Uint8Array(100_000)]);
    expect(checkRaw(rs)).toEqual(['AUTH_REQUIRED']);
  });
});

describe('content types', () => {
  const WRONG = ['text/plain', 'text/plain; charset=utf-8', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', ';;;', 'application/octet-stream/x'];
  test.each(BODY_ROUTES)('$method $path: a body of another type → 400 INVALID_ARGUMENT', async (r) => {
    for (const type of WRONG) expectCode(await call(A.url, r.method, r.path, { body: 'abcd', type }), 'INVALID_ARGUMENT');
    expectCode(await call(A.url, r.method, r.path, { body: 'abcd', type: null }), 'INVALID_ARGUMENT');
  });

  test('text/plain is refused, not read as an empty body (a signed request would fail for a misleading reason)', async () => {
    const body = utf8('{"on":true}');
    const r = await call(A.url, 'PUT', '/v1/me/prefetch', { body, type: 'text/plain', auth: authFor(alice.device, A, 'PUT', '/v1/me/prefetch', body) });
    expectCode(r, 'INVALID_ARGUMENT');
  });

  test('parameters on the right type are fine', async () => {
    const r = await signed(alice.device, A, 'PUT', '/v1/me/prefetch', '{"on":true}', 'application/json; charset=utf-8');
    expect(r.status).toBe(200);
    const n = await call(B.url, 'POST', '/v1/notifications', { body: note(alice.device, bob.address), type: 'Application/Octet-Stream; x=1' });
    expect(n.status).toBe(202);
  });
});

// ---- malformed wire input, on every binary route -----------------------------------------------

/** Long-form map header for a fixmap: the same value, another byte form. */
function longMap(b: Uint8Array): Uint8Array {
  expect(b[0]! & 0xf0).toBe(0x80);
  return concat(Uint8Array.of(0xde, 0, b[0]! & 0x0f), b.subarray(1));
}
/** One more key (127, above every key keypost defines) at the end of a fixmap. */
function extraField(b: Uint8Array): Uint8Array {
  return concat(Uint8Array.of(b[0]! + 1), b.subarray(1), Uint8Array.of(0x7f, 0x00));
}

const MANGLE: [string, (b: Uint8Array) => Uint8Array, ErrorCode][] = [
  ['empty', () => new Uint8Array(0), 'WIRE_MALFORMED'],
  ['truncated by one byte', (b) => b.subarray(0, b.length - 1), 'WIRE_MALFORMED'],
  ['cut in half', (b) => b.subarray(0, b.length >> 1), 'WIRE_MALFORMED'],
  ['trailing garbage', (b) => concat(b, Uint8Array.of(0x00)), 'WIRE_MALFORMED'],
  ['an array count beyond the input', () => Uint8Array.of(0x81, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff), 'WIRE_MALFORMED'],
  ['a never-used type byte', (b) => concat(Uint8Array.of(0xc1), b.subarray(1)), 'WIRE_BAD_TYPE'],
  ['a float', () => Uint8Array.of(0xca, 0, 0, 0, 0), 'WIRE_BAD_TYPE'],
  ['nil', () => Uint8Array.of(0xc0), 'WIRE_BAD_TYPE'],
  ['an extension', () => Uint8Array.of(0xd4, 0x01, 0x00), 'WIRE_BAD_TYPE'],
  ['a negative integer', () => Uint8Array.of(0xff), 'WIRE_BAD_TYPE'],
  ['an integer, not a map', () => Uint8Array.of(0x01), 'WIRE_BAD_TYPE'],
  ['nested arrays 200 deep', () => concat(Uint8Array.of(0x81, 0x01), new Uint8Array(200).fill(0x91), Uint8Array.of(0x00)), 'WIRE_BAD_TYPE'],
  ['a long-form map header (non-canonical)', longMap, 'WIRE_NONCANONICAL'],
  ['invalid UTF-8 in a string', () => Uint8Array.of(0x81, 0x01, 0xa2, 0xc3, 0x28), 'WIRE_NONCANONICAL'],
  ['an unknown field', extraField, 'WIRE_UNKNOWN_FIELD'],
  ['a string key', () => Uint8Array.of(0x81, 0xa1, 0x61, 0x01), 'WIRE_UNKNOWN_FIELD'],
  ['an empty map (fields missing)', () => Uint8Array.of(0x80), 'WIRE_MISSING_FIELD'],
];

describe('malformed msgpack on the public routes', () => {
  const samples: [string, () => RunningStore, () => Uint8Array][] = [
    ['/v1/notifications', () => B, () => note(alice.device, bob.address)],
    ['/v1/notifications/batch', () => B, () => encode(NotificationBatch, { notifications: [note(alice.device, bob.address)] })],
    ['/v1/fetch', () => A, () => makeFetchRequest({ requester: bob.device, id: rnd(32), store: A.url, time: now(), random: systemRandom })],
    ['/v1/receipts', () => A, () => makeReceipt({ recipient: bob.device, id: rnd(32), time: now() })],
    ['/v1/retractions', () => B, () => makeRetraction({ sender: alice.device, id: rnd(32), recipient: bob.address, time: now() })],
  ];
  for (const [path, store, sample] of samples) {
    test.each(MANGLE)(`${path}: %s`, async (_, mangle, code) => {
      expectCode(await call(store().url, 'POST', path, { body: mangle(sample()) }), code);
    });
  }
});

describe('malformed msgpack on the signed binary routes (validly signed, so the body is what is refused)', () => {
  let msg: string; // a message of alice's, so DELETE reaches the body
  beforeAll(async () => {
    msg = await alice.c.send(
      { to: [dave.address], cc: [], subject: 'for unsend', date: now(), parents: [], body: 'x', attachments: [] },
      [{ address: dave.address, encryptionKey: dave.enc.publicKey, store: B.url }],
    );
  });
  const samples: [string, string, () => string, () => Uint8Array][] = [
    ['PUT', '/v1/me/delegate', () => '/v1/me/delegate', () => certifySubkey({ identity: alice.identity, purpose: PURPOSE.storeDelegate, subkey: alice.delegateKey, notBefore: now() - 60, notAfter: now() + 86400 })],
    ['POST', '/v1/me/devices', () => '/v1/me/devices', () => certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: SigningKey.generate(systemRandom).publicKey, notBefore: now() - 60, notAfter: now() + 86400 })],
    ['PUT', '/v1/me/assertions', () => '/v1/me/assertions', () => encode(AssertionBundle, { assertions: [storesOf(alice, A.url)] })],
    ['POST', '/v1/messages', () => '/v1/messages', () => upload(alice, [bob]).body],
    ['DELETE', '/v1/messages/<id>', () => `/v1/messages/${msg}`, () => encode(RetractionList, { retractions: [makeRetraction({ sender: alice.device, id: Buffer.from(msg, 'hex'), recipient: dave.address, time: now() })] })],
  ];
  for (const [method, name, path, sample] of samples) {
    test.each(MANGLE)(`${method} ${name}: %s`, async (_, mangle, code) => {
      expectCode(await signed(alice.device, A, method, path(), mangle(sample())), code);
    });
  }
});

describe('malformed JSON on the signed JSON routes', () => {
  const BAD: [string, string | Uint8Array][] = [
    ['empty', ''],
    ['not JSON', '{'],
    ['null', 'null'],
    ['a number', '5'],
    ['a string', '"x"'],
    ['an array', '[]'],
    ['invalid UTF-8', Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d)],
    ['deep nesting', '['.repeat(20_000) + ']'.repeat(20_000)],
  ];
  const routes: [string, string, Signer | (() => Signer)][] = [
    ['POST', '/v1/register', () => dave.device],
    ['PUT', '/v1/me/prefetch', () => alice.device],
    ['POST', '/v1/blocks', () => alice.device],
    ['DELETE', '/v1/blocks', () => alice.device],
    ['POST', '/v1/contacts', () => alice.device],
  ];
  for (const [method, path, who] of routes) {
    test.each(BAD)(`${method} ${path}: %s → 400 INVALID_ARGUMENT`, async (_, body) => {
      const signer = typeof who === 'function' ? who() : who;
      const b = typeof body === 'string' ? utf8(body) : body;
      expectCode(await signed(signer, A, method, path, b, 'application/json'), 'INVALID_ARGUMENT');
    });
  }

  test('fields of the wrong type or value', async () => {
    expectCode(await signedJson(dave.device, A, 'POST', '/v1/register', '{"invite":5}'), 'INVALID_ARGUMENT');
    expectCode(await signedJson(alice.device, A, 'PUT', '/v1/me/prefetch', '{"on":"yes"}'), 'INVALID_ARGUMENT');
    expectCode(await signedJson(alice.device, A, 'POST', '/v1/blocks', '{}'), 'INVALID_ARGUMENT');
    expectCode(await signedJson(alice.device, A, 'POST', '/v1/blocks', '{"sender":5}'), 'INVALID_ARGUMENT');
    expectCode(await signedJson(alice.device, A, 'POST', '/v1/blocks', '{"store":["x"]}'), 'INVALID_ARGUMENT');
    expectCode(await signedJson(alice.device, A, 'POST', '/v1/blocks', '{"sender":"kp1nope"}'), 'ADDRESS_MALFORMED');
    const typo = addressToText(bob.address).replace(/.$/, (c) => (c === 'q' ? 'p' : 'q'));
    expectCode(await signedJson(alice.device, A, 'POST', '/v1/blocks', JSON.stringify({ sender: typo })), 'ADDRESS_CHECKSUM');
    expectCode(await signedJson(alice.device, A, 'POST', '/v1/contacts', '{"address":null}'), 'INVALID_ARGUMENT');
    expectCode(await signedJson(alice.device, A, 'POST', '/v1/contacts', '{"address":"x"}'), 'ADDRESS_MALFORMED');
  });

  test('an empty sender or store does not turn into "block everything"', async () => {
    expectCode(await signedJson(bob.device, B, 'POST', '/v1/blocks', '{"sender":""}'), 'ADDRESS_MALFORMED');
    expectCode(await signedJson(bob.device, B, 'POST', '/v1/blocks', '{"store":""}'), 'INVALID_ARGUMENT');
    expect((await call(B.url, 'POST', '/v1/notifications', { body: note(alice.device, bob.address) })).status).toBe(202);
  });
});

// ---- signed user requests -----------------------------------------------------------------------

describe('signed user requests', () => {
  const USER_ROUTES: [string, string][] = [
    ['POST', '/v1/register'],
    ['PUT', '/v1/me/delegate'],
    ['POST', '/v1/me/devices'],
    ['POST', '/v1/me/revocations'],
    ['PUT', '/v1/me/assertions'],
    ['PUT', '/v1/me/prefetch'],
    ['POST', '/v1/messages'],
    ['GET', `/v1/messages/${ID}`],
    ['DELETE', `/v1/messages/${ID}`],
    ['GET', '/v1/inbox'],
    ['GET', `/v1/inbox/${SEQ}`],
    ['POST', `/v1/inbox/${SEQ}/confirm`],
    ['DELETE', `/v1/inbox/${SEQ}`],
    ['POST', `/v1/inbox/${SEQ}/report`],
    ['POST', '/v1/blocks'],
    ['DELETE', '/v1/blocks'],
    ['POST', '/v1/contacts'],
  ];
  test.each(USER_ROUTES)('%s %s without Authorization → 401 AUTH_REQUIRED', async (method, path) => {
    expectCode(await call(A.url, method, path), 'AUTH_REQUIRED');
    expectCode(await call(A.url, method, path, { auth: 'Bearer abc' }), 'AUTH_REQUIRED');
    expectCode(await call(A.url, method, path, { auth: 'KP1' }), 'AUTH_REQUIRED');
    expectCode(await call(A.url, method, path, { auth: 'KP1 not base64url!' }), 'WIRE_MALFORMED');
    expect((await call(A.url, method, path, { auth: `KP1 ${Buffer.from(rnd(100)).toString('base64url')}` })).code).toMatch(/^WIRE_/);
  });

  test('garbage inside a well-encoded header is a WIRE_* error', async () => {
    const r = await call(A.url, 'GET', '/v1/inbox', { auth: `KP1 ${Buffer.from(Uint8Array.of(0x80)).toString('base64url')}` });
    expectCode(r, 'WIRE_MISSING_FIELD');
    const big = Buffer.from(new Uint8Array(2000)).toString('base64url');
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: `KP1 ${big}` }), 'WIRE_TOO_LARGE');
  });

  test('a valid request works; the same header again → 409 REPLAY', async () => {
    const h = authFor(alice.device, A, 'GET', '/v1/inbox');
    expect((await call(A.url, 'GET', '/v1/inbox', { auth: h })).status).toBe(200);
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: h }), 'REPLAY');
    // A replay with a body, too, and after a failed first use.
    const body = utf8('{"on":true}');
    const h2 = authFor(alice.device, A, 'PUT', '/v1/me/prefetch', body);
    expect((await call(A.url, 'PUT', '/v1/me/prefetch', { body, type: 'application/json', auth: h2 })).status).toBe(200);
    expectCode(await call(A.url, 'PUT', '/v1/me/prefetch', { body, type: 'application/json', auth: h2 }), 'REPLAY');
  });

  test('the header replayed at another store → 400 SUBJECT_MISMATCH', async () => {
    const h = authFor(alice.device, A, 'GET', '/v1/inbox');
    expectCode(await call(B.url, 'GET', '/v1/inbox', { auth: h }), 'SUBJECT_MISMATCH');
  });

  test('signed for another store origin, path, query or method → 400 SUBJECT_MISMATCH', async () => {
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: authFor(alice.device, A, 'GET', '/v1/inbox', undefined, { store: B.url }) }), 'SUBJECT_MISMATCH');
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: authFor(alice.device, A, 'GET', `/v1/messages/${ID}`) }), 'SUBJECT_MISMATCH');
    expectCode(await call(A.url, 'GET', '/v1/inbox?since=5', { auth: authFor(alice.device, A, 'GET', '/v1/inbox?since=0') }), 'SUBJECT_MISMATCH');
    const body = utf8(JSON.stringify({ sender: addressToText(mallory.address) }));
    const h = authFor(alice.device, A, 'DELETE', '/v1/blocks', body);
    expectCode(await call(A.url, 'POST', '/v1/blocks', { body, type: 'application/json', auth: h }), 'SUBJECT_MISMATCH');
  });

  test('signed for another body → 400 CONTENT_HASH_MISMATCH', async () => {
    const h = authFor(alice.device, A, 'PUT', '/v1/me/prefetch', utf8('{"on":true}'));
    expectCode(await call(A.url, 'PUT', '/v1/me/prefetch', { body: '{"on":false}', type: 'application/json', auth: h }), 'CONTENT_HASH_MISMATCH');
    expectCode(await call(A.url, 'PUT', '/v1/me/prefetch', { auth: h }), 'CONTENT_HASH_MISMATCH');
    const h0 = authFor(alice.device, A, 'PUT', '/v1/me/prefetch');
    expectCode(await call(A.url, 'PUT', '/v1/me/prefetch', { body: '{"on":false}', type: 'application/json', auth: h0 }), 'CONTENT_HASH_MISMATCH');
  });

  test('stale → 400 EXPIRED; from the future → 400 NOT_YET_VALID', async () => {
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: authFor(alice.device, A, 'GET', '/v1/inbox', undefined, { time: now() - 1000 }) }), 'EXPIRED');
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: authFor(alice.device, A, 'GET', '/v1/inbox', undefined, { time: now() + 1000 }) }), 'NOT_YET_VALID');
    // Just inside the window either way is fine.
    expect((await call(A.url, 'GET', '/v1/inbox', { auth: authFor(alice.device, A, 'GET', '/v1/inbox', undefined, { time: now() - 800 }) })).status).toBe(200);
    expect((await call(A.url, 'GET', '/v1/inbox', { auth: authFor(alice.device, A, 'GET', '/v1/inbox', undefined, { time: now() + 200 }) })).status).toBe(200);
  });

  test('forged → 401 BAD_SIGNATURE (signature bit flipped; body changed under the signature)', async () => {
    const h = authFor(alice.device, A, 'GET', '/v1/inbox');
    const bytes = Buffer.from(h.slice(4), 'base64url');
    const flipped = `KP1 ${Buffer.from(flipSig(RequestAuth, bytes)).toString('base64url')}`;
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: flipped }), 'BAD_SIGNATURE');
    const other = swapBody(RequestAuth, RequestAuthBody, bytes, (b) => ({ ...b, nonce: rnd(16) }));
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: `KP1 ${Buffer.from(other).toString('base64url')}` }), 'BAD_SIGNATURE');
    // Signed by mallory's device, claiming alice's identity.
    const asAlice = swapBody(RequestAuth, RequestAuthBody, Buffer.from(authFor(mallory.device, A, 'GET', '/v1/inbox').slice(4), 'base64url'), (b) => ({ ...b, identity: alice.identity.typedKey }));
    expectCode(await call(A.url, 'GET', '/v1/inbox', { auth: `KP1 ${Buffer.from(asAlice).toString('base64url')}` }), 'CERT_INVALID');
  });

  test('the store-delegate key used for the user API → 403 CERT_PURPOSE', async () => {
    expectCode(await signed(alice.delegate, A, 'GET', '/v1/inbox'), 'CERT_PURPOSE');
    expectCode(await signedJson(alice.delegate, A, 'PUT', '/v1/me/prefetch', '{"on":false}'), 'CERT_PURPOSE');
  });

  test('a device certificate that expired → 400 EXPIRED', async () => {
    const key = SigningKey.generate(systemRandom);
    const cert = certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: key.publicKey, notBefore: now() - 90_000, notAfter: now() - 86_400 });
    expectCode(await signed(subkeySigner(alice.identity.typedKey, key, cert), A, 'GET', '/v1/inbox'), 'EXPIRED');
  });

  test('unknown user → 403 NOT_REGISTERED', async () => {
    expectCode(await signed(dave.device, A, 'GET', '/v1/inbox'), 'NOT_REGISTERED');
    expectCode(await signedJson(dave.device, A, 'PUT', '/v1/me/prefetch', '{"on":true}'), 'NOT_REGISTERED');
    expectCode(await signed(bob.device, A, 'GET', '/v1/inbox'), 'NOT_REGISTERED'); // registered, but at B
  });

  test("a device the user certified but never registered here → 403 NOT_REGISTERED (docs/api.md: unknown devices)", async () => {
    expectCode(await signed(newDevice(alice), A, 'GET', '/v1/inbox'), 'NOT_REGISTERED');
    expectCode(await signed(identitySigner(alice.identity), A, 'GET', '/v1/inbox'), 'NOT_REGISTERED');
  });

  test('query strings are part of what is signed, and bad values are typed errors', async () => {
    for (const q of ['since=-1', 'since=abc', 'limit=0', 'limit=1.5', 'since=1e400', 'since=1&since=2', 'since=9007199254740993']) {
      expectCode(await signed(alice.device, A, 'GET', `/v1/inbox?${q}`), 'INVALID_ARGUMENT');
    }
    expect((await signed(alice.device, A, 'GET', '/v1/inbox?since=0&limit=100000')).status).toBe(200);
  });

  test('ids in paths', async () => {
    for (const id of ['zz', 'AB'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(33), '%00', '..%2f..%2fetc', '1']) {
      expectCode(await signed(alice.device, A, 'GET', `/v1/messages/${id}`), 'INVALID_ARGUMENT');
    }
    expectCode(await signed(alice.device, A, 'GET', `/v1/messages/${ID}`), 'NOT_FOUND');
    expectCode(await signed(alice.device, A, 'DELETE', `/v1/messages/${ID}`, encode(RetractionList, { retractions: [] })), 'NOT_FOUND');
  });

  const INBOX_ITEM_ROUTES = [
    ['GET', ''],
    ['POST', '/confirm'],
    ['DELETE', ''],
    ['POST', '/report'],
  ] as const;

  test('inbox items are named by seq: anything but a positive decimal integer → 400 INVALID_ARGUMENT', async () => {
    const bad = [
      'zz', // not numeric
      ID, // a message id (hex): no longer a handle
      'AB'.repeat(32),
      'abc',
      '0', // zero
      '-1', // negative
      '01', // leading zero
      '007',
      '1'.repeat(17), // too long
      '9007199254740993', // 16 digits, above Number.MAX_SAFE_INTEGER
      '1.5',
      '1e3',
      '0x10',
      '+1',
      '%201',
      '1%00',
      '%00',
      '..%2f..%2fetc',
    ];
    for (const seq of bad) {
      for (const [method, tail] of INBOX_ITEM_ROUTES) {
        expectCode(await signed(alice.device, A, method, `/v1/inbox/${seq}${tail}`), 'INVALID_ARGUMENT');
      }
    }
  });

  test('a well-formed seq that names no item → 404 NOT_FOUND', async () => {
    for (const seq of [SEQ, '9007199254740991', '999999999']) {
      for (const [method, tail] of INBOX_ITEM_ROUTES) {
        expectCode(await signed(alice.device, A, method, `/v1/inbox/${seq}${tail}`), 'NOT_FOUND');
      }
    }
  });

  test("a seq held for ANOTHER user of the same store → 404 NOT_FOUND, and the item is untouched", async () => {
    // An item of bob's at B; carol (also at B) probes it by its seq on every item route.
    const n = note(alice.device, bob.address);
    expect((await call(B.url, 'POST', '/v1/notifications', { body: n })).status).toBe(202);
    const nid = decode(NotificationBody, decode(Notification, n).body).id;
    const seq = seqOf(B, bob.address, nid);
    const before = B.storage.getInbox(bob.address, seq)!;
    expect(before.state).not.toBe('deleted');
    for (const [method, tail] of INBOX_ITEM_ROUTES) {
      const r = await signed(carol.device, B, method, `/v1/inbox/${seq}${tail}`);
      expectCode(r, 'NOT_FOUND');
      // Not found as an item (B has no report address either: that would also be NOT_FOUND).
      expect(r.json.message).toMatch(/no such message in your inbox/);
    }
    // Nor does the storage layer hand out bob's item under carol's name.
    expect(B.storage.getInbox(carol.address, seq)).toBeUndefined();
    expect(B.storage.getInboxEnvelope(carol.address, seq)).toBeUndefined();
    expect(await B.storage.deleteInbox(carol.address, seq)).toBe(false);
    // Carol's DELETE did nothing: bob still has the item, with its notification, and can delete it himself.
    const after = B.storage.getInbox(bob.address, seq)!;
    expect(after.state).not.toBe('deleted');
    expect(Buffer.from(after.notification).equals(Buffer.from(n))).toBe(true);
    expect((await signed(bob.device, B, 'DELETE', `/v1/inbox/${seq}`)).json).toEqual({ status: 'deleted' });
    expect(B.storage.getInbox(bob.address, seq)!.state).toBe('deleted');
  });
});

describe('registration and invites', () => {
  const register = (u: User, invite: unknown, signer: Signer = u.device) => signedJson(signer, A, 'POST', '/v1/register', JSON.stringify({ invite }));

  test('an unknown or malformed invite → 403 INVITE_INVALID', async () => {
    const u = makeUser('hostile-inv-1', now());
    expectCode(await register(u, Buffer.from(rnd(18)).toString('base64url')), 'INVITE_INVALID');
    expectCode(await register(u, '***'), 'INVITE_INVALID');
    expectCode(await register(u, ''), 'INVITE_INVALID');
    expectCode(await register(u, 'x'.repeat(10_000)), 'INVITE_INVALID');
  });

  test('an invite used once → 403 INVITE_INVALID the second time', async () => {
    const invite = await A.store.users.createInvite();
    const u1 = makeUser('hostile-inv-2', now());
    const u2 = makeUser('hostile-inv-3', now());
    expect((await register(u1, invite)).status).toBe(201);
    expectCode(await register(u2, invite), 'INVITE_INVALID');
  });

  test('an expired invite → 403 INVITE_INVALID', async () => {
    const token = rnd(18);
    await A.storage.createInvite(crypto().sha256(token), now() - 10);
    expectCode(await register(makeUser('hostile-inv-4', now()), Buffer.from(token).toString('base64url')), 'INVITE_INVALID');
  });

  test('registering twice → 403 INVITE_INVALID, and the invite is not spent', async () => {
    const invite = await A.store.users.createInvite();
    expectCode(await register(alice, invite), 'INVITE_INVALID');
    expectCode(await register(alice, invite, newDevice(alice)), 'INVITE_INVALID');
    expect((await register(makeUser('hostile-inv-5', now()), invite)).status).toBe(201);
  });

  test('one device key claimed by a second identity → a typed 400, not a crash, and the invite is not spent', async () => {
    const first = makeUser('hostile-inv-6', now());
    const second = makeUser('hostile-inv-7', now());
    // `second` certifies the very device key `first` registered with.
    const cert = certifySubkey({ identity: second.identity, purpose: PURPOSE.device, subkey: first.device.key.publicKey, notBefore: now() - 60, notAfter: now() + 86400 });
    const shared = subkeySigner(second.identity.typedKey, first.device.key, cert);
    expect((await register(first, await A.store.users.createInvite())).status).toBe(201);
    const invite = await A.store.users.createInvite();
    expectCode(await register(second, invite, shared), 'INVALID_ARGUMENT');
    expect((await register(second, invite)).status).toBe(201);
  });

  test('registration needs a signature, by a device key', async () => {
    const invite = await A.store.users.createInvite();
    expectCode(await call(A.url, 'POST', '/v1/register', { body: JSON.stringify({ invite }), type: 'application/json' }), 'AUTH_REQUIRED');
    const u = makeUser('hostile-inv-8', now());
    expectCode(await register(u, invite, u.delegate), 'CERT_PURPOSE');
    const body = utf8(JSON.stringify({ invite }));
    expectCode(await call(A.url, 'POST', '/v1/register', { body, type: 'application/json', auth: authFor(u.device, A, 'POST', '/v1/register', body, { time: now() - 2000 }) }), 'EXPIRED');
    expect((await register(u, invite)).status).toBe(201);
  });
});

// ---- store to store -------------------------------------------------------------------------------

describe('notifications', () => {
  const post = (bytes: Uint8Array, s: RunningStore = B) => call(s.url, 'POST', '/v1/notifications', { body: bytes });

  test('a valid one is accepted; the same again is a duplicate, not an error', async () => {
    const n = note(alice.device, bob.address);
    expect((await post(n)).status).toBe(202);
    const again = await post(n);
    expect([again.status, again.json]).toEqual([200, { status: 'duplicate' }]);
    // Another signed notification for the same message and recipient is another notification:
    // duplicates are exact retransmissions (same signed time and hash), so it makes a second item.
    const id = rnd(32);
    const first = note(alice.device, bob.address, { id });
    const second = note(alice.device, bob.address, { id, expires: now() + 3600 });
    expect((await post(first)).status).toBe(202);
    const other = await post(second);
    expect([other.status, other.json]).toEqual([202, { status: 'accepted' }]);
    const items = B.storage.listInbox(bob.address, 0, 1000).filter((r) => toHex(r.id) === toHex(id));
    expect(items.map((r) => Buffer.from(r.notification).toString('hex'))).toEqual([first, second].map((b) => Buffer.from(b).toString('hex')));
    expect(items[0]!.seq).toBeLessThan(items[1]!.seq);
    // Each of them retransmitted is still a duplicate: no third item.
    expect((await post(first)).json).toEqual({ status: 'duplicate' });
    expect((await post(second)).json).toEqual({ status: 'duplicate' });
    expect(B.storage.listInbox(bob.address, 0, 1000).filter((r) => toHex(r.id) === toHex(id))).toHaveLength(2);
  });

  test('forged → 401 BAD_SIGNATURE', async () => {
    expectCode(await post(flipSig(Notification, note(alice.device, bob.address))), 'BAD_SIGNATURE');
    expectCode(await post(swapBody(Notification, NotificationBody, note(alice.device, bob.address), (b) => ({ ...b, size: b.size + 1 }))), 'BAD_SIGNATURE');
    // Mallory signs, claiming to be alice, with her own device certificate: the certificate is not alice's.
    const m = decode(Notification, note(mallory.device, bob.address));
    const claimed = encode(NotificationBody, { ...decode(NotificationBody, m.body), sender: alice.identity.typedKey });
    expectCode(await post(signBytes(Notification, LABELS.notification, claimed, mallory.device)), 'CERT_INVALID');
    // The certificate field is not signed: a swapped-in certificate fails on its own.
    expectCode(await post(encode(Notification, { ...decode(Notification, note(alice.device, bob.address)), cert: decode(Notification, note(mallory.device, bob.address)).cert! })), 'CERT_INVALID');
  });

  test("signed with the sender's store-delegate key → 403 CERT_PURPOSE", async () => {
    expectCode(await post(note(alice.delegate, bob.address)), 'CERT_PURPOSE');
  });

  test("from a store the sender's own stores assertion does not name → 403 STORE_NOT_AUTHORIZED", async () => {
    // Mallory, served at A, publishes a stores assertion naming another store.
    expectCode(await post(note(mallory.device, bob.address, { store: A.url })), 'STORE_NOT_AUTHORIZED');
    // Alice's notification claiming a store that knows nothing of her: discovery fails there.
    expectCode(await post(note(alice.device, bob.address, { store: C.url })), 'DISCOVERY_FAILED');
  });

  test('expired → 400 EXPIRED; not yet valid → 400 NOT_YET_VALID; lifetime out of range → 400 WIRE_BAD_TYPE', async () => {
    expectCode(await post(note(alice.device, bob.address, { time: now() - 20 * 86400, expires: now() - 10 * 86400 })), 'EXPIRED');
    expectCode(await post(note(alice.device, bob.address, { time: now() + 3600, expires: now() + 7200 })), 'NOT_YET_VALID');
    const body = decode(NotificationBody, decode(Notification, note(alice.device, bob.address)).body);
    expectCode(await post(rawNote(alice.device, { ...body, expires: body.time + 31 * 86400 })), 'WIRE_BAD_TYPE');
    expectCode(await post(rawNote(alice.device, { ...body, expires: body.time - 1 })), 'WIRE_BAD_TYPE');
  });

  test('a store URL that is not an https origin → 400 WIRE_BAD_TYPE', async () => {
    const body = decode(NotificationBody, decode(Notification, note(alice.device, bob.address)).body);
    for (const store of ['ftp://127.0.0.1', 'http://example.com', `${A.url}/`, 'https://x.example/path', 'not a url']) {
      expectCode(await post(rawNote(alice.device, { ...body, store })), 'WIRE_BAD_TYPE');
    }
  });

  test('for a recipient not served here → 403 NOT_A_RECIPIENT', async () => {
    expectCode(await post(note(alice.device, dave.address)), 'NOT_A_RECIPIENT');
    expectCode(await post(note(alice.device, bob.address), A), 'NOT_A_RECIPIENT'); // bob is at B, not A
  });

  test('from a blocked sender → 403 BLOCKED', async () => {
    expect((await signedJson(bob.device, B, 'POST', '/v1/blocks', JSON.stringify({ sender: addressToText(dave.address) }))).status).toBe(200);
    expectCode(await post(note(dave.device, bob.address)), 'BLOCKED');
  });

  test('a stranger without the proof of work the recipient demands → 402 POW_MISSING / POW_INSUFFICIENT', async () => {
    expectCode(await post(note(alice.device, carol.address)), 'POW_MISSING');
    // A random stamp has 20 leading zero bits with probability 2^-20.
    expectCode(await post(note(alice.device, carol.address, { pow: rnd(8) })), 'POW_INSUFFICIENT');
    // A contact pays nothing.
    expect((await signedJson(carol.device, B, 'POST', '/v1/contacts', JSON.stringify({ address: addressToText(alice.address) }))).status).toBe(200);
    expect((await post(note(alice.device, carol.address))).status).toBe(202);
  });

  test('a stranger is greylisted (429 GREYLISTED, Retry-After), then rate-limited (429 RATE_LIMITED, Retry-After)', async () => {
    const g = await post(note(alice.device, gina.address), C);
    expectCode(g, 'GREYLISTED');
    expect(Number(g.retryAfter)).toBeGreaterThan(0);
    expectCode(await post(note(alice.device, gina.address), C), 'GREYLISTED');
    const r = await post(note(alice.device, gina.address), C);
    expectCode(r, 'RATE_LIMITED');
    expect(Number(r.retryAfter)).toBeGreaterThan(0);
  });

  test('a batch answers each notification in order, and the batch format itself is checked', async () => {
    const ok = note(alice.device, bob.address);
    const r = await call(B.url, 'POST', '/v1/notifications/batch', {
      body: encode(NotificationBatch, {
        notifications: [ok, ok, flipSig(Notification, note(alice.device, bob.address)), note(alice.device, dave.address), note(alice.device, bob.address, { time: now() - 20 * 86400, expires: now() - 10 * 86400 }), Uint8Array.of(0xc1), note(mallory.device, bob.address)],
      }),
    });
    expect(r.status).toBe(200);
    const results = r.json.results as Record<string, unknown>[];
    expect(results.map((x) => x.status ?? x.error)).toEqual(['accepted', 'duplicate', 'BAD_SIGNATURE', 'NOT_A_RECIPIENT', 'EXPIRED', 'WIRE_BAD_TYPE', 'STORE_NOT_AUTHORIZED']);
    for (const x of results) {
      if (x.error === undefined) continue;
      expect(isErrorCode(x.error as string)).toBe(true);
      expect(String(x.message)).not.toMatch(STACK);
    }
    // 1001 tiny entries: more than a batch may hold. None: fewer than it must.
    expectCode(await call(B.url, 'POST', '/v1/notifications/batch', { body: concat(Uint8Array.of(0x81, 0x01, 0xdc, 0x03, 0xe9), new Uint8Array(1001 * 2).fill(0).map((_, i) => (i % 2 ? 0 : 0xc4))) }), 'WIRE_TOO_LARGE');
    expectCode(await call(B.url, 'POST', '/v1/notifications/batch', { body: Uint8Array.of(0x81, 0x01, 0x90) }), 'WIRE_BAD_TYPE');
    expectCode(await call(B.url, 'POST', '/v1/notifications/batch', { body: concat(Uint8Array.of(0x81, 0x01, 0x91, 0xc5, 0x04, 0x01), new Uint8Array(1025)) }), 'WIRE_TOO_LARGE');
  });
});

/** An Upload of a fresh message from `from` to `to`, as the client library builds it. */
function upload(from: Member, to: User[], o: { change?: (n: NoteBody, i: number) => NoteBody; storeHint?: string } = {}) {
  const draft = { to: to.map((u) => u.address), cc: [], subject: 's', date: now(), parents: [], body: 'hello', attachments: [] };
  const { envelope, id } = sealEnvelope({ author: from.device, draft, recipients: to.map((u) => ({ address: u.address, encryptionKey: u.enc.publicKey })), random: systemRandom });
  const t = now();
  const routes = to.map((u, i) => {
    const body: NoteBody = { recipient: u.address, sender: from.identity.typedKey, store: from.s.url, id, size: envelope.length, time: t, expires: t + 86400 };
    return { store: o.storeHint ?? B.url, notification: rawNote(from.device, o.change ? o.change(body, i) : body) };
  });
  return { id, body: encode(Upload, { envelope, routes }) };
}

describe('uploads (POST /v1/messages)', () => {
  const put = (u: Member, body: Uint8Array) => signed(u.device, u.s, 'POST', '/v1/messages', body);

  test('notifications that do not match the upload are refused with their exact code', async () => {
    expectCode(await put(alice, upload(mallory, [bob]).body), 'SUBJECT_MISMATCH'); // another sender's
    expectCode(await put(alice, upload(alice, [bob], { change: (n) => ({ ...n, id: rnd(32) }) }).body), 'CONTENT_HASH_MISMATCH');
    expectCode(await put(alice, upload(alice, [bob], { change: (n) => ({ ...n, size: n.size + 1 }) }).body), 'INVALID_ARGUMENT');
    expectCode(await put(alice, upload(alice, [bob], { change: (n) => ({ ...n, store: B.url }) }).body), 'SUBJECT_MISMATCH');
    expectCode(await put(alice, upload(alice, [bob, carol], { change: (n) => ({ ...n, recipient: bob.address }) }).body), 'INVALID_ARGUMENT');
    expectCode(await put(alice, upload(alice, [bob], { change: (n) => ({ ...n, time: now() - 20 * 86400, expires: now() - 10 * 86400 }) }).body), 'EXPIRED');
    expectCode(await put(alice, upload(alice, [bob], { storeHint: 'ftp://x.example' }).body), 'WIRE_BAD_TYPE');
  });

  test('a notification with a bad signature is taken, refused by the recipient store, and shown as BAD_SIGNATURE, never resent', async () => {
    // The sender store checks claims, not signatures (readOwnNotification): the recipient's store verifies.
    const forged = decode(Upload, upload(alice, [bob]).body);
    forged.routes[0]!.notification = flipSig(Notification, forged.routes[0]!.notification);
    const r = await put(alice, encode(Upload, forged));
    expect(r.status).toBe(201);
    const id = toHex(crypto().sha256(forged.envelope));
    const row = async () => ((await signed(alice.device, A, 'GET', `/v1/messages/${id}`)).json as { recipients: { status: string; attempts: number; lastError: string | null }[] }).recipients[0]!;
    const deadline = Date.now() + 10_000;
    while ((await row()).lastError === null && Date.now() < deadline) await new Promise((w) => setTimeout(w, 50));
    expect(await row()).toMatchObject({ status: 'pending', attempts: 1, lastError: 'BAD_SIGNATURE' });
    // TEST_CONFIG retries after 1-2 s: a final refusal is not retried.
    await new Promise((w) => setTimeout(w, 2500));
    expect((await row()).attempts).toBe(1);
    expect(inboxById(B, bob.address, id)).toBeUndefined();
  });

  test("a valid upload, read back; another user cannot read or unsend it", async () => {
    const { id, body } = upload(alice, [bob]);
    expect((await put(alice, body)).status).toBe(201);
    expect((await put(alice, body)).status).toBe(200); // repeated upload
    expect((await signed(alice.device, A, 'GET', `/v1/messages/${toHex(id)}`)).status).toBe(200);
    expectCode(await signed(mallory.device, A, 'GET', `/v1/messages/${toHex(id)}`), 'NOT_FOUND');
    const list = encode(RetractionList, { retractions: [makeRetraction({ sender: mallory.device, id, recipient: bob.address, time: now() })] });
    expectCode(await signed(mallory.device, A, 'DELETE', `/v1/messages/${toHex(id)}`, list), 'NOT_FOUND');
    // alice unsending with mallory's retraction, or one for another message.
    expectCode(await signed(alice.device, A, 'DELETE', `/v1/messages/${toHex(id)}`, list), 'SUBJECT_MISMATCH');
    const other = encode(RetractionList, { retractions: [makeRetraction({ sender: alice.device, id: rnd(32), recipient: bob.address, time: now() })] });
    expectCode(await signed(alice.device, A, 'DELETE', `/v1/messages/${toHex(id)}`, other), 'SUBJECT_MISMATCH');
  });
});

describe('fetch, receipts and retractions', () => {
  let id: Uint8Array; // alice → bob, delivered
  let gone: Uint8Array; // alice → dave, unsent before dave fetched
  beforeAll(async () => {
    const u = upload(alice, [bob]);
    id = u.id;
    expect((await signed(alice.device, A, 'POST', '/v1/messages', u.body)).status).toBe(201);
    const g = upload(alice, [dave]);
    gone = g.id;
    expect((await signed(alice.device, A, 'POST', '/v1/messages', g.body)).status).toBe(201);
    const list = encode(RetractionList, { retractions: [makeRetraction({ sender: alice.device, id: gone, recipient: dave.address, time: now() })] });
    const r = await signed(alice.device, A, 'DELETE', `/v1/messages/${toHex(gone)}`, list);
    expect(r.json).toEqual({ withdrawn: [addressToText(dave.address)] });
  });
  const fetchReq = (who: Signer, o: { id?: Uint8Array; store?: string; time?: number } = {}) =>
    makeFetchRequest({ requester: who, id: o.id ?? id, store: o.store ?? A.url, time: o.time ?? now(), random: systemRandom });
  const fetchAt = (b: Uint8Array) => call(A.url, 'POST', '/v1/fetch', { body: b });

  test('a recipient fetches the envelope; the same request again → 409 REPLAY', async () => {
    const req = fetchReq(bob.device);
    const r = await fetchAt(req);
    expect(r.status).toBe(200);
    expect(toHex(crypto().sha256(r.bytes))).toBe(toHex(id));
    expectCode(await fetchAt(req), 'REPLAY');
    expect((await fetchAt(fetchReq(bob.delegate))).status).toBe(200); // the store delegate may fetch
  });

  test('wrong store → 400 SUBJECT_MISMATCH; stale → 400 EXPIRED; future → 400 NOT_YET_VALID; forged → 401 BAD_SIGNATURE', async () => {
    expectCode(await fetchAt(fetchReq(bob.device, { store: B.url })), 'SUBJECT_MISMATCH');
    expectCode(await fetchAt(fetchReq(bob.device, { time: now() - 2000 })), 'EXPIRED');
    expectCode(await fetchAt(fetchReq(bob.device, { time: now() + 2000 })), 'NOT_YET_VALID');
    expectCode(await fetchAt(flipSig(FetchRequest, fetchReq(bob.device))), 'BAD_SIGNATURE');
    expectCode(await fetchAt(swapBody(FetchRequest, FetchRequestBody, fetchReq(mallory.device), (b) => ({ ...b, requester: bob.identity.typedKey }))), 'CERT_INVALID');
  });

  test('not a recipient → 403 NOT_A_RECIPIENT; unknown → 404 NOT_FOUND; unsent → 410 GONE', async () => {
    expectCode(await fetchAt(fetchReq(mallory.device)), 'NOT_A_RECIPIENT');
    expectCode(await fetchAt(fetchReq(bob.device, { id: rnd(32) })), 'NOT_FOUND');
    expectCode(await fetchAt(fetchReq(dave.device, { id: gone })), 'GONE');
  });

  test('receipts: confirmed, or a typed refusal', async () => {
    const rc = (who: Signer, o: { id?: Uint8Array; time?: number } = {}) => makeReceipt({ recipient: who, id: o.id ?? id, time: o.time ?? now() });
    const at = (b: Uint8Array) => call(A.url, 'POST', '/v1/receipts', { body: b });
    expect((await at(rc(bob.delegate))).json).toEqual({ status: 'confirmed' });
    expectCode(await at(rc(bob.device, { id: rnd(32) })), 'NOT_FOUND');
    expectCode(await at(rc(mallory.device)), 'NOT_FOUND');
    expectCode(await at(rc(bob.device, { time: now() - 2000 })), 'EXPIRED');
    expectCode(await at(rc(bob.device, { time: now() + 2000 })), 'NOT_YET_VALID');
    expectCode(await at(flipSig(Receipt, rc(bob.device))), 'BAD_SIGNATURE');
  });

  test('retractions: only the sender can withdraw, only for a recipient served here', async () => {
    const rt = (who: Signer, o: { id?: Uint8Array; to?: Uint8Array; time?: number } = {}) =>
      makeRetraction({ sender: who, id: o.id ?? id, recipient: o.to ?? bob.address, time: o.time ?? now() });
    const at = (b: Uint8Array) => call(B.url, 'POST', '/v1/retractions', { body: b });
    expect((await at(rt(alice.device, { id: rnd(32) }))).json).toEqual({ status: 'too-late' });
    // mallory "retracts" alice's message to bob: nothing happens to it.
    const n = note(alice.device, bob.address);
    expect((await call(B.url, 'POST', '/v1/notifications', { body: n })).status).toBe(202);
    const nid = decode(NotificationBody, decode(Notification, n).body).id;
    expect((await at(rt(mallory.device, { id: nid }))).json).toEqual({ status: 'too-late' });
    const held = inboxById(B, bob.address, nid);
    expect(held).toBeDefined();
    expect(held!.state).not.toBe('retracted');
    expectCode(await at(rt(alice.device, { to: dave.address })), 'NOT_A_RECIPIENT');
    expectCode(await at(rt(alice.device, { time: now() + 2000 })), 'NOT_YET_VALID');
    expectCode(await at(flipSig(Retraction, rt(alice.device))), 'BAD_SIGNATURE');
    expectCode(await at(rt(alice.delegate)), 'CERT_PURPOSE');
  });
});

describe('a hostile sender store (the recipient fetches through its own store)', () => {
  let nid: number; // the item's seq at B
  beforeAll(async () => {
    const n = note(sam.device, bob.address, { store: evilUrl });
    expect((await call(B.url, 'POST', '/v1/notifications', { body: n })).status).toBe(202);
    nid = seqOf(B, bob.address, decode(NotificationBody, decode(Notification, n).body).id);
  });

  test('other bytes than notified → 400 CONTENT_HASH_MISMATCH', async () => {
    evilMode = 'garbage';
    expectCode(await signed(bob.device, B, 'GET', `/v1/inbox/${nid}`), 'CONTENT_HASH_MISMATCH');
  });

  test('an error page → 503 UNAVAILABLE', async () => {
    evilMode = 'error';
    expectCode(await signed(bob.device, B, 'GET', `/v1/inbox/${nid}`), 'UNAVAILABLE');
    expectCode(await signed(bob.device, B, 'POST', `/v1/inbox/${nid}/confirm`), 'UNAVAILABLE');
  });

  test('a connection reset → 503 UNAVAILABLE, not 500', async () => {
    evilMode = 'reset';
    expectCode(await signed(bob.device, B, 'GET', `/v1/inbox/${nid}`), 'UNAVAILABLE');
    expectCode(await signed(bob.device, B, 'POST', `/v1/inbox/${nid}/confirm`), 'UNAVAILABLE');
  });
});

// ---- assertions and discovery ------------------------------------------------------------------------

describe('assertions (PUT /v1/me/assertions)', () => {
  const publish = (u: Member, ...assertions: Uint8Array[]) => signed(u.device, u.s, 'PUT', '/v1/me/assertions', encode(AssertionBundle, { assertions }));

  test('a rolled-back assertion (lower seq than published) → 400 ROLLBACK, and the newer one stays', async () => {
    const five = storesOf(alice, A.url, 5);
    expect((await publish(alice, five)).json).toEqual({ stored: 1 });
    expectCode(await publish(alice, storesOf(alice, A.url, 3)), 'ROLLBACK');
    expectCode(await publish(alice, storesOf(alice, 'https://attacker.example', 4)), 'ROLLBACK');
    const wk = await call(A.url, 'GET', `/.well-known/keypost/${addressToText(alice.address)}`);
    expect(wk.status).toBe(200);
    expect(decode(AssertionBundle, wk.bytes).assertions.map(toHex)).toContain(toHex(five));
  });

  test('about another address → 400 SUBJECT_MISMATCH', async () => {
    expectCode(await publish(alice, storesOf(mallory, A.url, 9)), 'SUBJECT_MISMATCH');
  });

  test('expired → 400 EXPIRED; not yet valid → 400 NOT_YET_VALID', async () => {
    expectCode(await publish(alice, assertion(alice, 10, { type: 'stores', stores: [{ priority: 1, url: A.url }] }, now() - 3 * 86400, now() - 2 * 86400)), 'EXPIRED');
    expectCode(await publish(alice, assertion(alice, 10, { type: 'stores', stores: [{ priority: 1, url: A.url }] }, now() + 86400, now() + 2 * 86400)), 'NOT_YET_VALID');
  });

  test('forged → 401 BAD_SIGNATURE; signed by a device key → 403 CERT_PURPOSE', async () => {
    expectCode(await publish(alice, flipSig(Assertion, storesOf(alice, A.url, 6))), 'BAD_SIGNATURE');
    const body = decode(Assertion, storesOf(alice, A.url, 6)).body;
    expectCode(await publish(alice, signBytes(Assertion, LABELS.assertion, body, alice.device)), 'CERT_PURPOSE');
    expectCode(await publish(alice, swapBody(Assertion, AssertionBody, storesOf(alice, A.url, 6), (b) => ({ ...b, seq: 1000 }))), 'BAD_SIGNATURE');
  });

  test('bad content and too many → typed errors', async () => {
    const nine = Array.from({ length: 9 }, () => storesOf(alice, A.url, 5));
    expectCode(await signed(alice.device, A, 'PUT', '/v1/me/assertions', concat(Uint8Array.of(0x81, 0x01, 0x99), ...nine.map((a) => concat(a.length < 256 ? Uint8Array.of(0xc4, a.length) : Uint8Array.of(0xc5, a.length >> 8, a.length & 0xff), a)))), 'WIRE_TOO_LARGE');
    const ab = decode(AssertionBody, decode(Assertion, storesOf(alice, A.url, 7)).body);
    const sign = (b: typeof ab) => signBytes(Assertion, LABELS.assertion, encode(AssertionBody, b), identitySigner(alice.identity));
    expectCode(await publish(alice, sign({ ...ab, type: 9 })), 'WIRE_BAD_TYPE');
    expectCode(await publish(alice, sign({ ...ab, content: Uint8Array.of(0x80) })), 'WIRE_MISSING_FIELD');
    expectCode(await publish(alice, sign({ ...ab, notAfter: ab.notBefore - 1 })), 'WIRE_BAD_TYPE');
    expectCode(await publish(alice, assertion(alice, 7, { type: 'stores', stores: [{ priority: 1, url: A.url }] }), Uint8Array.of(0xc1)), 'WIRE_BAD_TYPE');
  });

  test('delegate certificates (PUT /v1/me/delegate) are checked too', async () => {
    const put = (cert: Uint8Array) => signed(alice.device, A, 'PUT', '/v1/me/delegate', cert);
    const cert = (o: { purpose?: number; who?: User; from?: number; to?: number } = {}) =>
      certifySubkey({ identity: (o.who ?? alice).identity, purpose: (o.purpose ?? PURPOSE.storeDelegate) as 1 | 3, subkey: alice.delegateKey, notBefore: o.from ?? now() - 60, notAfter: o.to ?? now() + 86400 });
    expect((await put(cert())).status).toBe(200);
    expectCode(await put(cert({ purpose: PURPOSE.device })), 'CERT_INVALID');
    expectCode(await put(cert({ who: mallory })), 'CERT_INVALID');
    expectCode(await put(flipSig(SubkeyCert, cert())), 'BAD_SIGNATURE');
    expectCode(await put(cert({ from: now() - 3 * 86400, to: now() - 2 * 86400 })), 'EXPIRED');
    // A proper certificate, but of another key than the store's delegate key for alice.
    const other = certifySubkey({ identity: alice.identity, purpose: PURPOSE.storeDelegate, subkey: SigningKey.generate(systemRandom).publicKey, notBefore: now() - 60, notAfter: now() + 86400 });
    expectCode(await put(other), 'CERT_INVALID');
    expect((await put(cert())).status).toBe(200);
  });

  test('more devices (POST /v1/me/devices): only device certificates of the user, for keys no one else registered', async () => {
    const add = (cert: Uint8Array, by: Signer = alice.device) => signed(by, A, 'POST', '/v1/me/devices', cert);
    const key = SigningKey.generate(systemRandom);
    const cert = (o: { purpose?: 1 | 3; who?: User; subkey?: Uint8Array; from?: number; to?: number } = {}) =>
      certifySubkey({ identity: (o.who ?? alice).identity, purpose: o.purpose ?? PURPOSE.device, subkey: o.subkey ?? key.publicKey, notBefore: o.from ?? now() - 60, notAfter: o.to ?? now() + 86400 });
    const second = subkeySigner(alice.identity.typedKey, key, cert());
    expectCode(await signed(second, A, 'GET', '/v1/inbox'), 'NOT_REGISTERED');
    expectCode(await add(cert({ purpose: PURPOSE.storeDelegate })), 'CERT_INVALID');
    expectCode(await add(cert({ who: mallory })), 'CERT_INVALID');
    expectCode(await add(flipSig(SubkeyCert, cert())), 'BAD_SIGNATURE');
    expectCode(await add(cert({ from: now() - 3 * 86400, to: now() - 2 * 86400 })), 'EXPIRED');
    expectCode(await add(cert({ subkey: mallory.device.key.publicKey })), 'INVALID_ARGUMENT'); // mallory's registered device
    expectCode(await add(cert(), alice.delegate), 'CERT_PURPOSE');
    expectCode(await add(cert(), newDevice(alice)), 'NOT_REGISTERED');
    const r = await add(cert());
    expect([r.status, r.json]).toEqual([201, { device: toHex(key.publicKey) }]);
    expect((await signed(second, A, 'GET', '/v1/inbox')).status).toBe(200);
  });
});

describe('well-known', () => {
  const wk = (p: string) => call(A.url, 'GET', `/.well-known/keypost/${p}`);
  test('a published address is served; unknown → 404; malformed → 400', async () => {
    const r = await wk(addressToText(alice.address));
    expect(r.status).toBe(200);
    expect(r.bytes.length).toBeGreaterThan(0);
    expect((await wk(addressToText(alice.address).toUpperCase())).status).toBe(200);
    expectCode(await wk(addressToText(dave.address)), 'NOT_FOUND');
    expectCode(await wk('kp1'), 'ADDRESS_MALFORMED');
    expectCode(await wk('x'.repeat(61)), 'ADDRESS_MALFORMED');
    expectCode(await wk('kp1' + 'b'.repeat(58)), 'ADDRESS_MALFORMED');
    const t = addressToText(alice.address);
    expectCode(await wk(t.slice(0, -1) + (t.endsWith('q') ? 'p' : 'q')), 'ADDRESS_CHECKSUM');
    expectCode(await wk(encodeURIComponent('kp1' + 'ſ'.repeat(58))), 'ADDRESS_MALFORMED');
  });
  test('names: bad hash → 400 INVALID_ARGUMENT; unknown → 404', async () => {
    expectCode(await wk('name/xyz'), 'INVALID_ARGUMENT');
    expectCode(await wk(`name/${'A'.repeat(56)}`), 'INVALID_ARGUMENT');
    expectCode(await wk(`name/${'a'.repeat(56)}`), 'NOT_FOUND');
  });
  test('CORS preflight', async () => {
    const r = await call(A.url, 'OPTIONS', `/.well-known/keypost/${addressToText(alice.address)}`);
    expect(r.status).toBe(204);
  });
  test('URLs the router itself refuses are answered in the same format', async () => {
    expectCode(await wk('%ff'), 'INVALID_ARGUMENT');
    expectCode(await wk('%zz'), 'INVALID_ARGUMENT');
    expectCode(await wk('x'.repeat(1000)), 'INVALID_ARGUMENT'); // longer than the router's parameter limit
    expectCode(await call(A.url, 'GET', '/nothing/here'), 'NOT_FOUND');
    expectCode(await call(A.url, 'PATCH', '/v1/notifications'), 'NOT_FOUND');
    expectCode(await call(A.url, 'GET', '/v1/notifications'), 'NOT_FOUND');
  });
});

test('a request that arrives while the store shuts down → 503 UNAVAILABLE, in the same format', async () => {
  const D = await startStore({ dataDir: join(dir, 'd'), config: TEST_CONFIG });
  const u = new URL(D.url);
  const s = connect(Number(u.port), u.hostname);
  const got: Buffer[] = [];
  s.on('data', (c: Buffer) => got.push(c));
  s.on('error', () => {});
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await new Promise((r) => s.once('connect', r));
  // A request in flight (half its body sent) keeps the connection open while the store closes...
  s.write(head('POST', '/v1/notifications', { 'content-type': 'application/octet-stream', 'content-length': 4 }) + 'ab');
  await sleep(100);
  const closed = D.close();
  await sleep(100);
  // ...then the rest of it, and another request behind it on the same connection.
  s.write('cd' + head('GET', '/v1/health', {}));
  await Promise.race([new Promise((r) => s.once('close', r)), sleep(3000)]);
  s.destroy();
  await closed;
  expect(checkRaw(parseResponses(Buffer.concat(got)))).toEqual(['WIRE_MALFORMED', 'UNAVAILABLE']);
});

test('after all of this every store still answers, and every error answer above was checked in full', async () => {
  for (const s of [A, B, C]) expect((await call(s.url, 'GET', '/v1/health')).json).toEqual({ status: 'ok' });
  expect(errorsChecked).toBeGreaterThan(300);
});
