/**
 * Durability (issue points 1 and 6, DESIGN parts 4 and 7): two stores as real child
 * processes on 127.0.0.1 with real SQLite files. A store is killed with SIGKILL in the
 * middle of a burst of more than 1,000 requests and started again on the same data folder
 * and port; then every acknowledged item must be there exactly once, nothing may be
 * half-written, and retransmission must pick up where it stopped. A graceful stop
 * (SIGTERM) finishes the request in flight, refuses new ones and exits 0.
 *
 * Store A is the senders' store (sender role), store B the recipients' (recipient role).
 */
import Database from 'better-sqlite3';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StoreClient } from '../src/client/store-client.js';
import { toHex } from '../src/bytes/index.js';
import { systemRandom } from '../src/crypto/index.js';
import { makeAssertion } from '../src/protocol/index.js';
import { SqliteStorage } from '../src/storage/sqlite.js';
import { makeUser, type User } from './helpers.js';
import { authHeader, burst, directNotification, notify, sealedUpload, upload, type BurstReport, type Op, type Party } from './durability/load.js';
import { freePort, StoreProcess } from './durability/proc.js';

const now = () => Math.floor(Date.now() / 1000);
const SETTINGS = { greylist: 0, 'retry-base': 1, 'retry-max': 2 };
/** The burst of each kill test (issue point 6: at least 1,000), all of it in flight at once. */
const BURST = 1000;
const IN_FLIGHT = BURST;
/** kill -9 after this many acknowledgements: the rest are still in flight. */
const KILL_AT = 600;
/** A request cut by the kill fails in transport; an HTTP error reply would be a bug of its own. */
const expectOnlyTransportFailures = (r: BurstReport) => {
  for (const why of r.failed.values()) expect(why).toMatch(/^(ECONNRESET|ECONNREFUSED|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED)$/);
};

let dir: string;
let A: StoreProcess;
let B: StoreProcess;
const killAll = () => {
  A?.kill9();
  B?.kill9();
};

interface Member {
  u: User;
  c: StoreClient;
  party: Party;
}
let alice: Member;
let senders: Member[];
let bob: Member;
let dan: Member;
let carol: Member;
/** What was measured, printed at the end for the report. */
const measured: Record<string, unknown> = {};

async function member(store: StoreProcess, name: string, invite: string): Promise<Member> {
  const u = makeUser(`durability-${name}`);
  const c = new StoreClient({ url: store.url, signer: u.device });
  await c.register(invite, u.identity);
  const t = now();
  await c.publish([
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'stores', stores: [{ priority: 10, url: store.url }] } }),
    makeAssertion({ identity: u.identity, seq: 1, notBefore: t - 60, notAfter: t + 86400, content: { type: 'keys', keys: [{ purpose: 2, key: u.enc.publicKey, notAfter: t + 86400 }] } }),
  ]);
  return { u, c, party: { address: u.address, encryptionKey: u.enc.publicKey } };
}

/** Open a store's database read-only beside the running process (WAL allows it). */
function withDb<T>(s: StoreProcess, f: (db: Database.Database) => T): T {
  const db = new Database(s.dbPath, { readonly: true, fileMustExist: true });
  try {
    return f(db);
  } finally {
    db.close();
  }
}

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Every inbox item of a user, all pages. */
async function inboxOf(m: Member) {
  const items: Awaited<ReturnType<StoreClient['inbox']>>['items'] = [];
  for (let since = 0; ; ) {
    const page = await m.c.inbox(since, 1000);
    items.push(...page.items);
    if (page.items.length < 1000) return items;
    since = page.next;
  }
}

/** Run `f` over `xs` with at most `n` at a time. */
async function pool<T, R>(xs: T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < xs.length) {
        const k = i++;
        out[k] = await f(xs[k]!);
      }
    }),
  );
  return out;
}

/** Outbox rows per status, among the given message ids (hex). */
function outboxStatuses(s: StoreProcess, ids: Iterable<string>): Record<string, number> {
  const want = new Set(ids);
  return withDb(s, (db) => {
    const counts: Record<string, number> = {};
    for (const r of db.prepare('SELECT id, status FROM outbox').all() as { id: Buffer; status: string }[]) {
      if (want.has(r.id.toString('hex'))) counts[r.status] = (counts[r.status] ?? 0) + 1;
    }
    return counts;
  });
}

/** Wait until every outbox row of these messages is confirmed; returns the time it took. */
async function allConfirmed(s: StoreProcess, ids: Set<string>, rows: number, ms: number): Promise<number> {
  const t0 = Date.now();
  let last: Record<string, number> = {};
  try {
    await until(
      'all deliveries confirmed',
      () => {
        last = outboxStatuses(s, ids);
        return last.confirmed === rows ? true : undefined;
      },
      ms,
    );
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${JSON.stringify(last)} of ${rows} rows\n${[...A.output.slice(-10), ...B.output.slice(-10)].join('\n')}`);
  }
  return Date.now() - t0;
}

function describeBurst(r: BurstReport) {
  const reasons: Record<string, number> = {};
  for (const why of r.failed.values()) reasons[why] = (reasons[why] ?? 0) + 1;
  return { attempted: r.attempted, acked: r.acked.size, failed: r.failed.size, reasons, notSent: r.notSent.size, inFlightAtKill: r.inFlightAtTrigger, ackedAfterKill: r.ackedAfterTrigger, ms: r.ms };
}

const fileStart = Date.now();
beforeAll(async () => {
  const t0 = Date.now();
  process.once('exit', killAll); // even if the worker dies, no store outlives the test run
  dir = mkdtempSync(join(tmpdir(), 'kp-durability-'));
  const [pa, pb] = [await freePort(), await freePort()];
  A = new StoreProcess('A', join(dir, 'a'), pa, SETTINGS);
  B = new StoreProcess('B', join(dir, 'b'), pb, SETTINGS);
  await Promise.all([A.start(), B.start()]);
  // Invites from the real `invite` subcommand, beside the running stores.
  const invA = await Promise.all(Array.from({ length: 5 }, () => A.invite()));
  const invB = await Promise.all(Array.from({ length: 3 }, () => B.invite()));
  const onA = await Promise.all(['alice', 's1', 's2', 's3', 's4'].map((n, i) => member(A, n, invA[i]!)));
  const onB = await Promise.all(['bob', 'dan', 'carol'].map((n, i) => member(B, n, invB[i]!)));
  [alice, senders] = [onA[0]!, onA.slice(1)];
  [bob, dan, carol] = [onB[0]!, onB[1]!, onB[2]!];
  // Carol's notifications name messages that exist nowhere: no prefetch for her.
  await carol.c.setPrefetch(false);
  measured.setupMs = Date.now() - t0;
}, 60_000);

afterAll(async () => {
  killAll();
  await Promise.all([A?.exited(), B?.exited()]);
  process.off('exit', killAll);
  measured.fileMs = Date.now() - fileStart;
  console.log('durability measurements:', JSON.stringify(measured, null, 1));
  // KEYPOST_KEEP_DATA=1 keeps both databases for a post-mortem.
  if (dir && process.env.KEYPOST_KEEP_DATA) console.log('data kept in', dir);
  else if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.sequential('store durability (real processes, SIGKILL and SIGTERM)', () => {
  test('SIGKILL of the recipient store during a burst of notifications and deliveries', async () => {
    // 1,000 notifications posted straight to B (from four senders, for carol), and at the same
    // time 200 uploads to A for bob, which A's worker is delivering to B when B dies.
    const sent = new Map<string, Uint8Array>();
    const noteOps: Op[] = Array.from({ length: BURST }, (_, i) => {
      const n = directNotification(senders[i % senders.length]!.u.device, A.url, carol.party);
      sent.set(n.id, n.bytes);
      return { key: n.id, send: () => notify(B.url, n.bytes) };
    });
    const ups = Array.from({ length: 200 }, (_, i) =>
      sealedUpload({ sender: alice.u.device, senderStore: A.url, to: [bob.party], recipientStore: B.url, subject: `one ${i}`, text: `message ${i} of the first burst` }),
    );
    const upOps: Op[] = ups.map((u) => ({ key: u.id, send: () => upload(A.url, alice.u.device, u) }));
    const [nr, ur] = await Promise.all([
      burst(noteOps, { concurrency: IN_FLIGHT, triggerAfter: KILL_AT, trigger: () => B.kill9() }),
      burst(upOps, { concurrency: 8 }),
    ]);
    const exit = await B.exited();
    expect(exit.signal).toBe('SIGKILL');
    measured.recipientKill = { notifications: describeBurst(nr), uploadsToA: describeBurst(ur) };
    // The kill came in the middle of the burst, with requests in flight.
    expect(nr.acked.size).toBeGreaterThanOrEqual(KILL_AT);
    expect(nr.inFlightAtTrigger).toBeGreaterThan(0);
    expectOnlyTransportFailures(nr);
    expect(ur.acked.size).toBe(ups.length); // A stayed up

    const restart = Date.now();
    await B.start();
    // Every acknowledged notification is in carol's inbox, once, with the exact bytes sent.
    const items = await inboxOf(carol);
    const ids = items.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    const missing = [...nr.acked].filter((id) => !ids.includes(id));
    expect(missing).toEqual([]);
    for (const it of items) {
      const bytes = sent.get(it.id);
      expect(bytes, `inbox holds a notification nobody sent: ${it.id}`).toBeDefined();
      expect(Buffer.from(it.notification, 'base64url').equals(Buffer.from(bytes!))).toBe(true);
    }
    const unackedPresent = ids.filter((id) => !nr.acked.has(id)).length;
    withDb(B, (db) => {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect((db.prepare('SELECT COUNT(*) AS n FROM (SELECT 1 FROM inbox GROUP BY user, id HAVING COUNT(*) > 1)').get() as { n: number }).n).toBe(0);
      expect((db.prepare('SELECT COUNT(*) AS n FROM (SELECT 1 FROM inbox GROUP BY hash HAVING COUNT(*) > 1)').get() as { n: number }).n).toBe(0);
    });

    // A kept retransmitting to the dead B; after the restart every delivery completes:
    // notified, prefetched by B, confirmed back to A.
    const upIds = new Set(ups.map((u) => u.id));
    const confirmMs = await allConfirmed(A, upIds, ups.length, 30_000);
    const statuses = await pool([...upIds], 16, (id) => alice.c.status(id));
    for (const s of statuses) {
      expect(s.recipients).toHaveLength(1);
      expect(s.recipients[0].status).toBe('confirmed');
    }
    const bobItems = await inboxOf(bob);
    const bobIds = bobItems.map((i) => i.id);
    expect(new Set(bobIds).size).toBe(bobIds.length);
    expect(new Set(bobIds)).toEqual(upIds);
    expect(bobItems.every((i) => i.state === 'fetched')).toBe(true);
    measured.recipientKill = {
      ...(measured.recipientKill as object),
      found: { ackedNotificationsFound: nr.acked.size - missing.length, unackedAlsoPresent: unackedPresent, inboxRows: items.length },
      deliveriesConfirmedAfterRestartMs: Date.now() - restart,
      confirmWaitMs: confirmMs,
    };
  }, 60_000);

  test('SIGKILL of the sender store during a burst of uploads', async () => {
    // 1,000 uploads to A (four senders, each message to bob and dan on B: 2,000 notifications
    // to fan out) while A's worker notifies B and B prefetches from A.
    const ups = Array.from({ length: BURST }, (_, i) => ({
      from: senders[i % senders.length]!,
      up: sealedUpload({
        sender: senders[i % senders.length]!.u.device,
        senderStore: A.url,
        to: [bob.party, dan.party],
        recipientStore: B.url,
        subject: `two ${i}`,
        text: `message ${i} of the second burst`,
      }),
    }));
    const ops: Op[] = ups.map(({ from, up }) => ({ key: up.id, send: () => upload(A.url, from.u.device, up) }));
    const r = await burst(ops, { concurrency: IN_FLIGHT, triggerAfter: KILL_AT, trigger: () => A.kill9() });
    expect((await A.exited()).signal).toBe('SIGKILL');
    measured.senderKill = { uploads: describeBurst(r) };
    expect(r.acked.size).toBeGreaterThanOrEqual(KILL_AT);
    expect(r.inFlightAtTrigger).toBeGreaterThan(0);
    expectOnlyTransportFailures(r);

    const restart = Date.now();
    await A.start();
    const attempted = new Map(ups.map(({ from, up }) => [up.id, { from, up }]));
    // Nothing half-written: every message present has exactly one outbox row per recipient,
    // no outbox row lacks its message, and each sender's quota counts exactly its messages.
    const present = withDb(A, (db) => {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const msgs = db.prepare('SELECT id, sender, size FROM messages').all() as { id: Buffer; sender: Buffer; size: number }[];
      const rows = db.prepare('SELECT id, recipient FROM outbox').all() as { id: Buffer; recipient: Buffer }[];
      const byId = new Map<string, string[]>();
      for (const o of rows) byId.set(o.id.toString('hex'), [...(byId.get(o.id.toString('hex')) ?? []), o.recipient.toString('hex')]);
      const ids = new Set(msgs.map((m) => m.id.toString('hex')));
      for (const id of byId.keys()) expect(ids.has(id), `outbox row without message ${id}`).toBe(true);
      const present = new Set<string>();
      for (const m of msgs) {
        const id = m.id.toString('hex');
        const rcpts = byId.get(id) ?? [];
        expect(new Set(rcpts).size).toBe(rcpts.length);
        const a = attempted.get(id);
        if (!a) continue; // from the first test
        present.add(id);
        expect(rcpts.sort()).toEqual([toHex(bob.u.address), toHex(dan.u.address)].sort());
        expect(m.size).toBeGreaterThan(0);
      }
      for (const u of [alice, ...senders]) {
        const q = db.prepare('SELECT used_bytes AS used, (SELECT COALESCE(SUM(size), 0) FROM messages WHERE sender = ?) AS sum FROM users WHERE address = ?').get(u.u.address, u.u.address) as { used: number; sum: number };
        expect(q.used).toBe(q.sum);
      }
      return present;
    });
    // Every acknowledged upload is there, and its status route answers.
    const missing = [...r.acked].filter((id) => !present.has(id));
    expect(missing).toEqual([]);
    const st = await pool([...r.acked], 16, (id) => attempted.get(id)!.from.c.status(id));
    for (const s of st) expect(s.recipients).toHaveLength(2);
    // Unacknowledged ones may or may not be there; the status route agrees with the database.
    const unacked = [...attempted.keys()].filter((id) => !r.acked.has(id) && !r.notSent.has(id));
    const unackedStatus = await pool(unacked, 16, (id) =>
      attempted.get(id)!.from.c.status(id).then(
        (x) => ({ id, recipients: (x as { recipients: unknown[] }).recipients.length }),
        (e: { code?: string }) => ({ id, error: e.code }),
      ),
    );
    for (const s of unackedStatus) expect(s).toEqual(present.has(s.id) ? { id: s.id, recipients: 2 } : { id: s.id, error: 'NOT_FOUND' });
    for (const id of r.notSent) expect(present.has(id)).toBe(false);

    // Retransmission resumes after the restart: every delivery of every stored message ends confirmed.
    const confirmMs = await allConfirmed(A, present, present.size * 2, 40_000);
    const final = await pool([...r.acked], 16, (id) => attempted.get(id)!.from.c.status(id));
    for (const s of final) expect(s.recipients.map((x: { status: string }) => x.status)).toEqual(['confirmed', 'confirmed']);
    // Each recipient holds each message once.
    for (const m of [bob, dan]) {
      const items = (await inboxOf(m)).filter((i) => attempted.has(i.id));
      const ids = items.map((i) => i.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(present);
      expect(items.every((i) => i.state === 'fetched')).toBe(true);
    }
    measured.senderKill = {
      ...(measured.senderKill as object),
      found: { ackedUploadsFound: r.acked.size - missing.length, unackedAlsoPresent: present.size - r.acked.size, outboxRowsConfirmed: present.size * 2 },
      deliveriesConfirmedAfterRestartMs: Date.now() - restart,
      confirmWaitMs: confirmMs,
    };
  }, 80_000);

  test('SIGTERM finishes the upload in flight, refuses new requests, exits 0; the upload is durable', async () => {
    // A large envelope, uploaded slowly: the server has started on it (it answered
    // `100 Continue`) and has half of the body when SIGTERM arrives.
    const big = sealedUpload({
      sender: alice.u.device,
      senderStore: A.url,
      to: [bob.party],
      recipientStore: B.url,
      subject: 'large',
      text: 'a large attachment',
      attachment: systemRandom(8 * 1024 * 1024),
    });
    const auth = authHeader(alice.u.device, A.url, 'POST', '/v1/messages', big.body);
    const half = big.body.length >> 1;
    const req = httpRequest(`${A.url}/v1/messages`, {
      method: 'POST',
      agent: false,
      headers: { authorization: auth, 'content-type': 'application/octet-stream', 'content-length': String(big.body.length), expect: '100-continue' },
    });
    req.flushHeaders();
    const started = new Promise<void>((resolve) => req.once('continue', resolve));
    const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    await started;
    req.write(big.body.subarray(0, half));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    A.signal('SIGTERM');
    await A.waitFor(/SIGTERM: finishing in-flight work/, 10_000);
    expect(A.alive).toBe(true); // still finishing our upload
    // A new request now is refused: connection refused, or 503 UNAVAILABLE.
    const late = await fetch(`${A.url}/v1/health`, { signal: AbortSignal.timeout(5000) }).then(
      (res) => `HTTP ${res.status}`,
      (e: { cause?: { code?: string } }) => e.cause?.code ?? 'error',
    );
    expect(['ECONNREFUSED', 'HTTP 503']).toContain(late);
    // Finish the upload slowly, in pieces.
    const rest = big.body.subarray(half);
    for (let i = 0; i < rest.length; i += 1024 * 1024) {
      req.write(rest.subarray(i, i + 1024 * 1024));
      await new Promise((r) => setTimeout(r, 50));
    }
    req.end();
    const res = await reply;
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body).id).toBe(big.id);
    const replyMs = Date.now() - t0;
    const exit = await A.exited();
    expect(exit).toEqual({ code: 0, signal: null });
    measured.gracefulShutdown = { envelopeBytes: big.size, lateRequest: late, sigtermToReplyMs: replyMs, sigtermToExitMs: Date.now() - t0, exit };
    // On disk before any restart: the message, its outbox row, a sound file.
    withDb(A, (db) => {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const m = db.prepare('SELECT size, (SELECT COUNT(*) FROM outbox o WHERE o.id = m.id) AS rows FROM messages m WHERE id = ?').get(Buffer.from(big.id, 'hex')) as { size: number; rows: number } | undefined;
      expect(m).toEqual({ size: big.size, rows: 1 });
    });

    // Durable: after a restart the message is there, and it is delivered to bob.
    await A.start();
    const s = await alice.c.status(big.id);
    expect(s.recipients).toHaveLength(1);
    await allConfirmed(A, new Set([big.id]), 1, 20_000);
  }, 40_000);

  test('a lease dies with the process that took it: claimed work is due again at once after a restart', async () => {
    // What the SIGKILL tests need, pinned down without timing: work claimed by a worker that
    // died (no attempt recorded) is not parked until the lease runs out.
    const path = join(dir, 'leases.db');
    const t = now();
    const r = () => systemRandom(32);
    const user = { address: r(), identity: r(), created: t, quotaBytes: 1e6, usedBytes: 0, delegateSeed: r(), prefetch: true };
    const s1 = new SqliteStorage({ path });
    const token = r();
    await s1.createInvite(token, t + 60);
    await s1.redeemInvite(token, t, user, { key: r(), user: user.address, added: t });
    const [id, r1, r2] = [r(), r(), r()];
    const rcpt = (address: Uint8Array) => ({ address, notification: r(), expires: t + 3600, storeHint: 'http://127.0.0.1:9' });
    await s1.putMessage({ id, sender: user.address, envelope: r(), created: t, recipients: [rcpt(r1), rcpt(r2)] });
    await s1.addInbox({ user: user.address, id: r(), time: t, hash: r(), notification: r(), sender: r(), senderStore: 'http://127.0.0.1:9', size: 32, received: t });
    expect(await s1.claimDueNotifications(t, t + 120, 10)).toHaveLength(2);
    expect(await s1.claimDuePrefetches(t, t + 120, 10)).toHaveLength(1);
    // Leased in this process: nobody else here takes them.
    expect(await s1.claimDueNotifications(t, t + 120, 10)).toHaveLength(0);
    expect(await s1.claimDuePrefetches(t, t + 120, 10)).toHaveLength(0);
    s1.db.close(); // the process dies: no attempt recorded, nothing else written
    const s2 = new SqliteStorage({ path });
    expect(await s2.claimDueNotifications(t, t + 120, 10)).toHaveLength(2);
    expect(await s2.claimDuePrefetches(t, t + 120, 10)).toHaveLength(1);
    // A recorded attempt ends its lease: the row is due again at its next attempt, the other is not.
    await s2.recordNotifyAttempt(id, r1, { ok: false, now: t, nextAttempt: t + 1, error: 'UNREACHABLE' });
    expect((await s2.claimDueNotifications(t + 1, t + 200, 10)).map((o) => toHex(o.recipient))).toEqual([toHex(r1)]);
    // An expired lease (a worker stuck past it) frees the row too.
    expect((await s2.claimDueNotifications(t + 121, t + 300, 10)).map((o) => toHex(o.recipient))).toEqual([toHex(r2)]);
    await s2.close();
  });
});
