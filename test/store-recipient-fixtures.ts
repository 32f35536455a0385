/**
 * Helpers for test/store.recipient.test.ts: real stores on loopback with SQLite in temp
 * dirs, users registered through the HTTP API, notifications crafted by hand and posted
 * as raw bytes, and a loopback HTTP server standing in for the operator's report address.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { StoreClient } from '../src/client/store-client.js';
import { systemRandom } from '../src/crypto/index.js';
import { makeAssertion, makeNotification, makeRequestAuth, type Signer } from '../src/protocol/index.js';
import { startStore, type RunningStore, type ServerOptions } from '../src/server/server.js';
import type { StoreConfig } from '../src/store/ports.js';
import { decode, encode } from '../src/wire/index.js';
import { Notification, type PolicyContent } from '../src/wire/schema.js';
import { makeUser, type User } from './helpers.js';

export const realNow = () => Math.floor(Date.now() / 1000);

/** A clock the test moves: real time at creation plus whatever `advance` added; `freeze` stops it. */
export class TestClock {
  #offset = 0;
  #frozen: number | undefined;
  now = (): number => this.#frozen ?? realNow() + this.#offset;
  advance(seconds: number) {
    if (this.#frozen !== undefined) this.#frozen += seconds;
    else this.#offset += seconds;
  }
  freeze() {
    this.#frozen = this.now();
    return this;
  }
}

export async function startTestStore(
  dir: string,
  name: string,
  config: Partial<Omit<StoreConfig, 'origin'>>,
  extra: Partial<ServerOptions> = {},
): Promise<RunningStore> {
  return startStore({ dataDir: join(dir, name), config: { retryBase: 1, retryMax: 2, ...config }, workerIntervalMs: 50, ...extra });
}

export interface Member {
  u: User;
  c: StoreClient;
}

/**
 * Register `u` with `s` and publish a *stores* assertion naming `stores` (default: `s`),
 * a *keys* assertion and, if given, a *policy* assertion.
 */
export async function join_(
  s: RunningStore,
  u: User,
  o: { stores?: string[]; policy?: PolicyContent; clock?: () => number } = {},
): Promise<Member> {
  const now = o.clock ?? realNow;
  const c = new StoreClient({ url: s.url, signer: u.device, now });
  await c.register(await s.store.users.createInvite(), u.identity);
  const t = now();
  const life = { notBefore: t - 60, notAfter: t + 86400 };
  const stores = (o.stores ?? [s.url]).map((url, i) => ({ priority: 10 + i, url }));
  await c.publish([
    makeAssertion({ identity: u.identity, seq: 1, ...life, content: { type: 'stores', stores } }),
    makeAssertion({ identity: u.identity, seq: 1, ...life, content: { type: 'keys', keys: [{ purpose: 2, key: u.enc.publicKey, notAfter: t + 86400 }] } }),
    ...(o.policy ? [makeAssertion({ identity: u.identity, seq: 1, ...life, content: { type: 'policy', policy: o.policy } })] : []),
  ]);
  return { u, c };
}

export const user = (name: string) => makeUser(name, realNow());

export interface Crafted {
  bytes: Uint8Array;
  id: Uint8Array;
  idHex: string;
}

/** A notification signed by `from`'s device key, for a message that need not exist. */
export function craft(o: {
  from: User;
  to: Uint8Array;
  store: string;
  time?: number;
  lifetime?: number;
  id?: Uint8Array;
  size?: number;
  pow?: Uint8Array;
}): Crafted {
  const time = o.time ?? realNow();
  const id = o.id ?? systemRandom(32);
  const bytes = makeNotification({
    sender: o.from.device,
    recipient: { address: o.to },
    store: o.store,
    id,
    size: o.size ?? 1000,
    time,
    expires: time + (o.lifetime ?? 7 * 86400),
    ...(o.pow ? { pow: o.pow } : {}),
    random: systemRandom,
  });
  return { bytes, id, idHex: Buffer.from(id).toString('hex') };
}

/** The same notification with one bit of its signature flipped: decodes fine, verifies never. */
export function badSignature(bytes: Uint8Array): Uint8Array {
  const n = decode(Notification, bytes);
  const sig = Uint8Array.from(n.sig);
  sig[10] = sig[10]! ^ 0x01;
  return encode(Notification, { ...n, sig });
}

export interface Answer {
  status: number;
  json: any;
  retryAfter: string | null;
}

/** POST raw bytes to a public route. */
export async function postRaw(url: string, body: Uint8Array): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, retryAfter: res.headers.get('retry-after') };
}

/** A signed user request answered with its status (the StoreClient throws away statuses). */
export async function signedRequest(
  store: string,
  signer: Signer,
  method: string,
  path: string,
  o: { body?: Uint8Array; now?: () => number } = {},
): Promise<{ status: number; bytes: Uint8Array; json: () => any }> {
  const body = o.body ?? new Uint8Array(0);
  const auth = makeRequestAuth(signer, { method, path, body, store }, (o.now ?? realNow)(), systemRandom);
  const res = await fetch(store + path, {
    method,
    headers: { authorization: auth, ...(o.body ? { 'content-type': 'application/json' } : {}) },
    ...(o.body ? { body } : {}),
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, bytes, json: () => JSON.parse(Buffer.from(bytes).toString('utf8')) };
}

export async function until<T>(f: () => T | undefined | Promise<T | undefined>, ms = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ReportSink {
  url: string;
  received: { method: string; path: string; type: string | undefined; body: Uint8Array }[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that records every request: the operator's report address. */
export async function reportSink(): Promise<ReportSink> {
  const received: ReportSink['received'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', path: req.url ?? '', type: req.headers['content-type'], body: new Uint8Array(Buffer.concat(chunks)) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
