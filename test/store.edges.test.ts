/** Store behaviours added after review: more devices, re-uploads, policy size, plain-http stores, CORS preflight. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { StoreClient } from '../src/client/store-client.js';
import { seededRandom } from '../src/crypto/index.js';
import { SigningKey, addressToText } from '../src/identity/index.js';
import { certifySubkey, makeAssertion, makeNotification, PURPOSE, sealEnvelope, subkeySigner } from '../src/protocol/index.js';
import { startStore, type RunningStore } from '../src/server/server.js';
import { encode } from '../src/wire/index.js';
import { Upload } from '../src/wire/schema.js';
import { makeUser, type User } from './helpers.js';

const now = () => Math.floor(Date.now() / 1000);
let dir: string;
let A: RunningStore;
let S: RunningStore; // claims an https origin: it must not talk to plain-http stores

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kp-edges-'));
  A = await startStore({ dataDir: join(dir, 'a'), config: { greylistSeconds: 0, retryBase: 1, retryMax: 2 }, workerIntervalMs: 50 });
  S = await startStore({ dataDir: join(dir, 's'), origin: 'https://secure.example', config: { greylistSeconds: 0 }, workerIntervalMs: 50 });
});
afterAll(async () => {
  await A?.close();
  await S?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function member(s: RunningStore, name: string) {
  const url = s.url;
  const u = makeUser(name);
  const c = new StoreClient({ url, signer: u.device });
  await c.register(await s.store.users.createInvite(), u.identity);
  const t = now();
  await c.publish([
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'stores', stores: [{ priority: 10, url: s.url }] } }),
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'keys', keys: [{ purpose: 2, key: u.enc.publicKey, notAfter: t + 86400 }] } }),
  ]);
  return { u, c };
}

const draft = (to: Uint8Array, body = 'x') => ({ to: [to], cc: [], subject: 's', date: now(), parents: [], body, attachments: [] });

test('a second device registers with a certificate from the identity; unknown devices are refused', async () => {
  const a = await member(A, 'edges-dev-a');
  const second = SigningKey.generate(seededRandom('edges-second-device'));
  const t = now();
  const cert = certifySubkey({ identity: a.u.identity, purpose: PURPOSE.device, subkey: second.publicKey, notBefore: t - 60, notAfter: t + 3600 });
  const c2 = new StoreClient({ url: A.url, signer: subkeySigner(a.u.identity.typedKey, second, cert) });
  await expect(c2.inbox()).rejects.toMatchObject({ code: 'NOT_REGISTERED' });
  expect((await a.c.addDevice(cert)).device).toBe(Buffer.from(second.publicKey).toString('hex'));
  expect((await c2.inbox()).items).toEqual([]);
  // A certificate by another identity, or for an encryption key, is not a device of this user.
  const other = makeUser('edges-dev-other');
  const foreign = certifySubkey({ identity: other.identity, purpose: PURPOSE.device, subkey: second.publicKey, notBefore: t - 60, notAfter: t + 3600 });
  await expect(a.c.addDevice(foreign)).rejects.toMatchObject({ code: 'CERT_INVALID' });
});

test('re-uploads: another sender cannot claim a held message; the same sender may add recipients', async () => {
  const a = await member(A, 'edges-up-a');
  const b = await member(A, 'edges-up-b');
  const c = await member(A, 'edges-up-c');
  const rnd = seededRandom('edges-upload');
  const { envelope, id } = sealEnvelope({ author: a.u.device, draft: draft(b.u.address), recipients: [b, c].map((x) => ({ address: x.u.address, encryptionKey: x.u.enc.publicKey })), random: rnd });
  const note = (sender: User, to: { u: User }) =>
    makeNotification({ sender: sender.device, recipient: { address: to.u.address }, store: A.url, id, size: envelope.length, time: now(), expires: now() + 3600, random: rnd });
  const up = (sender: User, to: { u: User }[]) => encode(Upload, { envelope, routes: to.map((t) => ({ notification: note(sender, t), store: A.url })) });
  expect((await a.c.request('POST', '/v1/messages', up(a.u, [b]))).status).toBe(201);
  // b received it and tries to upload it as its own: refused.
  await expect(b.c.request('POST', '/v1/messages', up(b.u, [c]))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  // a retries with one more recipient: 200, and c is now a recipient too.
  expect((await a.c.request('POST', '/v1/messages', up(a.u, [b, c]))).status).toBe(200);
  const st = await a.c.status(Buffer.from(id).toString('hex'));
  expect(st.recipients.map((r: { address: string }) => r.address).sort()).toEqual([addressToText(b.u.address), addressToText(c.u.address)].sort());
  expect(A.storage.db.prepare('SELECT COUNT(*) AS n FROM messages WHERE id = ?').get(id)).toEqual({ n: 1 });
});

test("a recipient's policy limits message size (WIRE_TOO_LARGE, 413)", async () => {
  const a = await member(A, 'edges-size-a');
  const r = await member(A, 'edges-size-r');
  const t = now();
  await r.c.publish([makeAssertion({ identity: r.u.identity, seq: 2, notBefore: t - 60, notAfter: t + 3600, content: { type: 'policy', policy: { powBits: 0, powUnit: 1024, maxSize: 2048 } } })]);
  const n = (size: number) =>
    makeNotification({ sender: a.u.device, recipient: { address: r.u.address }, store: A.url, id: new Uint8Array(32).fill(size & 255), size, time: now(), expires: now() + 3600, random: seededRandom(`edges-size-${size}`) });
  const post = (b: Uint8Array) => fetch(`${A.url}/v1/notifications`, { method: 'POST', body: b, headers: { 'content-type': 'application/octet-stream' } });
  const big = await post(n(4096));
  expect(big.status).toBe(413);
  expect(((await big.json()) as { error: string }).error).toBe('WIRE_TOO_LARGE');
  expect((await post(n(1000))).status).toBe(202);
});

test('a store served over https refuses notifications naming a plain-http store', async () => {
  const sender = await member(A, 'edges-http-sender');
  const u = makeUser('edges-https-rcpt');
  // Register at S directly through the store layer (its origin is https, unreachable here).
  const s = S.store;
  const token = await s.users.createInvite();
  const res = await fetch(`${S.listening}/v1/register`, {
    method: 'POST',
    body: JSON.stringify({ invite: token }),
    headers: {
      'content-type': 'application/json',
      authorization: (await import('../src/protocol/index.js')).makeRequestAuth(u.device, { method: 'POST', path: '/v1/register', body: new TextEncoder().encode(JSON.stringify({ invite: token })), store: 'https://secure.example' }, now(), seededRandom('edges-https')),
    },
  });
  expect(res.status).toBe(201);
  const n = makeNotification({ sender: sender.u.device, recipient: { address: u.address }, store: A.url, id: new Uint8Array(32).fill(7), size: 100, time: now(), expires: now() + 3600, random: seededRandom('edges-http') });
  const r = await fetch(`${S.listening}/v1/notifications`, { method: 'POST', body: n, headers: { 'content-type': 'application/octet-stream' } });
  expect(r.status).toBe(403);
  expect(((await r.json()) as { error: string }).error).toBe('STORE_NOT_AUTHORIZED');
});

test('CORS preflight on the well-known path', async () => {
  const r = await fetch(`${A.url}/.well-known/keypost/${'kp1'.padEnd(61, 'q')}`, { method: 'OPTIONS' });
  expect(r.status).toBe(204);
  expect(r.headers.get('access-control-allow-origin')).toBe('*');
  expect(r.headers.get('access-control-allow-methods')).toContain('GET');
});
