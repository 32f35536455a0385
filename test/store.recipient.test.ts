/**
 * DESIGN.md part 4, the recipient role (the notification agent), end to end: real stores
 * on 127.0.0.1, real SQLite files in a temp dir, notifications crafted by hand and posted
 * as raw bytes so that each check's order and code can be shown with a purpose-made input.
 *
 * Stores: A and C are sending stores (sam is served by both), B is the main recipient
 * store (greylisting off, a report address), R has tiny rate limits and a frozen clock,
 * G greylists strangers on a clock the test moves, D is restarted to show durability.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { concat } from '../src/bytes/index.js';
import { crypto, systemRandom } from '../src/crypto/index.js';
import { addressToText } from '../src/identity/index.js';
import { checkStamp, makeRetraction, mintStamp, openEnvelope, requiredBits, verifyNotification } from '../src/protocol/index.js';
import type { InboxRow as InboxRowT, NewInboxItem } from '../src/storage/types.js';
import type { RunningStore } from '../src/server/server.js';
import { decode, encode, LIMITS } from '../src/wire/index.js';
import { NotificationBatch, SpamReport, type PolicyContent } from '../src/wire/schema.js';
import { codeOf, type User } from './helpers.js';
import {
  badSignature,
  craft,
  join_,
  postRaw,
  realNow,
  reportSink,
  signedRequest,
  sleep,
  startTestStore,
  TestClock,
  until,
  user,
  type Answer,
  type Member,
  type ReportSink,
} from './store-recipient-fixtures.js';
import { inboxById, seqOf } from './store-fixtures.js';

let dir: string;
let A: RunningStore;
let B: RunningStore;
let C: RunningStore;
let sink: ReportSink;
// Senders. sam is served by A and C; vic's own stores assertion names only A (also published on C).
let sam: User;
let tom: User;
let una: User;
let vic: User;
let alice: Member;

const notify = (s: RunningStore, bytes: Uint8Array) => postRaw(`${s.url}/v1/notifications`, bytes);
const refused = (a: Answer) => ({ status: a.status, error: a.json?.error as string | undefined });
const inboxRows = (s: RunningStore, m: Member) => s.storage.listInbox(m.u.address, 0, 1000);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kp-recipient-'));
  sink = await reportSink();
  A = await startTestStore(dir, 'a', { greylistSeconds: 0 });
  C = await startTestStore(dir, 'c', { greylistSeconds: 0 });
  B = await startTestStore(dir, 'b', { greylistSeconds: 0, reportUrl: `${sink.url}/spam` });
  [sam, tom, una, vic] = [user('rcpt-sam'), user('rcpt-tom'), user('rcpt-una'), user('rcpt-vic')];
  await join_(A, sam, { stores: [A.url, C.url] });
  await join_(C, sam, { stores: [A.url, C.url] });
  await join_(A, tom);
  await join_(A, una);
  await join_(A, vic, { stores: [A.url] });
  await join_(C, vic, { stores: [A.url] });
  alice = await join_(A, user('rcpt-alice'));
});

afterAll(async () => {
  await Promise.all([A?.close(), B?.close(), C?.close(), sink?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('accepting notifications', () => {
  let rita: Member;
  beforeAll(async () => {
    rita = await join_(B, user('rcpt-rita'));
    await rita.c.setPrefetch(false); // crafted ids name no message: keep the prefetcher quiet
  });

  test('one at a time: 202 accepted, stored; the same bytes again: 200 duplicate, still one row', async () => {
    const n = craft({ from: tom, to: rita.u.address, store: A.url });
    const first = await notify(B, n.bytes);
    expect(first.status).toBe(202);
    expect(first.json).toEqual({ status: 'accepted' });
    const again = await notify(B, n.bytes);
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ status: 'duplicate' });
    const third = await notify(B, n.bytes);
    expect(third.status).toBe(200);
    const rows = inboxRows(B, rita).filter((r) => hex(r.id) === n.idHex);
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0]!.notification).equals(Buffer.from(n.bytes))).toBe(true);
    expect(rows[0]!.state).toBe('notified');
    expect(rows[0]!.senderStore).toBe(A.url);
  });

  test('batch: per-item results in order, every accepted item stored, nothing else', async () => {
    const held = craft({ from: una, to: rita.u.address, store: A.url });
    expect((await notify(B, held.bytes)).status).toBe(202);
    const n1 = craft({ from: tom, to: rita.u.address, store: A.url });
    const n2 = craft({ from: una, to: rita.u.address, store: A.url });
    const n3 = craft({ from: sam, to: rita.u.address, store: C.url });
    const stranger = craft({ from: tom, to: user('rcpt-nobody').address, store: A.url });
    const forged = badSignature(craft({ from: tom, to: rita.u.address, store: A.url }).bytes);
    const t = realNow() - 3 * 86400;
    const expired = craft({ from: tom, to: rita.u.address, store: A.url, time: t, lifetime: 86400 });
    const before = inboxRows(B, rita).length;
    const batch = encode(NotificationBatch, {
      notifications: [n1.bytes, new Uint8Array([1, 2, 3]), n2.bytes, stranger.bytes, n1.bytes, held.bytes, forged, expired.bytes, n3.bytes],
    });
    const a = await postRaw(`${B.url}/v1/notifications/batch`, batch);
    expect(a.status).toBe(200);
    const results = (a.json.results as { status?: string; error?: string }[]).map((r) => r.status ?? r.error);
    expect(results).toEqual(['accepted', 'WIRE_MALFORMED', 'accepted', 'NOT_A_RECIPIENT', 'duplicate', 'duplicate', 'BAD_SIGNATURE', 'EXPIRED', 'accepted']);
    const rows = inboxRows(B, rita);
    expect(rows.length).toBe(before + 3);
    for (const n of [n1, n2, n3]) expect(rows.filter((r) => hex(r.id) === n.idHex)).toHaveLength(1);
    // The whole batch again: everything held is a duplicate now, the refusals stay refusals.
    const again = await postRaw(`${B.url}/v1/notifications/batch`, batch);
    expect((again.json.results as { status?: string; error?: string }[]).map((r) => r.status ?? r.error)).toEqual([
      'duplicate', 'WIRE_MALFORMED', 'duplicate', 'NOT_A_RECIPIENT', 'duplicate', 'duplicate', 'BAD_SIGNATURE', 'EXPIRED', 'duplicate',
    ]);
    expect(inboxRows(B, rita).length).toBe(before + 3);
  });

  test('cheapest first: size is refused before any decoding (WIRE_TOO_LARGE, 413)', async () => {
    const valid = craft({ from: tom, to: rita.u.address, store: A.url }).bytes;
    // A valid notification followed by padding: decoding first would say WIRE_MALFORMED (trailing bytes).
    const padded = concat(valid, new Uint8Array(LIMITS.NOTIFICATION + 1 - valid.length));
    // Bytes that are not msgpack at all: decoding first would say WIRE_BAD_TYPE.
    const garbage = new Uint8Array(LIMITS.NOTIFICATION + 1).fill(0xc1);
    for (const body of [padded, garbage, new Uint8Array(64 * 1024).fill(0xc1)]) {
      expect(refused(await notify(B, body))).toEqual({ status: 413, error: 'WIRE_TOO_LARGE' });
    }
    // Also in the store layer itself, not only in the HTTP body limit.
    await expect(B.store.recipient.accept(padded)).rejects.toMatchObject({ code: 'WIRE_TOO_LARGE' });
    await expect(B.store.recipient.accept(garbage)).rejects.toMatchObject({ code: 'WIRE_TOO_LARGE' });
    expect(codeOf(() => verifyNotification(padded, { now: realNow() }))).toBe('WIRE_TOO_LARGE');
  });

  test('malformed bytes: WIRE_MALFORMED (400)', async () => {
    const valid = craft({ from: tom, to: rita.u.address, store: A.url }).bytes;
    expect(refused(await notify(B, valid.subarray(0, valid.length - 1)))).toEqual({ status: 400, error: 'WIRE_MALFORMED' });
    expect(refused(await notify(B, concat(valid, new Uint8Array([0]))))).toEqual({ status: 400, error: 'WIRE_MALFORMED' });
  });

  test('the time window comes before the signature: expired with a bad signature is EXPIRED (400)', async () => {
    const t = realNow() - 3 * 86400;
    const old = craft({ from: tom, to: rita.u.address, store: A.url, time: t, lifetime: 86400 });
    expect(refused(await notify(B, old.bytes))).toEqual({ status: 400, error: 'EXPIRED' });
    expect(refused(await notify(B, badSignature(old.bytes)))).toEqual({ status: 400, error: 'EXPIRED' });
    // The control: the same forgery within its window is caught by the signature check.
    const fresh = craft({ from: tom, to: rita.u.address, store: A.url });
    expect(refused(await notify(B, badSignature(fresh.bytes)))).toEqual({ status: 401, error: 'BAD_SIGNATURE' });
    const future = craft({ from: tom, to: rita.u.address, store: A.url, time: realNow() + 3600 });
    expect(refused(await notify(B, badSignature(future.bytes)))).toEqual({ status: 400, error: 'NOT_YET_VALID' });
  });

  test('an address not served here: NOT_A_RECIPIENT (403), before the signature', async () => {
    const n = craft({ from: tom, to: user('rcpt-elsewhere').address, store: A.url });
    expect(refused(await notify(B, n.bytes))).toEqual({ status: 403, error: 'NOT_A_RECIPIENT' });
    expect(refused(await notify(B, badSignature(n.bytes)))).toEqual({ status: 403, error: 'NOT_A_RECIPIENT' });
  });

  test("the sending store must be one the sender's own stores assertion names: STORE_NOT_AUTHORIZED (403)", async () => {
    // C serves vic's genuine assertion, which names only A: a notification claiming C is refused.
    const viaC = craft({ from: vic, to: rita.u.address, store: C.url });
    expect(refused(await notify(B, viaC.bytes))).toEqual({ status: 403, error: 'STORE_NOT_AUTHORIZED' });
    const viaA = craft({ from: vic, to: rita.u.address, store: A.url });
    expect((await notify(B, viaA.bytes)).status).toBe(202);
    // sam's assertion names both of his stores: either may notify.
    expect((await notify(B, craft({ from: sam, to: rita.u.address, store: C.url }).bytes)).status).toBe(202);
    expect(inboxById(B, rita.u.address, viaC.id)).toBeUndefined();
  });
});

describe('block lists', () => {
  let bea: Member;
  let other: Member;
  beforeAll(async () => {
    bea = await join_(B, user('rcpt-bea'));
    other = await join_(B, user('rcpt-bea-neighbour'));
    await bea.c.setPrefetch(false);
    await other.c.setPrefetch(false);
  });
  const send = async (from: User, store: RunningStore, to: Member = bea, bad = false) => {
    const n = craft({ from, to: to.u.address, store: store.url }).bytes;
    return refused(await notify(B, bad ? badSignature(n) : n));
  };
  const OK = { status: 202, error: undefined };
  const BLOCKED = { status: 403, error: 'BLOCKED' };

  test('[store, sender]: S via X refused, S via Y and others via X accepted; unblock restores', async () => {
    expect(await send(sam, A)).toEqual(OK);
    await bea.c.block({ sender: sam.address, store: A.url });
    expect(await send(sam, A)).toEqual(BLOCKED);
    // The block list comes before the signature: even a forgery in sam's name is just BLOCKED.
    expect(await send(sam, A, bea, true)).toEqual(BLOCKED);
    expect(await send(sam, C)).toEqual(OK);
    expect(await send(tom, A)).toEqual(OK);
    expect(await send(sam, A, other)).toEqual(OK); // another user's block list is not bea's
    await bea.c.unblock({ sender: sam.address, store: A.url });
    expect(await send(sam, A)).toEqual(OK);
    // Without a block, the same kind of forgery reaches the signature check.
    expect(await send(sam, A, bea, true)).toEqual({ status: 401, error: 'BAD_SIGNATURE' });
  });

  test('a sender everywhere: refused through every store; unblock restores', async () => {
    await bea.c.block({ sender: sam.address });
    expect(await send(sam, A)).toEqual(BLOCKED);
    expect(await send(sam, C)).toEqual(BLOCKED);
    expect(await send(sam, C, bea, true)).toEqual(BLOCKED);
    expect(await send(tom, A)).toEqual(OK);
    await bea.c.unblock({ sender: sam.address });
    expect(await send(sam, C)).toEqual(OK);
    expect(await send(sam, A)).toEqual(OK);
  });

  test('a whole store: every sender through it refused, the same senders elsewhere accepted; unblock restores', async () => {
    await bea.c.block({ store: A.url });
    expect(await send(tom, A)).toEqual(BLOCKED);
    expect(await send(sam, A)).toEqual(BLOCKED);
    expect(await send(una, A, bea, true)).toEqual(BLOCKED);
    expect(await send(sam, C)).toEqual(OK);
    await bea.c.unblock({ store: A.url });
    expect(await send(tom, A)).toEqual(OK);
  });

  test('a blocked notification is not stored', async () => {
    await bea.c.block({ sender: una.address });
    const n = craft({ from: una, to: bea.u.address, store: A.url });
    expect(refused(await notify(B, n.bytes))).toEqual(BLOCKED);
    expect(inboxById(B, bea.u.address, n.id)).toBeUndefined();
    await bea.c.unblock({ sender: una.address });
    expect((await notify(B, n.bytes)).status).toBe(202);
  });
});

describe("proof of work, when the user's policy asks", () => {
  const policy: PolicyContent = { powBits: 8, powUnit: 4096, maxSize: 16 * 1024 * 1024 };
  let pia: Member;
  beforeAll(async () => {
    pia = await join_(B, user('rcpt-pia'), { policy });
    await pia.c.setPrefetch(false);
  });

  /** A stamp good for `bits - 1` but not for `bits`. */
  const weakStamp = (rcpt: Uint8Array, id: Uint8Array, bits: number) => {
    for (;;) {
      const s = mintStamp(rcpt, id, bits - 1, systemRandom);
      if (codeOf(() => checkStamp(rcpt, id, s, bits)) === 'POW_INSUFFICIENT') return s;
    }
  };

  test('stranger: no stamp POW_MISSING, too weak POW_INSUFFICIENT (402), a good stamp accepted', async () => {
    const size = 1000;
    const bits = requiredBits(policy, size);
    expect(bits).toBe(8);
    const id = systemRandom(32);
    expect(refused(await notify(B, craft({ from: tom, to: pia.u.address, store: A.url, id, size }).bytes))).toEqual({ status: 402, error: 'POW_MISSING' });
    const weak = weakStamp(pia.u.address, id, bits);
    expect(refused(await notify(B, craft({ from: tom, to: pia.u.address, store: A.url, id, size, pow: weak }).bytes))).toEqual({
      status: 402,
      error: 'POW_INSUFFICIENT',
    });
    // A stamp is bound to its recipient: one good for another address does not pay here.
    const elsewhere = mintStamp(user('rcpt-someone').address, id, 12, systemRandom);
    if (codeOf(() => checkStamp(pia.u.address, id, elsewhere, bits)) !== 'ok') {
      expect(refused(await notify(B, craft({ from: tom, to: pia.u.address, store: A.url, id, size, pow: elsewhere }).bytes)).error).toBe('POW_INSUFFICIENT');
    }
    const good = mintStamp(pia.u.address, id, bits, systemRandom);
    expect((await notify(B, craft({ from: tom, to: pia.u.address, store: A.url, id, size, pow: good }).bytes)).status).toBe(202);
  });

  test('bigger messages need more bits', async () => {
    const size = 8 * policy.powUnit;
    const bits = requiredBits(policy, size);
    expect(bits).toBe(policy.powBits + 3);
    const id = systemRandom(32);
    // Good enough for a small message, not for this one.
    const small = weakStamp(pia.u.address, id, bits);
    expect(codeOf(() => checkStamp(pia.u.address, id, small, policy.powBits))).toBe('ok');
    expect(refused(await notify(B, craft({ from: una, to: pia.u.address, store: A.url, id, size, pow: small }).bytes))).toEqual({
      status: 402,
      error: 'POW_INSUFFICIENT',
    });
    const good = mintStamp(pia.u.address, id, bits, systemRandom);
    expect((await notify(B, craft({ from: una, to: pia.u.address, store: A.url, id, size, pow: good }).bytes)).status).toBe(202);
  });

  test('proof of work is checked before the signature; contacts are exempt', async () => {
    const n = craft({ from: sam, to: pia.u.address, store: A.url, size: 8 * policy.powUnit });
    expect(refused(await notify(B, badSignature(n.bytes)))).toEqual({ status: 402, error: 'POW_MISSING' });
    expect(refused(await notify(B, n.bytes))).toEqual({ status: 402, error: 'POW_MISSING' });
    await pia.c.addContact(sam.address);
    expect((await notify(B, n.bytes)).status).toBe(202);
    // A user without a policy asks nothing of strangers.
    const free = await join_(B, user('rcpt-pia-free'));
    await free.c.setPrefetch(false);
    expect((await notify(B, craft({ from: tom, to: free.u.address, store: A.url, size: 8 * policy.powUnit }).bytes)).status).toBe(202);
  });
});

describe('rate limits per sender and per sending store', () => {
  let R: RunningStore;
  const clock = new TestClock().freeze();
  let rosa: Member;
  beforeAll(async () => {
    R = await startTestStore(dir, 'r', { greylistSeconds: 0, perSenderPerMinute: 2, perStorePerMinute: 3 }, { clock });
    rosa = await join_(R, user('rcpt-rosa'), { clock: clock.now });
    await rosa.c.setPrefetch(false);
  });
  afterAll(() => R?.close());

  test('RATE_LIMITED (429) with Retry-After; refill after the wait', async () => {
    const mk = (from: User, store: RunningStore) => craft({ from, to: rosa.u.address, store: store.url, time: clock.now() });
    const t1 = mk(tom, A);
    const t2 = mk(tom, A);
    const t3 = mk(tom, A);
    expect((await notify(R, t1.bytes)).status).toBe(202);
    expect((await notify(R, t2.bytes)).status).toBe(202);
    const perSender = await notify(R, t3.bytes);
    expect(refused(perSender)).toEqual({ status: 429, error: 'RATE_LIMITED' });
    expect(perSender.json.message).toMatch(/sender/);
    expect(perSender.retryAfter).toBe('30'); // 2 per minute: one more in 30 s
    // A duplicate costs nothing and is still answered.
    expect((await notify(R, t1.bytes)).status).toBe(200);
    // Another sender through the same store: the store's third of three.
    expect((await notify(R, mk(una, A).bytes)).status).toBe(202);
    const perStore = await notify(R, mk(sam, A).bytes);
    expect(refused(perStore)).toEqual({ status: 429, error: 'RATE_LIMITED' });
    expect(perStore.json.message).toMatch(/store/);
    expect(perStore.retryAfter).toBe('20'); // 3 per minute: one more in 20 s
    // The same sender through his other store is not that store's flood.
    expect((await notify(R, mk(sam, C).bytes)).status).toBe(202);
    expect(inboxRows(R, rosa)).toHaveLength(4);
    expect(inboxById(R, rosa.u.address, t3.id)).toBeUndefined();
    // After the wait, the refused notification's retransmission gets through.
    clock.advance(30);
    expect((await notify(R, t3.bytes)).status).toBe(202);
    expect(inboxRows(R, rosa)).toHaveLength(5);
  });

  test('the per-sender limit counts messages: one message to many users passes, many notifications to one user do not', async () => {
    const R3 = await startTestStore(dir, 'r3', { greylistSeconds: 0, perSenderPerMinute: 2, perStorePerMinute: 1000 }, { clock });
    try {
      const users = await Promise.all(['r3-a', 'r3-b', 'r3-c', 'r3-d', 'r3-e'].map((n) => join_(R3, user(n), { clock: clock.now })));
      for (const u of users) await u.c.setPrefetch(false);
      // One message (one id) from tom to five users: one message against tom's two a minute.
      const id = systemRandom(32);
      for (const u of users) expect((await notify(R3, craft({ from: tom, to: u.u.address, store: A.url, id, time: clock.now() }).bytes)).status).toBe(202);
      // A second message is tom's second; a third is refused.
      expect((await notify(R3, craft({ from: tom, to: users[0]!.u.address, store: A.url, time: clock.now() }).bytes)).status).toBe(202);
      const third = await notify(R3, craft({ from: tom, to: users[1]!.u.address, store: A.url, time: clock.now() }).bytes);
      expect([refused(third), third.json.message]).toEqual([{ status: 429, error: 'RATE_LIMITED' }, expect.stringMatching(/messages from this sender/)]);
      // The same message, notified again and again to one user (each a new notification): the pair's limit.
      const again = await notify(R3, craft({ from: una, to: users[2]!.u.address, store: A.url, id, time: clock.now() - 1 }).bytes);
      expect(again.status).toBe(202);
      expect((await notify(R3, craft({ from: una, to: users[2]!.u.address, store: A.url, id, time: clock.now() - 2 }).bytes)).status).toBe(202);
      const bomb = await notify(R3, craft({ from: una, to: users[2]!.u.address, store: A.url, id, time: clock.now() - 3 }).bytes);
      expect([refused(bomb), bomb.json.message]).toEqual([{ status: 429, error: 'RATE_LIMITED' }, expect.stringMatching(/to this user/)]);
    } finally {
      await R3.close();
    }
  });

  test("forged claims of a store do not use up that store's allowance", async () => {
    // Anyone can mint keys and sign a notification claiming to come from C. If such claims
    // counted against C before C is verified, a forger could silence C for everyone.
    const R2 = await startTestStore(dir, 'r2', { greylistSeconds: 0, perSenderPerMinute: 2, perStorePerMinute: 3 }, { clock });
    try {
      const rex = await join_(R2, user('rcpt-rex'), { clock: clock.now });
      await rex.c.setPrefetch(false);
      for (let i = 0; i < 5; i++) {
        const forged = craft({ from: user(`rcpt-forger-${i}`), to: rex.u.address, store: C.url, time: clock.now() });
        expect(refused(await notify(R2, forged.bytes)).status).toBeGreaterThanOrEqual(400);
      }
      // vic is genuine but C does not serve him (his stores assertion names only A).
      for (let i = 0; i < 2; i++) {
        expect(refused(await notify(R2, craft({ from: vic, to: rex.u.address, store: C.url, time: clock.now() }).bytes))).toEqual({
          status: 403,
          error: 'STORE_NOT_AUTHORIZED',
        });
      }
      expect((await notify(R2, craft({ from: sam, to: rex.u.address, store: C.url, time: clock.now() }).bytes)).status).toBe(202);
    } finally {
      await R2.close();
    }
  });
});

describe('greylisting of strangers', () => {
  let G: RunningStore;
  const clock = new TestClock();
  const policy: PolicyContent = { powBits: 6, powUnit: 65536, maxSize: 16 * 1024 * 1024 };
  let gina: Member;
  beforeAll(async () => {
    G = await startTestStore(dir, 'g', { greylistSeconds: 300 }, { clock });
    gina = await join_(G, user('rcpt-gina'), { clock: clock.now, policy });
    await gina.c.setPrefetch(false);
  });
  afterAll(() => G?.close());

  const stamped = (from: User) => {
    const id = systemRandom(32);
    return craft({ from, to: gina.u.address, store: A.url, time: clock.now(), id, pow: mintStamp(gina.u.address, id, policy.powBits, systemRandom) });
  };

  test('first contact GREYLISTED (429, Retry-After); the retransmission after the delay accepted', async () => {
    const n = stamped(tom);
    const first = await notify(G, n.bytes);
    expect(refused(first)).toEqual({ status: 429, error: 'GREYLISTED' });
    expect(first.retryAfter).toBe('300');
    expect(inboxById(G, gina.u.address, n.id)).toBeUndefined();
    clock.advance(120);
    const early = await notify(G, n.bytes);
    expect(refused(early)).toEqual({ status: 429, error: 'GREYLISTED' });
    expect(Number(early.retryAfter)).toBeGreaterThanOrEqual(170); // 300 - 120, less any real seconds that passed
    expect(Number(early.retryAfter)).toBeLessThanOrEqual(180);
    clock.advance(181);
    const later = await notify(G, n.bytes);
    expect(later.status).toBe(202);
    expect(inboxById(G, gina.u.address, n.id)?.state).toBe('notified');
    // Known now: the next one passes at once.
    expect((await notify(G, stamped(tom).bytes)).status).toBe(202);
    // Another stranger is still greylisted.
    expect(refused(await notify(G, stamped(una).bytes))).toEqual({ status: 429, error: 'GREYLISTED' });
  });

  test('contacts are exempt: no greylist, no proof of work', async () => {
    const bare = craft({ from: sam, to: gina.u.address, store: A.url, time: clock.now() });
    expect(refused(await notify(G, bare.bytes))).toEqual({ status: 402, error: 'POW_MISSING' });
    await gina.c.addContact(sam.address);
    const n = craft({ from: sam, to: gina.u.address, store: C.url, time: clock.now() });
    expect((await notify(G, n.bytes)).status).toBe(202);
    expect((await notify(G, bare.bytes)).status).toBe(202);
  });
});

describe('durable inbox, prefetch, and the user API', () => {
  const message = (to: Member, subject: string) =>
    alice.c.send({ to: [to.u.address], cc: [], subject, date: realNow(), parents: [], body: `${subject}: body`, attachments: [] }, [
      { address: to.u.address, encryptionKey: to.u.enc.publicKey, store: B.url },
    ]);
  const outboxStatus = async (id: string) => (await alice.c.status(id)).recipients[0] as { status: string; fetchedAt: number | null; confirmedAt: number | null };

  test('prefetch on arrival by default: fetched without any user action, and a receipt reaches the sender', async () => {
    const pete = await join_(B, user('rcpt-pete'));
    const id = await message(pete, 'prefetched');
    const idBytes = Buffer.from(id, 'hex');
    // Watch the recipient's database, not its API: the user does nothing.
    const row = await until(() => {
      const r = inboxById(B, pete.u.address, idBytes);
      return r?.state === 'fetched' && r.receiptSent ? r : undefined;
    }, 10_000, 'prefetch');
    const env = B.storage.getInboxEnvelope(pete.u.address, row.seq)!;
    expect(hex(crypto().sha256(env))).toBe(id);
    expect(row.size).toBe(env.length);
    const st = await until(async () => {
      const s = await outboxStatus(id);
      return s.status === 'confirmed' ? s : undefined;
    }, 10_000, 'receipt at the sender');
    expect(st.fetchedAt).toBeGreaterThan(0);
    expect(st.confirmedAt).toBeGreaterThan(0);
    // The client reads the copy held by its store.
    const got = await pete.c.envelope(row.seq);
    expect(Buffer.from(got).equals(Buffer.from(env))).toBe(true);
    expect(openEnvelope(got, { key: pete.u.enc, now: realNow(), expectedId: idBytes }).message.body).toBe('prefetched: body');
  });

  test('prefetch off: stays notified until the user reads (fetched through the store); confirm tells the sender', async () => {
    const otto = await join_(B, user('rcpt-otto'));
    await otto.c.setPrefetch(false);
    const read = await message(otto, 'read me');
    const conf = await message(otto, 'confirm me');
    for (const id of [read, conf]) await until(() => (inboxById(B, otto.u.address, id) ? true : undefined), 10_000, 'notification');
    for (const id of [read, conf]) await until(async () => ((await outboxStatus(id)).status === 'notified' ? true : undefined), 10_000, 'notified');
    const [readSeq, confSeq] = [seqOf(B, otto.u.address, read), seqOf(B, otto.u.address, conf)];
    await sleep(400); // several worker passes
    for (const [id, seq] of [[read, readSeq], [conf, confSeq]] as const) {
      expect(B.storage.getInbox(otto.u.address, seq)?.state).toBe('notified');
      expect(B.storage.getInboxEnvelope(otto.u.address, seq)).toBeUndefined();
      expect((await outboxStatus(id)).status).toBe('notified'); // the sender has not been fetched from
    }
    // Reading fetches through the store, now.
    const env = await otto.c.envelope(readSeq);
    expect(hex(crypto().sha256(env))).toBe(read);
    expect(openEnvelope(env, { key: otto.u.enc, now: realNow(), expectedId: Buffer.from(read, 'hex') }).message.subject).toBe('read me');
    expect(B.storage.getInbox(otto.u.address, readSeq)?.state).toBe('fetched');
    expect((await outboxStatus(read)).fetchedAt).toBeGreaterThan(0);
    // Confirming one never read: the store fetches, keeps and confirms it.
    expect((await outboxStatus(conf)).status).toBe('notified');
    const r = await signedRequest(B.url, otto.u.device, 'POST', `/v1/inbox/${confSeq}/confirm`);
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ status: 'confirmed' });
    // The 200 comes after the sender store took the receipt, not from a later worker pass.
    const st = await outboxStatus(conf);
    expect(st.status).toBe('confirmed');
    expect(st.confirmedAt).toBeGreaterThan(0);
    expect(B.storage.getInbox(otto.u.address, confSeq)?.receiptSent).toBe(true);
  });

  test('inbox: since cursor and limit, fields as documented; delete, then NOT_FOUND', async () => {
    const ida = await join_(B, user('rcpt-ida'));
    await ida.c.setPrefetch(false);
    const sent = [craft({ from: tom, to: ida.u.address, store: A.url, size: 111 }), craft({ from: una, to: ida.u.address, store: A.url, size: 222 }), craft({ from: sam, to: ida.u.address, store: C.url, size: 333 })];
    for (const n of sent) expect((await notify(B, n.bytes)).status).toBe(202);

    const page1 = await ida.c.inbox(0, 2);
    expect(page1.items.map((i) => i.id)).toEqual([sent[0]!.idHex, sent[1]!.idHex]);
    expect(page1.next).toBe(page1.items[1]!.seq);
    expect(page1.items[0]!.seq).toBeLessThan(page1.items[1]!.seq);
    expect(page1.items[0]).toMatchObject({ sender: addressToText(tom.address), senderStore: A.url, size: 111, state: 'notified' });
    expect(Buffer.from(page1.items[0]!.notification, 'base64url').equals(Buffer.from(sent[0]!.bytes))).toBe(true);
    const page2 = await ida.c.inbox(page1.next, 2);
    expect(page2.items.map((i) => i.id)).toEqual([sent[2]!.idHex]);
    expect(page2.items[0]).toMatchObject({ sender: addressToText(sam.address), senderStore: C.url, size: 333 });
    const page3 = await ida.c.inbox(page2.next, 2);
    expect(page3).toEqual({ items: [], next: page2.next });
    // Another user's inbox is not this one.
    expect((await alice.c.inbox(0, 1000)).items.some((i) => sent.some((n) => n.idHex === i.id))).toBe(false);
    expect((await signedRequest(B.url, ida.u.device, 'GET', '/v1/inbox?since=-1')).status).toBe(400);

    const gone = sent[1]!;
    const goneSeq = page1.items[1]!.seq;
    expect(page1.items[1]!.id).toBe(gone.idHex);
    const del = await signedRequest(B.url, ida.u.device, 'DELETE', `/v1/inbox/${goneSeq}`);
    expect(del.status).toBe(200);
    for (const [method, path] of [
      ['GET', `/v1/inbox/${goneSeq}`],
      ['DELETE', `/v1/inbox/${goneSeq}`],
      ['POST', `/v1/inbox/${goneSeq}/confirm`],
      ['POST', `/v1/inbox/${goneSeq}/report`],
      ['GET', `/v1/inbox/${Number.MAX_SAFE_INTEGER}`],
    ] as const) {
      const r = await signedRequest(B.url, ida.u.device, method, path);
      expect({ path, status: r.status, error: r.json().error }).toEqual({ path, status: 404, error: 'NOT_FOUND' });
    }
    expect((await ida.c.inbox(0, 100)).items.map((i) => i.id)).toEqual([sent[0]!.idHex, sent[2]!.idHex]);
    // A retransmission of the deleted notification does not bring it back.
    expect(await notify(B, gone.bytes)).toMatchObject({ status: 200, json: { status: 'duplicate' } });
    expect((await ida.c.inbox(0, 100)).items.map((i) => i.id)).toEqual([sent[0]!.idHex, sent[2]!.idHex]);
  });

  test('report spam forwards the signed notification, and the envelope when held, to the report address', async () => {
    // Held envelope: a prefetched message.
    const pam = await join_(B, user('rcpt-pam'));
    const id = await message(pam, 'buy now');
    const idBytes = Buffer.from(id, 'hex');
    await until(() => (inboxById(B, pam.u.address, idBytes)?.state === 'fetched' ? true : undefined), 10_000, 'prefetch');
    const item = (await pam.c.inbox()).items.find((i) => i.id === id)!;
    const notification = new Uint8Array(Buffer.from(item.notification, 'base64url'));
    const v = verifyNotification(notification, { now: realNow() }); // signed by alice: evidence anyone can check
    expect(hex(v.sender)).toBe(hex(alice.u.address));
    expect(hex(v.body.id)).toBe(id);
    const envelope = await pam.c.envelope(item.seq);
    sink.received.length = 0;
    const r = await signedRequest(B.url, pam.u.device, 'POST', `/v1/inbox/${item.seq}/report`);
    expect(r.status).toBe(202);
    expect(sink.received).toHaveLength(1);
    expect(sink.received[0]).toMatchObject({ method: 'POST', path: '/spam' });
    // A SpamReport: the signed notification and the envelope whose hash it names, framed.
    const report = decode(SpamReport, new Uint8Array(sink.received[0]!.body));
    expect(Buffer.from(report.notification).equals(Buffer.from(notification))).toBe(true);
    expect(Buffer.from(report.envelope!).equals(Buffer.from(envelope))).toBe(true);
    expect(hex(crypto().sha256(report.envelope!))).toBe(id);

    // No envelope held: exactly the notification bytes the sender signed.
    await pam.c.setPrefetch(false);
    const n = craft({ from: tom, to: pam.u.address, store: A.url });
    expect((await notify(B, n.bytes)).status).toBe(202);
    sink.received.length = 0;
    const r2 = await signedRequest(B.url, pam.u.device, 'POST', `/v1/inbox/${seqOf(B, pam.u.address, n.id)}/report`);
    expect(r2.status).toBe(202);
    expect(sink.received).toHaveLength(1);
    const alone = decode(SpamReport, new Uint8Array(sink.received[0]!.body));
    expect(Buffer.from(alone.notification).equals(Buffer.from(n.bytes))).toBe(true);
    expect(alone.envelope).toBeUndefined();
  });

  test('an accepted notification survives a restart of the store', async () => {
    const D1 = await startTestStore(dir, 'd', { greylistSeconds: 0 });
    const port = Number(new URL(D1.url).port);
    const dora = await join_(D1, user('rcpt-dora'));
    await dora.c.setPrefetch(false);
    const n = craft({ from: tom, to: dora.u.address, store: A.url });
    expect((await notify(D1, n.bytes)).status).toBe(202);
    await D1.close();
    const D2 = await startTestStore(dir, 'd', { greylistSeconds: 0 }, { port });
    try {
      expect(D2.url).toBe(D1.url);
      expect((await dora.c.inbox()).items.map((i) => i.id)).toEqual([n.idHex]);
      expect(await notify(D2, n.bytes)).toMatchObject({ status: 200, json: { status: 'duplicate' } });
    } finally {
      await D2.close();
    }
  });
});

describe('retractions without an index on message ids', () => {
  test('a retraction finds its item among thousands of the same user, and withdraws nothing else', async () => {
    const ray = await join_(B, user('rcpt-ray'));
    await ray.c.setPrefetch(false);
    const neighbour = await join_(B, user('rcpt-ray-neighbour'));
    await neighbour.c.setPrefetch(false);
    // Items addressed by seq: the store keeps no index that leads with the message id.
    const indexed = (B.storage.db.prepare("SELECT name FROM pragma_index_list('inbox')").all() as { name: string }[]).map(
      (i) => (B.storage.db.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').all(i.name) as { name: string }[]).map((c) => c.name),
    );
    expect(indexed.length).toBeGreaterThan(0);
    for (const cols of indexed) expect(cols.slice(0, 2)).not.toContain('id');

    // Many items of ray's from the same sender, before and after the one to withdraw.
    const t = realNow();
    const filler = (u: Uint8Array, n: number): NewInboxItem[] =>
      Array.from({ length: n }, () => ({
        user: u,
        id: systemRandom(32),
        time: t,
        hash: systemRandom(32),
        notification: systemRandom(64),
        sender: tom.address,
        senderStore: A.url,
        size: 1000,
        received: t,
      }));
    expect((await B.storage.addInboxMany(filler(ray.u.address, 3000))).every((r) => r === 'new')).toBe(true);
    const target = craft({ from: tom, to: ray.u.address, store: A.url });
    expect((await notify(B, target.bytes)).status).toBe(202);
    // Another notification for the same message (a second item), and the same message id held
    // for the neighbour and from another sender: the retraction names sender, id and recipient.
    const again = craft({ from: tom, to: ray.u.address, store: A.url, id: target.id, time: t - 5 });
    expect((await notify(B, again.bytes)).status).toBe(202);
    expect((await notify(B, craft({ from: tom, to: neighbour.u.address, store: A.url, id: target.id }).bytes)).status).toBe(202);
    expect((await notify(B, craft({ from: una, to: ray.u.address, store: A.url, id: target.id }).bytes)).status).toBe(202);
    expect((await B.storage.addInboxMany(filler(ray.u.address, 3000))).every((r) => r === 'new')).toBe(true);

    const mine = () => B.storage.listInbox(ray.u.address, 0, 1_000_000);
    const ofTarget = (rows: ReturnType<typeof mine>) => rows.filter((r) => hex(r.id) === target.idHex);
    expect(mine()).toHaveLength(6003);
    const before = ofTarget(mine());
    expect(before.map((r) => [hex(r.sender), r.state])).toEqual([
      [hex(tom.address), 'notified'],
      [hex(tom.address), 'notified'],
      [hex(una.address), 'notified'],
    ]);
    const [first, second, fromUna] = before as [InboxRowT, InboxRowT, InboxRowT];

    const retraction = makeRetraction({ sender: tom.device, id: target.id, recipient: ray.u.address, time: realNow() });
    expect(await postRaw(`${B.url}/v1/retractions`, retraction)).toMatchObject({ status: 200, json: { status: 'retracted' } });

    // Both of tom's items for this message are withdrawn; una's, the neighbour's and the 6000 others are not.
    expect(B.storage.getInbox(ray.u.address, first.seq)!.state).toBe('retracted');
    expect(B.storage.getInbox(ray.u.address, second.seq)!.state).toBe('retracted');
    expect(B.storage.getInbox(ray.u.address, fromUna.seq)!.state).toBe('notified');
    expect(inboxById(B, neighbour.u.address, target.id)!.state).toBe('notified');
    const states = new Map<string, number>();
    for (const r of mine()) states.set(r.state, (states.get(r.state) ?? 0) + 1);
    expect(Object.fromEntries(states)).toEqual({ notified: 6001, retracted: 2 });
    // The user sees it withdrawn: 410 GONE by its seq.
    const gone = await signedRequest(B.url, ray.u.device, 'GET', `/v1/inbox/${first.seq}`);
    expect([gone.status, gone.json().error]).toEqual([410, 'GONE']);
    // Again: nothing left to withdraw.
    const twice = makeRetraction({ sender: tom.device, id: target.id, recipient: ray.u.address, time: realNow() });
    expect(await postRaw(`${B.url}/v1/retractions`, twice)).toMatchObject({ status: 200, json: { status: 'too-late' } });
  });
});
