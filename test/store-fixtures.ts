/**
 * Fixtures for tests that run real stores: fastify on 127.0.0.1, SQLite files in a
 * temporary folder, users registered with invites and publishing their *stores* and
 * *keys* assertions, raw signed requests for what the client library will not send.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreClient, type RecipientInfo } from '../src/client/store-client.js';
import { crypto, systemRandom } from '../src/crypto/index.js';
import { addressToText } from '../src/identity/index.js';
import {
  makeAssertion,
  makeFetchRequest,
  makeNotification,
  makeRequestAuth,
  sealEnvelope,
  type Draft,
  type Signer,
} from '../src/protocol/index.js';
import { startStore, type RunningStore, type ServerOptions } from '../src/server/server.js';
import type { StoreConfig } from '../src/store/ports.js';
import type { InboxRow } from '../src/storage/types.js';
import { encode } from '../src/wire/index.js';
import { Upload } from '../src/wire/schema.js';
import { makeUser, type User } from './helpers.js';

export const now = () => Math.floor(Date.now() / 1000);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every test store: no greylisting, fast retransmission. */
export const TEST_CONFIG: Partial<Omit<StoreConfig, 'origin'>> = { greylistSeconds: 0, retryBase: 1, retryMax: 2 };

/** A clock that can be moved forward (seconds added to the real time). */
export class TestClock {
  offset = 0;
  now = (): number => now() + this.offset;
}

/** Stores living in one temporary folder, each in its own subfolder `name`. */
export class Net {
  readonly dir = mkdtempSync(join(tmpdir(), 'kp-net-'));
  readonly #running = new Map<string, RunningStore>();

  /** Start (or restart, on the same data folder) the store `name`. */
  async start(name: string, o: Partial<ServerOptions> = {}): Promise<RunningStore> {
    const s = await startStore({
      dataDir: join(this.dir, name),
      workerIntervalMs: 50,
      ...o,
      config: { ...TEST_CONFIG, ...o.config },
    });
    this.#running.set(name, s);
    return s;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#running.values()].map((s) => s.close()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Member {
  u: User;
  c: StoreClient;
  /** Origin of the member's store. */
  url: string;
  text: string;
  info: RecipientInfo;
}

/** Register `name` on `s` and publish its stores and keys assertions there. */
export async function joinStore(s: RunningStore, name: string, o: { prefetch?: boolean; clock?: () => number } = {}): Promise<Member> {
  const u = makeUser(name);
  const clock = o.clock ?? now;
  const c = new StoreClient({ url: s.url, signer: u.device, now: clock });
  await c.register(await s.store.users.createInvite(), u.identity);
  const t = clock();
  await c.publish([
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'stores', stores: [{ priority: 10, url: s.url }] } }),
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'keys', keys: [{ purpose: 2, key: u.enc.publicKey, notAfter: t + 86400 }] } }),
  ]);
  if (o.prefetch === false) await c.setPrefetch(false);
  return { u, c, url: s.url, text: addressToText(u.address), info: { address: u.address, encryptionKey: u.enc.publicKey, store: s.url } };
}

/** Someone with keys but no store: notifications to them go to `store` (e.g. a dead origin). */
export function outsider(name: string, store: string): Member {
  const u = makeUser(name);
  return { u, c: new StoreClient({ url: store, signer: u.device }), url: store, text: addressToText(u.address), info: { address: u.address, encryptionKey: u.enc.publicKey, store } };
}

/** An origin on loopback where nothing listens (connections are refused). */
export async function deadOrigin(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/** Poll `f` until it returns something other than undefined. */
export async function until<T>(f: () => Promise<T | undefined> | T | undefined, ms = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(40);
  }
}

export function draft(to: Uint8Array[], body: string, o: { cc?: Uint8Array[]; subject?: string } = {}): Draft {
  return { to, cc: o.cc ?? [], subject: o.subject ?? 'test', date: now(), parents: [], body, attachments: [] };
}

export interface RawReply {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  /** The parsed body when it is JSON. */
  json: any;
}

async function raw(res: Response): Promise<RawReply> {
  const bytes = new Uint8Array(await res.arrayBuffer());
  let json: any;
  if ((res.headers.get('content-type') ?? '').includes('json')) json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  return { status: res.status, headers: res.headers, bytes, json };
}

/** An unauthenticated POST of binary bytes (store-to-store routes). */
export async function post(url: string, path: string, body: Uint8Array): Promise<RawReply> {
  return raw(await fetch(url + path, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } }));
}

/** A request signed by `signer` (a device), answered as is, errors included. */
export async function signed(url: string, signer: Signer, method: string, path: string, body?: Uint8Array, type = 'application/octet-stream'): Promise<RawReply> {
  const payload = body ?? new Uint8Array(0);
  const auth = makeRequestAuth(signer, { method, path, body: payload, store: url }, now(), systemRandom);
  return raw(await fetch(url + path, { method, headers: { authorization: auth, ...(body ? { 'content-type': type } : {}) }, ...(body ? { body: payload } : {}) }));
}

/** A fresh fetch request for message `id` at `store`, signed by `requester`. */
export const fetchRequest = (requester: Signer, id: Uint8Array, store: string, time = now()) =>
  makeFetchRequest({ requester, id, store, time, random: systemRandom });

export interface NotificationOverrides {
  sender?: Signer;
  store?: string;
  id?: Uint8Array;
  size?: number;
  recipient?: Uint8Array;
}

export interface BuiltUpload {
  envelope: Uint8Array;
  id: Uint8Array;
  idHex: string;
  notifications: Uint8Array[];
  /** The Upload body for POST /v1/messages. */
  body: Uint8Array;
}

/**
 * What StoreClient.send uploads, built by hand so that tests can make one notification
 * wrong (`override(i)` changes the i-th notification's fields).
 */
export function buildUpload(o: {
  sender: Signer;
  store: string;
  draft: Draft;
  recipients: RecipientInfo[];
  lifetime?: number;
  time?: number;
  override?: (i: number) => NotificationOverrides | undefined;
}): BuiltUpload {
  const { envelope, id } = sealEnvelope({ author: o.sender, draft: o.draft, recipients: o.recipients, random: systemRandom });
  const t = o.time ?? now();
  const notifications = o.recipients.map((r, i) => {
    const x = o.override?.(i) ?? {};
    return makeNotification({
      sender: x.sender ?? o.sender,
      recipient: { address: x.recipient ?? r.address, encryptionKey: r.encryptionKey },
      store: x.store ?? o.store,
      id: x.id ?? id,
      size: x.size ?? envelope.length,
      time: t,
      expires: t + (o.lifetime ?? 86400),
      random: systemRandom,
    });
  });
  const body = encode(Upload, { envelope, routes: notifications.map((notification, i) => ({ notification, store: o.recipients[i]!.store })) });
  return { envelope, id, idHex: Buffer.from(id).toString('hex'), notifications, body };
}

export const sha256 = (b: Uint8Array) => crypto().sha256(b);
export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
export const randomId = () => systemRandom(32);

/** Rows in a store's messages table (all, or for one id). */
export function messageRows(s: RunningStore, id?: Uint8Array): number {
  const r = (id ? s.storage.db.prepare('SELECT COUNT(*) AS n FROM messages WHERE id = ?').get(id) : s.storage.db.prepare('SELECT COUNT(*) AS n FROM messages').get()) as { n: number };
  return Number(r.n);
}

export function outboxRows(s: RunningStore, id: Uint8Array): number {
  return Number((s.storage.db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE id = ?').get(id) as { n: number }).n);
}

export const usedBytes = (s: RunningStore, m: Member) => s.storage.getUser(m.u.address)!.usedBytes;

/** The sender's view of one recipient of message `id`. */
export async function recipientStatus(sender: Member, id: string, rcpt: Member) {
  const st = await sender.c.status(id);
  return (st.recipients as { address: string; status: string; attempts: number; notifiedAt: number | null; fetchedAt: number | null; confirmedAt: number | null; lastError: string | null }[]).find(
    (r) => r.address === rcpt.text,
  );
}

/**
 * The stored inbox item for message `id` (hex or bytes) held for `user`, newest first. For
 * tests only: the API names items by seq, and the store keeps no index on message ids.
 */
export function inboxById(s: RunningStore, user: Uint8Array, id: string | Uint8Array): InboxRow | undefined {
  const key = typeof id === 'string' ? Buffer.from(id, 'hex') : id;
  const r = s.storage.db.prepare('SELECT seq FROM inbox WHERE user = ? AND id = ? ORDER BY seq DESC LIMIT 1').get(user, key) as { seq: number } | undefined;
  return r && s.storage.getInbox(user, r.seq);
}

/** The seq of the inbox item for message `id` (throws if there is none). */
export function seqOf(s: RunningStore, user: Uint8Array, id: string | Uint8Array): number {
  const row = inboxById(s, user, id);
  if (!row) throw new Error('no inbox item for this message');
  return row.seq;
}
