import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { StoreClient } from '../src/client/store-client.js';
import { makeAssertion, openEnvelope } from '../src/protocol/index.js';
import { startStore, type RunningStore } from '../src/server/server.js';
import { makeUser } from './helpers.js';

const now = () => Math.floor(Date.now() / 1000);
let dir: string;
let A: RunningStore;
let B: RunningStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kp-smoke-'));
  const cfg = { greylistSeconds: 0, retryBase: 1, retryMax: 2 };
  A = await startStore({ dataDir: join(dir, 'a'), config: cfg, workerIntervalMs: 50 });
  B = await startStore({ dataDir: join(dir, 'b'), config: cfg, workerIntervalMs: 50 });
});
afterAll(async () => {
  await A?.close();
  await B?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function join_(s: RunningStore, name: string) {
  const u = makeUser(name);
  const c = new StoreClient({ url: s.url, signer: u.device });
  await c.register(await s.store.users.createInvite(), u.identity);
  const t = now();
  await c.publish([
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'stores', stores: [{ priority: 10, url: s.url }] } }),
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'keys', keys: [{ purpose: 2, key: u.enc.publicKey, notAfter: t + 86400 }] } }),
  ]);
  return { u, c };
}

async function until<T>(f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('alice on A sends to bob on B: notified, prefetched, opened, confirmed', async () => {
  const alice = await join_(A, 'smoke-alice');
  const bob = await join_(B, 'smoke-bob');
  const id = await alice.c.send(
    { to: [bob.u.address], cc: [], subject: 'hello', date: now(), parents: [], body: 'Hi Bob.', attachments: [] },
    [{ address: bob.u.address, encryptionKey: bob.u.enc.publicKey, store: B.url }],
  );
  const item = await until(async () => (await bob.c.inbox()).items.find((i) => i.id === id && i.state === 'fetched'));
  const env = await bob.c.envelope(item.seq);
  const m = openEnvelope(env, { key: bob.u.enc, now: now(), expectedId: Buffer.from(id, 'hex') });
  expect(m.message.body).toBe('Hi Bob.');
  const st = await until(async () => {
    const s = await alice.c.status(id);
    return s.recipients[0].status === 'confirmed' ? s : undefined;
  });
  expect(st.recipients[0].confirmedAt).toBeGreaterThan(0);
});

test('several recipients on one store are notified in one batch request', async () => {
  const alice = await join_(A, 'smoke-batch-alice');
  const rs = await Promise.all(['smoke-batch-r1', 'smoke-batch-r2', 'smoke-batch-r3'].map((n) => join_(B, n)));
  let batches = 0;
  let singles = 0;
  const peers = A.store.deps.peers;
  const origBatch = peers.notifyBatch!.bind(peers);
  const origNotify = peers.notify.bind(peers);
  peers.notifyBatch = (s, ns) => (batches++, origBatch(s, ns));
  peers.notify = (s, n) => (singles++, origNotify(s, n));
  try {
    const id = await alice.c.send(
      { to: rs.map((r) => r.u.address), cc: [], subject: 'to three', date: now(), parents: [], body: 'Hello, all.', attachments: [] },
      rs.map((r) => ({ address: r.u.address, encryptionKey: r.u.enc.publicKey, store: B.url })),
    );
    await until(async () => {
      const s = await alice.c.status(id);
      return s.recipients.every((r: { status: string }) => r.status === 'confirmed') ? s : undefined;
    });
    expect(batches).toBe(1);
    expect(singles).toBe(0);
  } finally {
    peers.notifyBatch = origBatch;
    peers.notify = origNotify;
  }
});

test('the database file, which holds delegate keys, is readable by its owner only', async () => {
  const { statSync } = await import('node:fs');
  expect(statSync(join(dir, 'a', 'keypost.db')).mode & 0o777).toBe(0o600);
  expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
});
