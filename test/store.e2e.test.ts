/**
 * End to end over real HTTP on loopback with real SQLite files: three stores (A, B, C)
 * and mallory's store M. Alice (A) writes to bob (B) and carol (C); unsend; forgeries;
 * a recipient store restarted in the middle of a delivery.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromHex } from '../src/bytes/index.js';
import { ASSERTION_TYPE, makeNotification, openEnvelope, verifyAssertion, verifyNotification, type Signer } from '../src/protocol/index.js';
import { systemRandom } from '../src/crypto/index.js';
import type { RunningStore } from '../src/server/server.js';
import { decode, encode } from '../src/wire/index.js';
import { AssertionBundle, NotificationBatch } from '../src/wire/schema.js';
import {
  draft,
  fetchRequest,
  hex,
  inboxById,
  joinStore,
  Net,
  now,
  post,
  randomId,
  recipientStatus,
  seqOf,
  signed,
  sleep,
  until,
  type Member,
} from './store-fixtures.js';

const net = new Net();
let A: RunningStore;
let B: RunningStore;
let C: RunningStore;
let M: RunningStore;
let alice: Member;
let bob: Member;
let carol: Member;
let mallory: Member;

beforeAll(async () => {
  [A, B, C, M] = await Promise.all([net.start('A'), net.start('B'), net.start('C'), net.start('M')]);
  [alice, bob, carol, mallory] = await Promise.all([joinStore(A, 'e2e-alice'), joinStore(B, 'e2e-bob'), joinStore(C, 'e2e-carol'), joinStore(M, 'e2e-mallory')]);
});
afterAll(() => net.close());

const inboxItem = (m: Member, id: string, state?: string) => async () => (await m.c.inbox()).items.find((i) => i.id === id && (!state || i.state === state));

describe('three stores', () => {
  test('one message to bob on B and carol on C: verified, prefetched, opened, confirmed', async () => {
    const id = await alice.c.send(draft([bob.u.address], 'Hello both of you.', { cc: [carol.u.address], subject: 'Three stores' }), [bob.info, carol.info]);
    const opened: Uint8Array[] = [];
    for (const m of [bob, carol]) {
      const item = await until(inboxItem(m, id, 'fetched'), 10_000, `${m.u.name} prefetched`);
      expect(item.sender).toBe(alice.text);
      expect(item.senderStore).toBe(A.url);
      // The notification the store kept is alice's, signed, for this message and this recipient.
      const n = verifyNotification(Buffer.from(item.notification, 'base64url'), { now: now() });
      expect(n.sender).toEqual(alice.u.address);
      expect(n.body.recipient).toEqual(m.u.address);
      expect(hex(n.body.id)).toBe(id);
      expect(n.body.store).toBe(A.url);

      const env = await m.c.envelope(item.seq);
      const msg = openEnvelope(env, { key: m.u.enc, now: now(), expectedId: fromHex(id) });
      expect(msg.author).toEqual(alice.u.address);
      expect(msg.message.body).toBe('Hello both of you.');
      expect(msg.message.subject).toBe('Three stores');
      expect(msg.message.to).toEqual([bob.u.address]);
      expect(msg.message.cc).toEqual([carol.u.address]);
      opened.push(env);
    }
    expect(opened[0]).toEqual(opened[1]);
    // Each recipient opens only with its own key.
    expect(() => openEnvelope(opened[0]!, { key: mallory.u.enc, now: now() })).toThrow();

    // Receipts: each recipient store sent one, and alice's status shows both confirmed.
    for (const [m, s] of [[bob, B], [carol, C]] as const) {
      await until(() => (inboxById(s, m.u.address, id)?.receiptSent ? true : undefined), 10_000, 'receipt sent');
    }
    const st = await until(async () => {
      const s = await alice.c.status(id);
      return s.recipients.every((r: { status: string }) => r.status === 'confirmed') ? s : undefined;
    }, 10_000, 'both confirmed');
    expect(st.recipients).toHaveLength(2);
    expect(st.recipients.map((r: { address: string }) => r.address).sort()).toEqual([bob.text, carol.text].sort());
    for (const r of st.recipients) {
      expect(r.notifiedAt).toBeGreaterThan(0);
      expect(r.fetchedAt).toBeGreaterThan(0);
      expect(r.confirmedAt).toBeGreaterThan(0);
      expect(r.lastError).toBeNull();
    }
  });

  test('unsend before fetch: withdrawn, the retraction reaches B, fetches answer GONE (410)', async () => {
    const erin = await joinStore(B, 'e2e-erin', { prefetch: false });
    const id = await alice.c.send(draft([erin.u.address], 'Forget this.'), [erin.info]);
    const { seq } = await until(inboxItem(erin, id, 'notified'), 10_000, 'notified');
    await until(async () => ((await recipientStatus(alice, id, erin))?.status === 'notified' ? true : undefined));
    // Prefetch is off: nothing was fetched.
    await sleep(200);
    expect(B.storage.getInboxEnvelope(erin.u.address, seq)).toBeUndefined();
    expect((await recipientStatus(alice, id, erin))!.fetchedAt).toBeNull();

    expect(await alice.c.unsend(id, [erin.u.address])).toEqual([erin.text]);
    expect((await recipientStatus(alice, id, erin))!.status).toBe('retracted');

    // The signed retraction reaches B: the inbox item is retracted.
    await until(inboxItem(erin, id, 'retracted'), 10_000, 'retracted at B');
    await until(() => (A.storage.getOutbox(fromHex(id), erin.u.address)?.retraction === undefined ? true : undefined), 10_000, 'retraction delivered');

    // Through the recipient's store: GONE, 410.
    await expect(erin.c.envelope(seq)).rejects.toMatchObject({ code: 'GONE' });
    const viaB = await signed(B.url, erin.u.device, 'GET', `/v1/inbox/${seq}`);
    expect([viaB.status, viaB.json.error]).toEqual([410, 'GONE']);
    // Directly at A, with a fresh signed fetch request: 410.
    const direct = await post(A.url, '/v1/fetch', fetchRequest(erin.u.device, fromHex(id), A.url));
    expect([direct.status, direct.json.error]).toEqual([410, 'GONE']);
  });

  test('unsend before the retraction arrives: a fetch through B learns GONE from A and retracts the item', async () => {
    const gina = await joinStore(B, 'e2e-gina', { prefetch: false });
    const id = await alice.c.send(draft([gina.u.address], 'Too fast.'), [gina.info]);
    const { seq } = await until(inboxItem(gina, id, 'notified'), 10_000, 'notified');
    await A.store.stop(); // A's workers pause: the retraction is not sent yet
    try {
      expect(await alice.c.unsend(id, [gina.u.address])).toEqual([gina.text]);
      expect(B.storage.getInbox(gina.u.address, seq)!.state).toBe('notified');
      await expect(gina.c.envelope(seq)).rejects.toMatchObject({ code: 'GONE' });
      expect(B.storage.getInbox(gina.u.address, seq)!.state).toBe('retracted');
    } finally {
      A.store.start(50);
    }
    // The retraction still goes out afterwards, and is then done with.
    await until(() => (A.storage.getOutbox(fromHex(id), gina.u.address)?.retraction === undefined ? true : undefined), 10_000, 'retraction delivered');
    await expect(gina.c.envelope(seq)).rejects.toMatchObject({ code: 'GONE' });
  });

  test('forged notifications are refused: wrong signer (401), a store alice does not name (403)', async () => {
    const t = now();
    const ids: Uint8Array[] = [];
    const note = (sender: Signer, store: string) => {
      const id = randomId();
      ids.push(id);
      return makeNotification({ sender, recipient: { address: bob.u.address }, store, id, size: 1000, time: t, expires: t + 3600, random: systemRandom });
    };

    // Mallory signs a notification that claims to be from alice.
    const claimsAlice: Signer = { identity: alice.u.identity.typedKey, key: mallory.u.identity };
    const forged = note(claimsAlice, A.url);
    let r = await post(B.url, '/v1/notifications', forged);
    expect([r.status, r.json.error]).toEqual([401, 'BAD_SIGNATURE']);
    // ... or attaches her own device certificate to it.
    const withCert: Signer = { identity: alice.u.identity.typedKey, key: mallory.u.device.key, cert: mallory.u.device.cert! };
    r = await post(B.url, '/v1/notifications', note(withCert, A.url));
    expect(r.status).toBe(403);
    expect(r.json.error).toBe('CERT_INVALID');

    // A genuine alice notification (stolen or replayed by mallory) pointing at mallory's store M.
    // M even serves alice's real assertions (they are public): they name A, not M.
    const wk = await fetch(`${A.url}/.well-known/keypost/${alice.text}`);
    expect(wk.status).toBe(200);
    const bundle = decode(AssertionBundle, new Uint8Array(await wk.arrayBuffer()));
    for (const a of bundle.assertions) {
      const v = verifyAssertion(a, { now: now(), address: alice.u.address });
      await M.storage.putAssertion(alice.u.address, ASSERTION_TYPE[v.content.type], v.seq, a, v.notAfter);
    }
    const viaM = note(alice.u.device, M.url);
    r = await post(B.url, '/v1/notifications', viaM);
    expect([r.status, r.json.error]).toEqual([403, 'STORE_NOT_AUTHORIZED']);

    // The batch route refuses them the same way.
    const viaM2 = note(alice.u.device, M.url);
    r = await post(B.url, '/v1/notifications/batch', encode(NotificationBatch, { notifications: [note(claimsAlice, A.url), viaM2] }));
    expect(r.status).toBe(200);
    expect(r.json.results.map((x: { error?: string }) => x.error)).toEqual(['BAD_SIGNATURE', 'STORE_NOT_AUTHORIZED']);

    // None of them reached bob's inbox.
    expect(ids).toHaveLength(5);
    for (const id of ids) expect(inboxById(B, bob.u.address, id)).toBeUndefined();
  });

  test('store B restarted in the middle of a delivery: A retries, then delivery completes', async () => {
    const frank = await joinStore(B, 'e2e-frank');
    const port = Number(new URL(B.url).port);
    await B.close();
    const id = await alice.c.send(draft([frank.u.address], 'Are you there?'), [frank.info]);
    const failing = await until(async () => {
      const r = await recipientStatus(alice, id, frank);
      return r && r.attempts >= 2 && r.lastError ? r : undefined;
    }, 10_000, 'failed attempts');
    expect(failing.status).toBe('pending');
    expect(failing.notifiedAt).toBeNull();

    B = await net.start('B', { port });
    expect(B.url).toBe(frank.url);
    const done = await until(async () => {
      const r = await recipientStatus(alice, id, frank);
      return r?.status === 'confirmed' ? r : undefined;
    }, 15_000, 'confirmed after restart');
    expect(done.attempts).toBeGreaterThan(failing.attempts);
    expect(done.lastError).toBeNull();
    // Frank's registration survived the restart, and the message is his to open.
    const env = await frank.c.envelope(seqOf(B, frank.u.address, id));
    expect(openEnvelope(env, { key: frank.u.enc, now: now(), expectedId: fromHex(id) }).message.body).toBe('Are you there?');
  });
});
