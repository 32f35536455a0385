/**
 * Fuzzing running stores over real HTTP (issue point 7): random bytes, mutations of valid
 * bodies, random msgpack, random headers, paths and queries, against every route, and
 * random bytes on a raw socket. Whatever comes in, the answer is a success or a
 * well-formed `{error, message}` with the status of its code, never a 500; nothing
 * escapes as an uncaught exception; and the stores still work afterwards.
 *
 * Runs per property: FUZZ_RUNS (default 300, about 15 s for the file on an idle machine), and at
 * most FUZZ_MS per property (default 2 000; 25 properties), so a loaded machine stays under a minute.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { concat, toHex, utf8 } from '../src/bytes/index.js';
import { StoreClient } from '../src/client/store-client.js';
import { systemRandom } from '../src/crypto/index.js';
import { isErrorCode, type ErrorCode } from '../src/errors.js';
import { addressToText, SigningKey } from '../src/identity/index.js';
import {
  certifySubkey,
  revokeKey,
  makeAssertion,
  makeFetchRequest,
  makeNotification,
  makeReceipt,
  makeRequestAuth,
  makeRetraction,
  PURPOSE,
  sealEnvelope,
  type Signer,
} from '../src/protocol/index.js';
import { startStore, type RunningStore } from '../src/server/server.js';
import { HTTP_STATUS } from '../src/server/status.js';
import { decode, encode } from '../src/wire/index.js';
import { AssertionBundle, Notification, NotificationBatch, RetractionList, Upload } from '../src/wire/schema.js';
import { makeUser, type User } from './helpers.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** Each property also stops after this long (a loaded machine runs fewer cases, never a longer file). */
const LIMIT_MS = Number(process.env.FUZZ_MS ?? 2000);
const budget = { numRuns: RUNS, interruptAfterTimeLimit: LIMIT_MS, markInterruptAsFailure: false };
const now = () => Math.floor(Date.now() / 1000);

// ---- the oracle --------------------------------------------------------------------------

const STACK = /\n\s+at |\bat [\w$.<>]+ \(|[\w./-]+\.(?:ts|js|mjs|cjs):\d+/;
const PATHS = /node_modules|file:\/\/|(?:^|[\s"'(])\/(?:work|home|tmp|usr|root)\//;

/** Throws (for fast-check to shrink) unless the answer is a success or a well-formed typed error. */
function oracle(status: number, type: string | null | undefined, text: string, what: string): ErrorCode | 'ok' {
  const where = `${what} → ${status} ${text.slice(0, 300)}`;
  expect(status, where).not.toBe(500);
  expect(status, where).toBeGreaterThanOrEqual(200);
  if (status < 400) return 'ok';
  expect(type ?? '', where).toMatch(/^application\/json\b/);
  let o: Record<string, unknown> = {};
  expect(() => (o = JSON.parse(text) as Record<string, unknown>), where).not.toThrow();
  expect(o !== null && typeof o === 'object' && !Array.isArray(o), where).toBe(true);
  expect(Object.keys(o).sort(), where).toEqual(['error', 'message']);
  expect(typeof o.error === 'string' && isErrorCode(o.error), where).toBe(true);
  const code = o.error as ErrorCode;
  expect(code, where).not.toBe('INTERNAL');
  expect(status, where).toBe(HTTP_STATUS[code]);
  expect(typeof o.message === 'string' && o.message.startsWith(`${code}:`), where).toBe(true);
  expect(text, where).not.toMatch(STACK);
  expect(text, where).not.toMatch(PATHS);
  return code;
}

const seen = new Map<string, number>();
const count = (k: string) => seen.set(k, (seen.get(k) ?? 0) + 1);

interface Req {
  method: string;
  path: string;
  body?: Uint8Array;
  headers: Record<string, string>;
}

async function send(base: string, r: Req, label: string): Promise<{ status: number; json: any }> {
  const res = await fetch(base + r.path, { method: r.method, headers: r.headers, ...(r.body ? { body: r.body } : {}) });
  const text = await res.text();
  const code = oracle(res.status, res.headers.get('content-type'), text, `${label}: ${r.method} ${r.path}`);
  count(`${label} ${code}`);
  let json: any;
  if (res.headers.get('content-type')?.startsWith('application/json')) json = JSON.parse(text);
  // A batch answers per notification: each error there must be a code too.
  if (json && Array.isArray(json.results)) {
    for (const x of json.results as Record<string, unknown>[]) {
      if (x.error === undefined) expect(['accepted', 'duplicate']).toContain(x.status);
      else {
        expect(isErrorCode(String(x.error)) && x.error !== 'INTERNAL', JSON.stringify(x)).toBe(true);
        expect(String(x.message ?? '')).not.toMatch(STACK);
      }
    }
  }
  return { status: res.status, json };
}

// ---- generators ------------------------------------------------------------------------------

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true });

/** Any msgpack value: keypost's data model and what lies outside it (floats, nil, negatives). */
const { value: msgpackValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.nat(),
    fc.integer(),
    fc.boolean(),
    fc.string({ maxLength: 40 }),
    fc.uint8Array({ maxLength: 80 }),
    fc.constant(null),
    fc.double(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(9), tie('value')), { maxLength: 5 }).map((e) => new Map(e)),
  ),
}));
const msgpack = msgpackValue.map((v) => new Uint8Array(packr.pack(v)));

type Edit = { op: number; pos: number; val: number; bytes: Uint8Array };
const edits = fc.array(fc.record({ op: fc.nat(6), pos: fc.nat(), val: fc.nat(255), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }), { minLength: 1, maxLength: 4 });

/** Bit flips, byte sets, truncations, insertions, deletions, appended and repeated bytes. */
function mutate(base: Uint8Array, es: Edit[]): Uint8Array {
  let b: Uint8Array = base.slice();
  for (const e of es) {
    const i = b.length ? e.pos % b.length : 0;
    switch (e.op) {
      case 0: if (b.length) b[i]! ^= 1 << (e.val % 8); break;
      case 1: if (b.length) b[i] = e.val; break;
      case 2: b = b.slice(0, i); break;
      case 3: b = concat(b.subarray(0, i), e.bytes, b.subarray(i)); break;
      case 4: b = concat(b.subarray(0, i), b.subarray(Math.min(b.length, i + 1 + (e.val % 16)))); break;
      case 5: b = concat(b, e.bytes); break;
      default: b = concat(b, b.subarray(i, i + 1 + e.val)); break;
    }
  }
  return b;
}
const mutated = (samples: () => Uint8Array[]) => fc.tuple(fc.nat(), edits).map(([k, es]) => {
  const s = samples();
  return mutate(s[k % s.length]!, es);
});

/** Printable header values (what fetch lets through), sometimes long. */
const headerText = fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 80 }).map((a) => String.fromCharCode(...a));

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/octet-stream') },
  { weight: 2, arbitrary: fc.constant('application/json') },
  fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream; charset=utf-8', 'APPLICATION/JSON', ';', '*/*', ''),
  headerText,
  fc.constant(undefined),
);

const extraHeaders = fc.dictionary(
  fc.constantFrom('accept', 'content-encoding', 'x-forwarded-for', 'x-kp', 'accept-version', 'range', 'if-none-match', 'origin', 'cookie'),
  headerText,
  { maxKeys: 3 },
);

/** A path segment: valid-looking ids, random text percent-encoded, or raw escapes. */
const segment = (valid: () => string[]) =>
  fc.oneof(
    fc.nat().map((k) => valid()[k % valid().length]!),
    fc.stringMatching(/^[0-9a-f]{64}$/),
    fc.string({ maxLength: 80 }).map(encodeURIComponent),
    fc.constantFrom('%ff', '%zz', '%', '..', '%2e%2e', '%00', 'x'.repeat(300), ''),
  );

// ---- the network --------------------------------------------------------------------------------

let dir: string;
let A: RunningStore;
let B: RunningStore;
interface Member extends User {
  c: StoreClient;
  s: RunningStore;
}
let alice: Member; // sends from A
let bob: Member; // receives at B
let fred: Member; // the user the signed-route fuzzing acts as (on A)
const dave = makeUser('fuzz-dave', now()); // registered nowhere
let msgId: Uint8Array; // alice → bob, uploaded and delivered
let fredMsg: string; // fred → dave, so DELETE /v1/messages/<id> reaches the body
let bobItem: string; // an item in bob's inbox
let fredItem: number; // the seq of an item in fred's inbox, so the /v1/inbox/:seq handlers find one

const escaped: unknown[] = [];
const onEscape = (e: unknown) => escaped.push(e);

async function join_(s: RunningStore, name: string): Promise<Member> {
  const u = makeUser(name, now());
  const c = new StoreClient({ url: s.url, signer: u.device });
  await c.register(await s.store.users.createInvite(), u.identity);
  const t = now();
  await c.publish([
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'stores', stores: [{ priority: 10, url: s.url }] } }),
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'keys', keys: [{ purpose: 2, key: u.enc.publicKey, notAfter: t + 86400 }] } }),
  ]);
  return { ...u, c, s };
}

const note = (from: Signer, to: Uint8Array, store: string) =>
  makeNotification({ sender: from, recipient: { address: to }, store, id: systemRandom(32), size: 1000, time: now(), expires: now() + 86400, random: systemRandom });

function upload(from: Member, to: User) {
  const draft = { to: [to.address], cc: [], subject: 'fuzz', date: now(), parents: [], body: 'x', attachments: [] };
  const { envelope, id } = sealEnvelope({ author: from.device, draft, recipients: [{ address: to.address, encryptionKey: to.enc.publicKey }], random: systemRandom });
  const notification = makeNotification({ sender: from.device, recipient: { address: to.address }, store: from.s.url, id, size: envelope.length, time: now(), expires: now() + 86400, random: systemRandom });
  return encode(Upload, { envelope, routes: [{ notification, store: B.url }] });
}

beforeAll(async () => {
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  dir = mkdtempSync(join(tmpdir(), 'kp-fuzz-'));
  // Generous per-sender limits: valid notifications may come back often, unchanged by a mutation.
  const config = { greylistSeconds: 0, perSenderPerMinute: 1_000_000, retryBase: 3600 };
  A = await startStore({ dataDir: join(dir, 'a'), config, workerIntervalMs: 500 });
  B = await startStore({ dataDir: join(dir, 'b'), config, workerIntervalMs: 500 });
  alice = await join_(A, 'fuzz-alice');
  bob = await join_(B, 'fuzz-bob');
  fred = await join_(A, 'fuzz-fred');
  const body = upload(alice, bob);
  msgId = Buffer.from(((await (await alice.c.request('POST', '/v1/messages', body)).json()) as { id: string }).id, 'hex');
  const n = note(alice.device, bob.address, A.url);
  await fetch(`${B.url}/v1/notifications`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: n });
  bobItem = (await bob.c.inbox()).items[0]!.id;
  await fetch(`${A.url}/v1/notifications`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: note(alice.device, fred.address, A.url) });
  fredItem = (await fred.c.inbox()).items[0]!.seq;
  expect(fredItem).toBeGreaterThan(0);
  fredMsg = ((await (await fred.c.request('POST', '/v1/messages', upload(fred, dave))).json()) as { id: string }).id;
});

afterAll(async () => {
  await A?.close();
  await B?.close();
  rmSync(dir, { recursive: true, force: true });
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
  // What the fuzzing reached, by route and answer: a quick look shows whether it got past decoding.
  if (process.env.FUZZ_STATS) console.log([...seen].sort().map(([k, v]) => `${k}: ${v}`).join('\n'));
});

// ---- public routes ------------------------------------------------------------------------------

interface PublicRoute {
  path: string;
  store: () => RunningStore;
  samples: () => Uint8Array[];
}
const cache: Record<string, Uint8Array[]> = {};
const samplesOf = (k: string, make: () => Uint8Array, n = 4) => () => (cache[k] ??= Array.from({ length: n }, make));

const PUBLIC: PublicRoute[] = [
  { path: '/v1/notifications', store: () => B, samples: samplesOf('n', () => note(alice.device, bob.address, A.url)) },
  {
    path: '/v1/notifications/batch',
    store: () => B,
    samples: samplesOf('b', () => encode(NotificationBatch, { notifications: [note(alice.device, bob.address, A.url), note(alice.device, dave.address, A.url)] })),
  },
  { path: '/v1/fetch', store: () => A, samples: samplesOf('f', () => makeFetchRequest({ requester: bob.device, id: msgId, store: A.url, time: now(), random: systemRandom })) },
  { path: '/v1/receipts', store: () => A, samples: samplesOf('r', () => makeReceipt({ recipient: bob.delegate, id: msgId, time: now() })) },
  { path: '/v1/retractions', store: () => B, samples: samplesOf('t', () => makeRetraction({ sender: alice.device, id: systemRandom(32), recipient: bob.address, time: now() })) },
];

/** Notifications inside a batch: valid, mutated, random. */
const batchOf = fc
  .array(fc.oneof(fc.constant('valid'), fc.tuple(fc.nat(), edits), fc.uint8Array({ minLength: 1, maxLength: 1024 })), { minLength: 1, maxLength: 6 })
  .map((items) => {
    const valid = samplesOf('n', () => note(alice.device, bob.address, A.url))();
    const notifications = items.map((x, i) => {
      if (x === 'valid') return valid[i % valid.length]!;
      if (x instanceof Uint8Array) return x;
      const m = mutate(valid[x[0] % valid.length]!, x[1]);
      return m.length >= 1 && m.length <= 1024 ? m : Uint8Array.of(0xc1);
    });
    return encode(NotificationBatch, { notifications });
  });

/** A signed container around a valid body with another signature, or around random bytes. */
const resigned = (samples: () => Uint8Array[]) =>
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.option(fc.uint8Array({ minLength: 1, maxLength: 200 })), fc.boolean()).map(([k, sig, body, dropCert]) => {
    const s = samples();
    const c = decode(Notification, s[k % s.length]!); // every signed container has the same shape
    const out: { body: Uint8Array; sig: Uint8Array; cert?: Uint8Array } = { body: body ?? c.body, sig };
    if (c.cert && !dropCert) out.cert = c.cert;
    return encode(Notification, out);
  });

describe('fuzzing the public routes', () => {
  for (const r of PUBLIC) {
    test(`POST ${r.path}: random, mutated, re-signed and random-msgpack bodies with random headers`, async () => {
      const body = fc.oneof(
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 1100 }) },
        { weight: 4, arbitrary: mutated(r.samples) },
        { weight: 2, arbitrary: msgpack },
        { weight: 1, arbitrary: r.path === '/v1/notifications/batch' ? batchOf : resigned(r.samples) },
        { weight: 1, arbitrary: fc.nat().map((k) => r.samples()[k % 4]!) },
      );
      await fc.assert(
        fc.asyncProperty(body, contentType, extraHeaders, async (b, type, extra) => {
          const headers: Record<string, string> = { ...extra };
          if (type !== undefined) headers['content-type'] = type;
          await send(r.store().url, { method: 'POST', path: r.path, body: b, headers }, r.path);
        }),
        budget,
      );
    });
  }

  test('GET /.well-known/keypost/…: random and mutated addresses and name hashes', async () => {
    const texts = () => [addressToText(alice.address), addressToText(bob.address), addressToText(dave.address)];
    const address = fc.oneof(
      segment(texts),
      fc.tuple(fc.nat(), fc.nat(60), fc.constantFrom(...'qpzry9x8gf2tvdw0s3jn54khce6mua7lbio1AQ-')).map(([k, i, ch]) => {
        const t = texts()[k % 3]!;
        return t.slice(0, i) + ch + t.slice(i + 1);
      }),
      segment(texts).map((s) => `name/${s}`),
      fc.stringMatching(/^[0-9a-f]{56}$/).map((h) => `name/${h}`),
    );
    await fc.assert(
      fc.asyncProperty(address, extraHeaders, async (p, headers) => {
        await send(A.url, { method: 'GET', path: `/.well-known/keypost/${p}`, headers }, 'well-known');
      }),
      budget,
    );
  });
});

// ---- signed user routes ---------------------------------------------------------------------------

interface UserRoute {
  method: string;
  /** The route, for test names and statistics. */
  name: string;
  path: fc.Arbitrary<string>;
  samples: () => Uint8Array[];
  json?: boolean;
  /** Who signs: fred (registered) unless this says otherwise. */
  as?: () => Signer;
}

const json = (v: unknown) => utf8(JSON.stringify(v));
const anyId = () => segment(() => [fredMsg, bobItem, toHex(msgId)]);
/** Inbox items are named by seq: real and well-formed seqs, numbers just outside the form, and any segment at all. */
const anySeq = () =>
  fc.oneof(
    fc.constant(null).map(() => String(fredItem)),
    fc.nat().map(String),
    fc.maxSafeNat().map(String),
    fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }).map(String),
    fc.constantFrom('0', '-1', '01', '00', '1.5', '1e3', '+1', '0x10', '%201', '1%00', '9007199254740992', '9007199254740993', '1'.repeat(17)),
    segment(() => [String(fredItem), bobItem]),
  );

const USER: UserRoute[] = [
  { method: 'POST', name: '/v1/register', path: fc.constant('/v1/register'), json: true, as: () => dave.device, samples: () => [json({ invite: 'AAAAAAAAAAAAAAAAAAAAAAAA' }), json({ invite: '' })] },
  {
    method: 'PUT',
    name: '/v1/me/delegate',
    path: fc.constant('/v1/me/delegate'),
    samples: samplesOf('d', () => certifySubkey({ identity: fred.identity, purpose: PURPOSE.storeDelegate, subkey: SigningKey.generate(systemRandom).publicKey, notBefore: now() - 60, notAfter: now() + 86400 }), 2),
  },
  {
    method: 'POST',
    name: '/v1/me/devices',
    path: fc.constant('/v1/me/devices'),
    samples: samplesOf('v', () => certifySubkey({ identity: fred.identity, purpose: PURPOSE.device, subkey: SigningKey.generate(systemRandom).publicKey, notBefore: now() - 60, notAfter: now() + 86400 }), 2),
  },
  {
    method: 'POST',
    name: '/v1/me/revocations',
    path: fc.constant('/v1/me/revocations'),
    // Revocations of keys that are not fred's devices: a fuzzed body never removes one.
    samples: samplesOf('r', () => revokeKey({ identity: fred.identity, revoked: SigningKey.generate(systemRandom).publicKey, time: now(), reason: 1 }), 2),
  },
  {
    method: 'PUT',
    name: '/v1/me/assertions',
    path: fc.constant('/v1/me/assertions'),
    samples: samplesOf('a', () =>
      encode(AssertionBundle, {
        assertions: [makeAssertion({ identity: fred.identity, seq: 1, notBefore: now() - 60, notAfter: now() + 86400, content: { type: 'stores', stores: [{ priority: 10, url: A.url }] } })],
      }), 2),
  },
  { method: 'PUT', name: '/v1/me/prefetch', path: fc.constant('/v1/me/prefetch'), json: true, samples: () => [json({ on: true }), json({ on: false })] },
  { method: 'POST', name: '/v1/messages', path: fc.constant('/v1/messages'), samples: samplesOf('u', () => upload(fred, dave), 2) },
  { method: 'GET', name: '/v1/messages/:id', path: anyId().map((id) => `/v1/messages/${id}`), samples: () => [] },
  {
    method: 'DELETE',
    name: '/v1/messages/:id',
    path: fc.oneof(fc.constant(null), anyId()).map((id) => `/v1/messages/${id ?? fredMsg}`),
    samples: samplesOf('x', () => encode(RetractionList, { retractions: [makeRetraction({ sender: fred.device, id: Buffer.from(fredMsg, 'hex'), recipient: bob.address, time: now() })] }), 2),
  },
  {
    method: 'GET',
    name: '/v1/inbox?since&limit',
    path: fc.tuple(fc.oneof(fc.string({ maxLength: 12 }), fc.nat().map(String), fc.constant('')), fc.oneof(fc.string({ maxLength: 12 }), fc.integer().map(String))).map(
      ([since, limit]) => `/v1/inbox?since=${encodeURIComponent(since)}&limit=${encodeURIComponent(limit)}`,
    ),
    samples: () => [],
  },
  { method: 'GET', name: '/v1/inbox/:seq', path: anySeq().map((seq) => `/v1/inbox/${seq}`), samples: () => [] },
  { method: 'POST', name: '/v1/inbox/:seq/confirm', path: anySeq().map((seq) => `/v1/inbox/${seq}/confirm`), samples: () => [] },
  { method: 'DELETE', name: '/v1/inbox/:seq', path: anySeq().map((seq) => `/v1/inbox/${seq}`), samples: () => [] },
  { method: 'POST', name: '/v1/inbox/:seq/report', path: anySeq().map((seq) => `/v1/inbox/${seq}/report`), samples: () => [] },
  { method: 'POST', name: '/v1/blocks', path: fc.constant('/v1/blocks'), json: true, samples: () => [json({ sender: addressToText(dave.address) }), json({ store: 'https://spam.example' })] },
  { method: 'DELETE', name: '/v1/blocks', path: fc.constant('/v1/blocks'), json: true, samples: () => [json({ sender: addressToText(dave.address), store: 'https://spam.example' })] },
  { method: 'POST', name: '/v1/contacts', path: fc.constant('/v1/contacts'), json: true, samples: () => [json({ address: addressToText(alice.address) })] },
];

/** JSON-ish bodies: any JSON, objects with the routes' field names and values of any type. */
const jsonBody = fc.oneof(
  fc.json({ maxDepth: 3 }).map(utf8),
  fc
    .dictionary(fc.constantFrom('invite', 'on', 'sender', 'store', 'address', '__proto__', 'constructor'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })
    .map((o) => utf8(JSON.stringify(o))),
  fc.constantFrom('null', '""', '[]', '{', '{"sender":""}', '{"store":""}', '{"on":1}').map(utf8),
);

/** How the request is authorized: mostly validly, for exactly what is sent. */
type AuthMode = 'valid' | 'none' | 'random' | 'garbage' | 'mutated' | 'stale' | 'delegate';
const authMode = fc.oneof(
  { weight: 10, arbitrary: fc.constant<AuthMode>('valid') },
  { weight: 1, arbitrary: fc.constantFrom<AuthMode>('none', 'random', 'garbage', 'mutated', 'stale', 'delegate') },
);

describe('fuzzing the signed user routes (mostly validly signed, so the handlers see the bodies)', () => {
  for (const r of USER) {
    const hasBody = r.method !== 'GET';
    test(`${r.method} ${r.name}: bodies, paths and headers`, async () => {
      const some = r.samples().length > 0;
      const kinds: fc.WeightedArbitrary<Uint8Array>[] = [
        { weight: 2, arbitrary: fc.uint8Array({ maxLength: 600 }) },
        { weight: r.json ? 4 : 1, arbitrary: jsonBody },
        { weight: r.json ? 1 : 2, arbitrary: msgpack },
        ...(some ? [{ weight: 4, arbitrary: mutated(r.samples) }, { weight: 1, arbitrary: fc.nat().map((k) => r.samples()[k % r.samples().length]!) }] : []),
      ];
      const body = hasBody ? fc.option(fc.oneof(...kinds), { nil: undefined, freq: 8 }) : fc.constant(undefined);
      await fc.assert(
        fc.asyncProperty(r.path, body, authMode, contentType, extraHeaders, fc.uint8Array({ maxLength: 120 }), edits, async (path, b, mode, type, extra, junk, es) => {
          const url = new URL(A.url + path);
          const sent = url.pathname + url.search; // what the server sees: fetch normalizes the URL
          const headers: Record<string, string> = { ...extra };
          if (b !== undefined) headers['content-type'] = type ?? (r.json ? 'application/json' : 'application/octet-stream');
          const signer = r.as?.() ?? fred.device;
          const sign = (s: Signer, time = now()) => makeRequestAuth(s, { method: r.method, path: sent, body: b ?? new Uint8Array(0), store: A.url }, time, systemRandom);
          switch (mode) {
            case 'valid': headers.authorization = sign(signer); break;
            case 'none': break;
            case 'random': headers.authorization = `KP1 ${Buffer.from(junk).toString('base64url')}`; break;
            case 'garbage': headers.authorization = Buffer.from(junk).toString('latin1').replace(/[^\x20-\x7e]/g, ''); break;
            case 'mutated': headers.authorization = `KP1 ${Buffer.from(mutate(Buffer.from(sign(signer).slice(4), 'base64url'), es)).toString('base64url')}`; break;
            case 'stale': headers.authorization = sign(signer, now() - 5000); break;
            case 'delegate': headers.authorization = sign(fred.delegate); break;
          }
          await send(A.url, { method: r.method, path: sent, ...(b !== undefined ? { body: b } : {}), headers }, `${r.method} ${r.name}`);
        }),
        budget,
      );
    });
  }
});

// ---- anything at all, on any path, and raw bytes on the socket ---------------------------------------

describe('fuzzing methods and paths, and the socket itself', () => {
  test('any method on any route or near-route, with any body', async () => {
    const paths = ['/v1/health', '/v1/notifications', '/v1/notifications/batch', '/v1/fetch', '/v1/receipts', '/v1/retractions', '/v1/register', '/v1/me/delegate', '/v1/me/assertions', '/v1/me/prefetch', '/v1/me/devices', '/v1/me/revocations', '/v1/messages', '/v1/inbox', '/v1/blocks', '/v1/contacts', '/.well-known/keypost', '/', ''];
    const path = fc.tuple(fc.constantFrom(...paths), fc.oneof(fc.constant(''), fc.string({ maxLength: 30 }).map(encodeURIComponent), fc.constantFrom('/', '//', '/x', '?a=1', '?since=-1', '#x', '/%ff'))).map(([p, s]) => p + s || '/');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'), path, fc.option(fc.uint8Array({ maxLength: 300 })), contentType, extraHeaders, async (method, p, b, type, extra) => {
        const withBody = b !== null && method !== 'GET';
        const headers: Record<string, string> = { ...extra };
        if (type !== undefined && withBody) headers['content-type'] = type;
        await send(A.url, { method, path: p.startsWith('/') ? p : `/${p}`, ...(withBody ? { body: b } : {}), headers }, 'any');
      }),
      budget,
    );
  });

  test('raw bytes and mangled HTTP on a socket: every answer is well-formed, nothing hangs', async () => {
    const valid = (body: string) => `POST /v1/notifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const request = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc.tuple(fc.string({ maxLength: 20 }), edits).map(([body, es]) => mutate(Buffer.from(valid(body), 'latin1'), es)),
      fc.tuple(fc.constantFrom('GET', 'POST', 'PUT', 'X', ''), fc.string({ maxLength: 30 }), fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/9.9', ''), fc.array(fc.tuple(headerText, headerText), { maxLength: 4 }), fc.string({ maxLength: 40 })).map(
        ([m, p, v, hs, body]) => Buffer.from(`${m} /${p} ${v}\r\n${hs.map(([k, x]) => `${k}: ${x}\r\n`).join('')}\r\n${body}`, 'latin1'),
      ),
    );
    await fc.assert(
      fc.asyncProperty(request, async (bytes) => {
        const what = `raw ${JSON.stringify(Buffer.from(bytes).toString('latin1').slice(0, 120))}`;
        const answer = await rawExchange(A.url, bytes);
        for (const r of parse(answer, what)) count(`raw ${oracle(r.status, r.headers['content-type'], r.text, what)}`);
      }),
      budget,
    );
  });
});

interface RawRes {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Write `bytes`, half-close, and collect what comes back until the server closes (1 s at most). */
function rawExchange(base: string, bytes: Uint8Array): Promise<Buffer> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const s = connect(Number(u.port), u.hostname);
    const got: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(got));
    };
    const timer = setTimeout(done, 1000);
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', () => {});
    s.on('close', done);
    s.on('connect', () => s.end(bytes));
  });
}

/** Split a byte stream into HTTP/1.1 responses (Content-Length or chunked bodies). */
function parse(buf: Buffer, what: string): RawRes[] {
  const out: RawRes[] = [];
  let pos = 0;
  const where = () => `${what}: ${JSON.stringify(buf.toString('latin1').slice(0, 600))}`;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos);
    expect(end, where()).toBeGreaterThanOrEqual(0);
    const lines = buf.subarray(pos, end).toString('latin1').split('\r\n');
    expect(lines[0], where()).toMatch(/^HTTP\/1\.[01] \d{3} /);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).trim().toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    pos = end + 4;
    let body: Buffer;
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const eol = buf.indexOf('\r\n', pos);
        expect(eol, where()).toBeGreaterThanOrEqual(0);
        const n = parseInt(buf.subarray(pos, eol).toString('latin1'), 16);
        expect(Number.isInteger(n), where()).toBe(true);
        pos = eol + 2 + n + 2;
        if (n === 0) break;
        parts.push(buf.subarray(eol + 2, eol + 2 + n));
      }
      body = Buffer.concat(parts);
    } else {
      const n = Number(headers['content-length'] ?? 0);
      body = buf.subarray(pos, pos + n);
      pos += n;
    }
    out.push({ status: Number(lines[0]!.split(' ')[1]), headers, text: body.toString('utf8') });
  }
  return out;
}

// ---- afterwards ------------------------------------------------------------------------------

test('afterwards: no exception escaped, both stores answer and still deliver', async () => {
  expect(escaped.map(String)).toEqual([]);
  for (const s of [A, B]) expect(await (await fetch(`${s.url}/v1/health`)).json()).toEqual({ status: 'ok' });
  const n = note(alice.device, bob.address, A.url);
  const r = await fetch(`${B.url}/v1/notifications`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: n });
  expect(r.status).toBe(202);
  expect((await bob.c.inbox(0, 1000)).items.length).toBeGreaterThan(0);
  expect((await alice.c.status(toHex(msgId))).recipients).toHaveLength(1);
});
