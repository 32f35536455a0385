/**
 * The sender role of a store over real HTTP and SQLite: the archive is the outbox.
 * Alice's store S keeps each envelope once, tracks each recipient, serves fetches only
 * to recipients, enforces quota and outgoing limits, and retransmits until confirmed
 * or expired. Bob and carol live on the recipient stores R1 and R2.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fromHex } from '../src/bytes/index.js';
import { systemRandom } from '../src/crypto/index.js';
import { makeNotification, makeReceipt } from '../src/protocol/index.js';
import { encode } from '../src/wire/index.js';
import { Upload } from '../src/wire/schema.js';
import type { RunningStore } from '../src/server/server.js';
import { makeUser } from './helpers.js';
import {
  buildUpload,
  deadOrigin,
  draft,
  fetchRequest,
  hex,
  joinStore,
  messageRows,
  Net,
  now,
  outboxRows,
  outsider,
  post,
  randomId,
  recipientStatus,
  seqOf,
  sha256,
  signed,
  sleep,
  TestClock,
  until,
  usedBytes,
  type Member,
} from './store-fixtures.js';

const net = new Net();
let S: RunningStore;
let R1: RunningStore;
let R2: RunningStore;
let alice: Member;
let bob: Member; // on R1, prefetch on
let carol: Member; // on R2, prefetch off
let dead: string;
const mallory = makeUser('snd-mallory'); // registered nowhere

beforeAll(async () => {
  [S, R1, R2] = await Promise.all([net.start('S'), net.start('R1'), net.start('R2')]);
  [alice, bob, carol] = await Promise.all([joinStore(S, 'snd-alice'), joinStore(R1, 'snd-bob'), joinStore(R2, 'snd-carol', { prefetch: false })]);
  dead = await deadOrigin();
});
afterAll(() => net.close());

const upload = (m: Member, body: Uint8Array) => signed(m.url, m.u.device, 'POST', '/v1/messages', body);

describe('storage once, status per recipient', () => {
  let id: string;

  test('an envelope to several recipients is stored once', async () => {
    const before = { rows: messageRows(S), used: usedBytes(S, alice) };
    id = await alice.c.send(draft([bob.u.address, carol.u.address], 'One copy, two readers.'), [bob.info, carol.info]);
    const env = S.storage.getEnvelope(fromHex(id))!;
    expect(hex(sha256(env))).toBe(id);
    expect(messageRows(S)).toBe(before.rows + 1);
    expect(messageRows(S, fromHex(id))).toBe(1);
    expect(outboxRows(S, fromHex(id))).toBe(2);
    expect(usedBytes(S, alice) - before.used).toBe(env.length);
    const st = await alice.c.status(id);
    expect(st.size).toBe(env.length);
    expect(st.recipients).toHaveLength(2);
  });

  test('per-recipient status: notified, fetched, confirmed, attempts, lastError', async () => {
    const dave = outsider('snd-dave', dead); // his store does not answer
    const mid = await alice.c.send(draft([bob.u.address, carol.u.address, dave.u.address], 'Status check.'), [bob.info, carol.info, dave.info]);

    const b = await until(async () => {
      const r = await recipientStatus(alice, mid, bob);
      return r?.status === 'confirmed' ? r : undefined;
    }, 10_000, 'bob confirmed');
    expect(b.attempts).toBeGreaterThanOrEqual(1);
    expect(b.lastError).toBeNull();
    expect(b.notifiedAt).toBeGreaterThan(0);
    expect(b.fetchedAt).toBeGreaterThanOrEqual(b.notifiedAt!);
    expect(b.confirmedAt).toBeGreaterThanOrEqual(b.fetchedAt!);

    // Carol's store does not prefetch: notified only.
    const c = await until(async () => {
      const r = await recipientStatus(alice, mid, carol);
      return r?.status === 'notified' ? r : undefined;
    }, 10_000, 'carol notified');
    expect(c).toMatchObject({ attempts: 1, lastError: null, fetchedAt: null, confirmedAt: null });
    expect(c.notifiedAt).toBeGreaterThan(0);

    // Dave's store is unreachable: attempts grow, the last error is kept, nothing else.
    const d = await until(async () => {
      const r = await recipientStatus(alice, mid, dave);
      return r && r.attempts >= 2 ? r : undefined;
    }, 10_000, 'dave retried');
    expect(d.status).toBe('pending');
    expect(d.lastError).toEqual(expect.any(String));
    expect(d).toMatchObject({ notifiedAt: null, fetchedAt: null, confirmedAt: null });

    // Carol reads it: her store fetches and confirms.
    await carol.c.confirm(seqOf(R2, carol.u.address, mid));
    const c2 = await until(async () => {
      const r = await recipientStatus(alice, mid, carol);
      return r?.status === 'confirmed' ? r : undefined;
    }, 10_000, 'carol confirmed');
    expect(c2.fetchedAt).toBeGreaterThan(0);
    expect(c2.confirmedAt).toBeGreaterThan(0);

    // Another user cannot read alice's status; an unknown id is NOT_FOUND.
    const other = await signed(S.url, alice.u.device, 'GET', `/v1/messages/${hex(randomId())}`);
    expect([other.status, other.json.error]).toEqual([404, 'NOT_FOUND']);
  });

  test('a receipt from someone else does not confirm', async () => {
    const r = await post(S.url, '/v1/receipts', makeReceipt({ recipient: mallory.device, id: fromHex(id), time: now() }));
    expect([r.status, r.json.error]).toEqual([404, 'NOT_FOUND']);
    expect((await recipientStatus(alice, id, carol))!.status).not.toBe('confirmed');
  });

  test('fetch by hash: only recipients, the same bytes for each, no replays', async () => {
    const stored = S.storage.getEnvelope(fromHex(id))!;
    // Through their stores: bob's was prefetched, carol's store fetches now.
    const viaBob = await bob.c.envelope(seqOf(R1, bob.u.address, id));
    const viaCarol = await carol.c.envelope(seqOf(R2, carol.u.address, id));
    expect(viaBob).toEqual(stored);
    expect(viaCarol).toEqual(stored);
    // Directly, signed by each recipient's device.
    const direct = await Promise.all([bob, carol].map((m) => post(S.url, '/v1/fetch', fetchRequest(m.u.device, fromHex(id), S.url))));
    for (const r of direct) {
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/octet-stream');
      expect(Buffer.compare(Buffer.from(r.bytes), Buffer.from(stored))).toBe(0);
    }
    expect(Buffer.compare(Buffer.from(direct[0]!.bytes), Buffer.from(direct[1]!.bytes))).toBe(0);

    let r = await post(S.url, '/v1/fetch', fetchRequest(mallory.device, fromHex(id), S.url));
    expect([r.status, r.json.error]).toEqual([403, 'NOT_A_RECIPIENT']);
    r = await post(S.url, '/v1/fetch', fetchRequest(bob.u.device, randomId(), S.url));
    expect([r.status, r.json.error]).toEqual([404, 'NOT_FOUND']);
    // A request made out for another store cannot be spent here.
    r = await post(S.url, '/v1/fetch', fetchRequest(bob.u.device, fromHex(id), R1.url));
    expect([r.status, r.json.error]).toEqual([400, 'SUBJECT_MISMATCH']);

    const req = fetchRequest(bob.u.device, fromHex(id), S.url);
    r = await post(S.url, '/v1/fetch', req);
    expect(r.status).toBe(200);
    r = await post(S.url, '/v1/fetch', req);
    expect([r.status, r.json.error]).toEqual([409, 'REPLAY']);
  });
});

describe('unsend and fetch', () => {
  test('unsend after one recipient fetched: only the other is withdrawn; its fetches answer GONE, the reader keeps access', async () => {
    const id = await alice.c.send(draft([bob.u.address, carol.u.address], 'Half withdrawn.'), [bob.info, carol.info]);
    await until(async () => ((await recipientStatus(alice, id, bob))?.fetchedAt ? true : undefined), 10_000, 'bob fetched');
    await until(async () => ((await recipientStatus(alice, id, carol))?.status === 'notified' ? true : undefined), 10_000, 'carol notified');
    const used = usedBytes(S, alice);
    expect(await alice.c.unsend(id, [bob.u.address, carol.u.address])).toEqual([carol.text]);
    expect((await recipientStatus(alice, id, carol))!.status).toBe('retracted');
    expect((await recipientStatus(alice, id, bob))!.status).not.toBe('retracted');
    // The envelope stays for bob, who has it already, and so does the space it uses.
    expect(S.storage.getEnvelope(fromHex(id))).toBeDefined();
    expect(usedBytes(S, alice)).toBe(used);
    let r = await post(S.url, '/v1/fetch', fetchRequest(carol.u.device, fromHex(id), S.url));
    expect([r.status, r.json.error]).toEqual([410, 'GONE']);
    r = await post(S.url, '/v1/fetch', fetchRequest(bob.u.device, fromHex(id), S.url));
    expect(r.status).toBe(200);
    const withdrawn = await until(async () => (await carol.c.inbox()).items.find((i) => i.id === id && i.state === 'retracted'), 10_000, 'retracted at R2');
    await expect(carol.c.envelope(withdrawn.seq)).rejects.toMatchObject({ code: 'GONE' });
  });

  test('two recipients on one store are both delivered and confirmed', async () => {
    const [rob, ruth] = await Promise.all([joinStore(R1, 'snd-rob'), joinStore(R1, 'snd-ruth')]);
    const id = await alice.c.send(draft([rob.u.address, ruth.u.address], 'Same store.'), [rob.info, ruth.info]);
    const st = await until(async () => {
      const s = await alice.c.status(id);
      return s.recipients.every((r: { status: string }) => r.status === 'confirmed') ? s : undefined;
    }, 10_000, 'both confirmed');
    expect(st.recipients).toHaveLength(2);
    for (const r of st.recipients) {
      expect(r.attempts).toBeGreaterThanOrEqual(1);
      expect(r.notifiedAt).toBeGreaterThan(0);
      expect(r.lastError).toBeNull();
    }
    for (const m of [rob, ruth]) expect((await m.c.envelope(seqOf(R1, m.u.address, id))).length).toBe(st.size);
  });
});

describe('upload checks', () => {
  const good = () => buildUpload({ sender: alice.u.device, store: S.url, draft: draft([bob.u.address, carol.u.address], 'checked'), recipients: [bob.info, carol.info] });

  test('a notification naming another message, another store, or signed by another user is refused; nothing is stored', async () => {
    const rows = messageRows(S);
    const used = usedBytes(S, alice);
    const cases = [
      { o: { id: randomId() }, code: 'CONTENT_HASH_MISMATCH' },
      { o: { store: R1.url }, code: 'SUBJECT_MISMATCH' },
      { o: { sender: mallory.device }, code: 'SUBJECT_MISMATCH' },
      { o: { size: 12 }, code: 'INVALID_ARGUMENT' },
      { o: { recipient: bob.u.address }, code: 'INVALID_ARGUMENT' }, // two notifications for bob
    ];
    for (const { o, code } of cases) {
      // The second notification is the bad one: the first, good one is not stored either.
      const up = buildUpload({ sender: alice.u.device, store: S.url, draft: draft([bob.u.address, carol.u.address], 'bad'), recipients: [bob.info, carol.info], override: (i) => (i === 1 ? o : undefined) });
      const r = await upload(alice, up.body);
      expect([r.status, r.json.error], code).toEqual([400, code]);
      expect(S.storage.getMessage(up.id)).toBeUndefined();
    }
    expect(messageRows(S)).toBe(rows);
    expect(usedBytes(S, alice)).toBe(used);
  });

  test('a repeated upload of the same message is idempotent: 200, stored once', async () => {
    const up = good();
    const used = usedBytes(S, alice);
    const first = await upload(alice, up.body);
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ id: up.idHex, recipients: 2 });
    const again = await upload(alice, up.body);
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ id: up.idHex, recipients: 2 });
    expect(messageRows(S, up.id)).toBe(1);
    expect(outboxRows(S, up.id)).toBe(2);
    expect(usedBytes(S, alice) - used).toBe(up.envelope.length);
  });

  test('the same upload twice at once: one 201, one 200, one copy', async () => {
    const up = good();
    const used = usedBytes(S, alice);
    const rs = await Promise.all([upload(alice, up.body), upload(alice, up.body)]);
    expect(rs.map((r) => r.status).sort()).toEqual([200, 201]);
    expect(messageRows(S, up.id)).toBe(1);
    expect(outboxRows(S, up.id)).toBe(2);
    expect(usedBytes(S, alice) - used).toBe(up.envelope.length);
  });

  test("another user re-uploading alice's envelope gets nothing of hers", async () => {
    const copycat = await joinStore(S, 'snd-copycat');
    const id = await alice.c.send(draft([bob.u.address], 'Mine.'), [bob.info]);
    const env = S.storage.getEnvelope(fromHex(id))!;
    const before = S.storage.listOutbox(fromHex(id)).map((o) => hex(o.recipient));
    // Carol's address, notified by copycat, for alice's envelope bytes.
    const t = now();
    const up = encode(Upload, {
      envelope: env,
      routes: [{ store: carol.url, notification: makeNotification({ sender: copycat.u.device, recipient: { address: carol.u.address }, store: S.url, id: fromHex(id), size: env.length, time: t, expires: t + 3600, random: systemRandom }) }],
    });
    const r = await upload(copycat, up);
    expect(r.status).not.toBe(201);
    expect(S.storage.listOutbox(fromHex(id)).map((o) => hex(o.recipient))).toEqual(before);
    expect(S.storage.getMessage(fromHex(id))!.sender).toEqual(alice.u.address);
    const st = await signed(S.url, copycat.u.device, 'GET', `/v1/messages/${id}`);
    expect([st.status, st.json.error]).toEqual([404, 'NOT_FOUND']);
  });

  test('an unregistered user is refused: NOT_REGISTERED', async () => {
    const up = buildUpload({ sender: mallory.device, store: S.url, draft: draft([bob.u.address], 'let me in'), recipients: [bob.info] });
    const r = await signed(S.url, mallory.device, 'POST', '/v1/messages', up.body);
    expect([r.status, r.json.error]).toEqual([403, 'NOT_REGISTERED']);
    expect(S.storage.getMessage(up.id)).toBeUndefined();
  });
});

describe('quota and outgoing limits', () => {
  test('quota per user: QUOTA_EXCEEDED (507), and unsend gives the space back', async () => {
    const Q = await net.start('Q', { config: { quotaBytes: 4000 } });
    const q = await joinStore(Q, 'snd-quota');
    const nobody = outsider('snd-nobody', dead);
    const big = (text: string) => buildUpload({ sender: q.u.device, store: Q.url, draft: draft([nobody.u.address], text), recipients: [nobody.info] });
    const first = big('a'.repeat(2500));
    expect((await upload(q, first.body)).status).toBe(201);
    expect(usedBytes(Q, q)).toBe(first.envelope.length);

    const second = big('b'.repeat(2500));
    const r = await upload(q, second.body);
    expect([r.status, r.json.error]).toEqual([507, 'QUOTA_EXCEEDED']);
    expect(Q.storage.getMessage(second.id)).toBeUndefined();
    expect(usedBytes(Q, q)).toBe(first.envelope.length);

    // Nobody fetched the first: unsending it frees its space, and the second fits.
    expect(await q.c.unsend(first.idHex, [nobody.u.address])).toEqual([nobody.text]);
    expect(usedBytes(Q, q)).toBe(0);
    expect((await upload(q, second.body)).status).toBe(201);
  });

  test('notifications per hour and distinct recipients per day: RATE_LIMITED (429)', async () => {
    const L = await net.start('L', { config: { notificationsPerHour: 4, recipientsPerDay: 2 } });
    const [hourly, daily] = await Promise.all([joinStore(L, 'snd-hourly'), joinStore(L, 'snd-daily')]);
    const [x, y, z] = ['snd-x', 'snd-y', 'snd-z'].map((n) => outsider(n, dead)) as [Member, Member, Member];
    const to = (m: Member, rcpts: Member[]) =>
      buildUpload({ sender: m.u.device, store: L.url, draft: draft(rcpts.map((r) => r.u.address), `${Math.random()}`), recipients: rcpts.map((r) => r.info) });

    for (let i = 0; i < 4; i++) expect((await upload(hourly, to(hourly, [x]).body)).status).toBe(201);
    const over = to(hourly, [x]);
    let r = await upload(hourly, over.body);
    expect([r.status, r.json.error]).toEqual([429, 'RATE_LIMITED']);
    expect(r.json.message).toMatch(/hour/);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(L.storage.getMessage(over.id)).toBeUndefined();

    // Limits are per user: the other one is not affected. Repeated recipients count once a day.
    expect((await upload(daily, to(daily, [x, y]).body)).status).toBe(201);
    expect((await upload(daily, to(daily, [y]).body)).status).toBe(201);
    const third = to(daily, [z]);
    r = await upload(daily, third.body);
    expect([r.status, r.json.error]).toEqual([429, 'RATE_LIMITED']);
    expect(r.json.message).toMatch(/distinct recipients/);
    expect(L.storage.getMessage(third.id)).toBeUndefined();
  });
});

describe('a refused upload spends none of the allowance', () => {
  test('over quota or over the distinct-recipient limit: the hourly and daily allowances stay', async () => {
    const L2 = await net.start('L2', { config: { notificationsPerHour: 2, recipientsPerDay: 1, quotaBytes: 3000 } });
    const u = await joinStore(L2, 'snd-thrifty');
    const [x, y] = [outsider('snd-x2', dead), outsider('snd-y2', dead)];
    const to = (r: Member, text: string) => upload(u, buildUpload({ sender: u.u.device, store: L2.url, draft: draft([r.u.address], text), recipients: [r.info] }).body);
    let r = await to(x, 'a'.repeat(4000));
    expect([r.status, r.json.error]).toEqual([507, 'QUOTA_EXCEEDED']);
    // x was not sent anything: y is still the first distinct recipient, and the first notification this hour.
    expect((await to(y, 'one')).status).toBe(201);
    r = await to(x, 'two');
    expect([r.status, r.json.error]).toEqual([429, 'RATE_LIMITED']);
    expect(r.json.message).toMatch(/distinct/);
    // That refusal did not take the second notification of the hour either.
    expect((await to(y, 'three')).status).toBe(201);
    r = await to(y, 'four');
    expect([r.status, r.json.error]).toEqual([429, 'RATE_LIMITED']);
    expect(r.json.message).toMatch(/hour/);
  });
});

describe('retransmission', () => {
  test('continues until confirmed, then stops', async () => {
    const T = await net.start('T', { config: { confirmWait: 1 } });
    const ted = await joinStore(T, 'snd-ted');
    const rita = await joinStore(R1, 'snd-rita', { prefetch: false });
    const id = await ted.c.send(draft([rita.u.address], 'Did you get it?'), [rita.info]);
    const growing = await until(async () => {
      const r = await recipientStatus(ted, id, rita);
      return r && r.attempts >= 3 ? r : undefined;
    }, 10_000, 'retransmissions');
    expect(growing).toMatchObject({ status: 'notified', lastError: null, confirmedAt: null });
    // Retransmissions are duplicates at R1: one inbox item.
    const held = (await rita.c.inbox()).items.filter((i) => i.id === id);
    expect(held).toHaveLength(1);

    await rita.c.confirm(held[0]!.seq);
    await until(async () => ((await recipientStatus(ted, id, rita))?.status === 'confirmed' ? true : undefined), 10_000, 'confirmed');
    await sleep(200); // an attempt in flight when the receipt came may still be counted
    const settled = (await recipientStatus(ted, id, rita))!.attempts;
    await sleep(2500); // more than two confirmWaits
    const after = (await recipientStatus(ted, id, rita))!;
    expect(after.status).toBe('confirmed');
    expect(after.attempts).toBe(settled);
  });

  test('expired notifications stop being sent', async () => {
    const clock = new TestClock();
    const E = await net.start('E', { clock, config: { confirmWait: 1, retryMax: 1 } });
    const eve = await joinStore(E, 'snd-eve', { clock: clock.now });
    const rex = await joinStore(R1, 'snd-rex', { prefetch: false }); // notified, never confirms
    const gone = outsider('snd-gone', dead); // never reachable
    const id = await eve.c.send(draft([rex.u.address, gone.u.address], 'Short-lived.'), [rex.info, gone.info], { lifetime: 30 });
    await until(async () => {
      const [a, b] = await Promise.all([recipientStatus(eve, id, rex), recipientStatus(eve, id, gone)]);
      return a && b && a.attempts >= 2 && b.attempts >= 2 ? true : undefined;
    }, 10_000, 'retries before expiry');
    expect((await recipientStatus(eve, id, rex))!.status).toBe('notified');
    expect((await recipientStatus(eve, id, gone))!.status).toBe('pending');

    clock.offset += 60; // past the notifications' expiry
    await until(async () => {
      const st = await eve.c.status(id);
      return st.recipients.every((r: { status: string }) => r.status === 'expired') ? true : undefined;
    }, 10_000, 'expired');
    await sleep(200);
    const frozen = (await eve.c.status(id)).recipients.map((r: { attempts: number }) => r.attempts);
    await sleep(2000);
    expect((await eve.c.status(id)).recipients.map((r: { attempts: number }) => r.attempts)).toEqual(frozen);
  });
});
