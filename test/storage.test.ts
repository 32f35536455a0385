/**
 * SqliteStorage on its own, on real files: the schema migration from version 1, the read
 * caches staying exact across writes, and the inbox's replay key.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { SqliteStorage } from '../src/storage/sqlite.js';
import type { NewInboxItem, UserRow } from '../src/storage/types.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kp-storage-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const T = 1_800_000_000;

function userRow(address: Uint8Array, prefetch = true): UserRow {
  return { address, identity: bytes(33, 9), created: T, quotaBytes: 1 << 20, usedBytes: 0, delegateSeed: bytes(32, 7), prefetch };
}

async function addUser(s: SqliteStorage, u: UserRow) {
  const token = u.address.slice();
  await s.createInvite(token, T + 100);
  await s.redeemInvite(token, T, u, { key: u.address, user: u.address, added: T });
}

function item(user: Uint8Array, n: number, o: Partial<NewInboxItem> = {}): NewInboxItem {
  return { user, id: bytes(32, n), time: T, hash: bytes(32, 100 + n), notification: bytes(300, n), sender: bytes(32, 50), senderStore: 'https://a.example', size: 4000, received: T, ...o };
}

// The version 1 table and indexes, as the previous release created them.
const V1 = `
CREATE TABLE inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, user BLOB NOT NULL, id BLOB NOT NULL, hash BLOB NOT NULL,
  notification BLOB NOT NULL, sender BLOB NOT NULL, sender_store TEXT NOT NULL, size INTEGER NOT NULL,
  received INTEGER NOT NULL, state TEXT NOT NULL, envelope BLOB, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL, last_error TEXT, receipt_sent INTEGER NOT NULL DEFAULT 0,
  UNIQUE (user, id)
);
CREATE INDEX inbox_due ON inbox (next_attempt) WHERE state = 'notified' OR (state = 'fetched' AND receipt_sent = 0);
CREATE INDEX inbox_hash ON inbox (hash);
CREATE INDEX inbox_user_seq ON inbox (user, seq);
CREATE TABLE messages (
  id BLOB PRIMARY KEY, sender BLOB NOT NULL, envelope BLOB, size INTEGER NOT NULL,
  created INTEGER NOT NULL, retracted INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;`;

describe('schema', () => {
  test('a version 1 inbox moves to version 2 with its seq numbers, states and envelopes', async () => {
    const path = join(dir, 'k.db');
    const old = new Database(path);
    old.exec(V1);
    const ins = old.prepare(
      "INSERT INTO inbox (seq, user, id, hash, notification, sender, sender_store, size, received, state, envelope, next_attempt) VALUES (?, ?, ?, ?, ?, ?, 'https://a.example', 10, ?, ?, ?, ?)",
    );
    const u = bytes(32, 1);
    ins.run(5, u, bytes(32, 2), bytes(32, 3), bytes(40, 4), bytes(32, 5), T - 60, 'notified', null, T - 60);
    ins.run(9, u, bytes(32, 6), bytes(32, 7), bytes(40, 8), bytes(32, 5), T - 30, 'fetched', bytes(10, 1), T - 30);
    old.prepare('INSERT INTO messages (id, sender, envelope, size, created) VALUES (?, ?, ?, 5000, ?)').run(bytes(32, 11), u, bytes(5000, 3), T - 99);
    old.close();

    const s = new SqliteStorage({ path });
    try {
      expect(s.db.pragma('user_version', { simple: true })).toBe(2);
      const idx = (s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name).sort();
      expect(idx).toEqual(['inbox_due', 'inbox_replay', 'inbox_user_seq']);
      expect(s.db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'inbox_v1'").get()).toEqual({ n: 0 });
      const rows = s.listInbox(u, 0, 10);
      expect(rows.map((r) => [r.seq, r.state, r.time])).toEqual([
        [5, 'notified', T - 60],
        [9, 'fetched', T - 30],
      ]);
      expect(s.getInboxEnvelope(u, 9)).toEqual(bytes(10, 1));
      // Envelopes are now the last column of both tables.
      for (const t of ['inbox', 'messages']) expect((s.db.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).at(-1)!.name).toBe('envelope');
      expect(s.getMessage(bytes(32, 11))).toMatchObject({ sender: u, size: 5000, created: T - 99, retracted: false });
      expect(s.getEnvelope(bytes(32, 11))).toEqual(bytes(5000, 3));
      // The replay key of a migrated row is (receipt time, hash).
      expect(s.hasNotification(T - 60, bytes(32, 3))).toBe(true);
      // New items continue after the highest seq: a client's cursor never goes back.
      await addUser(s, userRow(u));
      await s.addInbox(item(u, 20));
      expect(s.listInbox(u, 9, 10).map((r) => r.seq)).toEqual([10]);
      expect((s.db.pragma('integrity_check') as { integrity_check: string }[])[0]!.integrity_check).toBe('ok');
    } finally {
      await s.close();
    }
    // Opening again changes nothing.
    const again = new SqliteStorage({ path });
    expect(again.listInbox(u, 0, 10).map((r) => r.seq)).toEqual([5, 9, 10]);
    await again.close();
  });
});

describe('schema, early version 2', () => {
  test('an inbox with the replay key but the envelope mid-row (commits of 2026-11-23 before the fix) keeps its indexes', async () => {
    const path = join(dir, 'k.db');
    const early = new Database(path);
    early.exec(`CREATE TABLE inbox (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, user BLOB NOT NULL, id BLOB NOT NULL, ntime INTEGER NOT NULL, hash BLOB NOT NULL,
      notification BLOB NOT NULL, sender BLOB NOT NULL, sender_store TEXT NOT NULL, size INTEGER NOT NULL,
      received INTEGER NOT NULL, state TEXT NOT NULL, envelope BLOB, attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt INTEGER NOT NULL, last_error TEXT, receipt_sent INTEGER NOT NULL DEFAULT 0);
      CREATE UNIQUE INDEX inbox_replay ON inbox (ntime, hash);
      CREATE INDEX inbox_user_seq ON inbox (user, seq);`);
    early.prepare("INSERT INTO inbox (seq, user, id, ntime, hash, notification, sender, sender_store, size, received, state, next_attempt) VALUES (3, ?, ?, ?, ?, ?, ?, 'https://a.example', 10, ?, 'notified', ?)")
      .run(bytes(32, 1), bytes(32, 2), T - 5, bytes(32, 3), bytes(40, 4), bytes(32, 5), T, T);
    early.close();
    const s = new SqliteStorage({ path });
    const idx = (s.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inbox' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name).sort();
    expect(idx).toEqual(['inbox_due', 'inbox_replay', 'inbox_user_seq']);
    // The signed time survives (not replaced by the receipt time), so the replay key does.
    expect(s.hasNotification(T - 5, bytes(32, 3))).toBe(true);
    await s.close();
  });
});

describe('inbox', () => {
  test('the replay key is the signed time with the hash: the same bytes again are a duplicate', async () => {
    const s = new SqliteStorage({ path: join(dir, 'k.db') });
    const u = bytes(32, 1);
    await addUser(s, userRow(u));
    expect(await s.addInboxMany([item(u, 1), item(u, 1), item(u, 2)])).toEqual(['new', 'duplicate', 'new']);
    expect(await s.addInbox(item(u, 1))).toBe('duplicate');
    expect(s.hasNotification(T, bytes(32, 101))).toBe(true);
    expect(s.hasNotification(T + 1, bytes(32, 101))).toBe(false);
    const due = await s.claimDuePrefetches(T + 10, T + 100, 10);
    expect(due.map((r) => r.id[0])).toEqual([1, 2]);
    await s.close();
  });

  test('items of a user with prefetch off are parked, on arrival and when it is turned off, and due again when on', async () => {
    const s = new SqliteStorage({ path: join(dir, 'k.db') });
    const on = bytes(32, 1);
    const off = bytes(32, 2);
    await addUser(s, userRow(on));
    await addUser(s, userRow(off, false));
    await s.addInboxMany([item(on, 1), item(off, 2)]);
    const due = async () => (await s.claimDuePrefetches(T + 10, T + 11, 10)).map((r) => r.id[0]);
    expect(await due()).toEqual([1]);
    // Parked in the database, not only skipped: the due index holds nothing of the user's.
    const parked = () => (s.db.prepare('SELECT COUNT(*) AS n FROM inbox WHERE user = ? AND next_attempt > ?').get(off, T + 1e6) as { n: number }).n;
    expect(parked()).toBe(1);
    await s.setPrefetch(off, true);
    expect(parked()).toBe(0);
    expect(await due()).toEqual([2]); // (1 is leased until T + 11)
    await s.setPrefetch(on, false);
    await s.addInbox(item(on, 3));
    expect((await s.claimDuePrefetches(T + 20, T + 21, 10)).map((r) => r.id[0])).toEqual([2]);
    await s.close();
  });
});

describe('read caches stay exact', () => {
  test('users: registration, delegate certificate, prefetch and quota are seen at once', async () => {
    const s = new SqliteStorage({ path: join(dir, 'k.db') });
    const a = bytes(32, 1);
    expect(s.getUser(a)).toBeUndefined(); // cached as absent...
    await addUser(s, userRow(a));
    expect(s.getUser(a)?.prefetch).toBe(true); // ...and dropped by the registration
    await s.setPrefetch(a, false);
    expect(s.getUser(a)?.prefetch).toBe(false);
    await s.setDelegateCert(a, bytes(20, 3));
    expect(s.getUser(a)?.delegateCert).toEqual(bytes(20, 3));
    await s.putMessage({ id: bytes(32, 9), sender: a, envelope: bytes(1000, 1), created: T, recipients: [] });
    expect(s.getUser(a)?.usedBytes).toBe(1000);
    await s.retract(bytes(32, 9), T, () => undefined);
    expect(s.getUser(a)?.usedBytes).toBe(0);
    await s.close();
  });

  test('block lists: every kind of block, and unblocking, are seen at once', async () => {
    const s = new SqliteStorage({ path: join(dir, 'k.db') });
    const u = bytes(32, 1);
    const x = bytes(32, 2);
    const y = bytes(32, 3);
    await addUser(s, userRow(u));
    expect(s.isBlocked(u, x, 'https://a')).toBe(false);
    await s.addBlock(u, { sender: x, store: 'https://a' });
    expect([s.isBlocked(u, x, 'https://a'), s.isBlocked(u, x, 'https://b'), s.isBlocked(u, y, 'https://a')]).toEqual([true, false, false]);
    await s.addBlock(u, { store: 'https://b' });
    expect([s.isBlocked(u, x, 'https://b'), s.isBlocked(u, y, 'https://b')]).toEqual([true, true]);
    await s.addBlock(u, { sender: y });
    expect(s.isBlocked(u, y, 'https://c')).toBe(true);
    await s.removeBlock(u, { sender: x, store: 'https://a' });
    expect(s.isBlocked(u, x, 'https://a')).toBe(false);
    // Another user's blocks are theirs alone.
    expect(s.isBlocked(bytes(32, 4), y, 'https://b')).toBe(false);
    await s.close();
  });

  test('a user with more blocks or contacts than a cache holds is answered by the database', async () => {
    const s = new SqliteStorage({ path: join(dir, 'k.db') });
    const u = bytes(32, 1);
    await addUser(s, userRow(u));
    const senders = Array.from({ length: 1100 }, (_, i) => { const b = new Uint8Array(32); b[0] = i & 0xff; b[1] = i >> 8; b[2] = 1; return b; });
    await Promise.all(senders.map((x) => Promise.all([s.addBlock(u, { sender: x }), s.addContact(u, x)])));
    expect(senders.every((x) => s.isBlocked(u, x, 'https://any') && s.isContact(u, x))).toBe(true);
    expect(s.isBlocked(u, bytes(32, 0xee), 'https://any') || s.isContact(u, bytes(32, 0xee))).toBe(false);
    await s.close();
  });

  test('contacts are seen at once', async () => {
    const s = new SqliteStorage({ path: join(dir, 'k.db') });
    const u = bytes(32, 1);
    await addUser(s, userRow(u));
    expect(s.isContact(u, bytes(32, 2))).toBe(false);
    await s.addContact(u, bytes(32, 2));
    expect(s.isContact(u, bytes(32, 2))).toBe(true);
    await s.close();
  });
});
