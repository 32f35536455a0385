/**
 * The embedded default: SQLite through better-sqlite3, WAL, synchronous=FULL.
 *
 * Group commit: every write is queued and the queue is flushed in ONE transaction on
 * the next turn of the event loop, so one fsync covers every write that arrived
 * meanwhile. Each write runs in its own savepoint, so one failing write (a quota, a
 * spent invite) does not undo the others. A write's promise resolves only after the
 * COMMIT returned, i.e. after fsync: a success reply built on it survives kill -9.
 *
 * Leases on claimed work (retransmissions, prefetches) are kept in memory, not in the
 * file: only one store process works on a SQLite database, so a lease dies with the
 * process that took it, and a store restarted after kill -9 resumes that work at once
 * instead of waiting for leases its dead predecessor wrote.
 */
import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import { KeypostError } from '../errors.js';
import { equal, mapKey } from '../bytes/index.js';
import { Bounded, UserSets } from './cache.js';
import type { Bytes, DeviceRow, InboxRow, NewInboxItem, NewMessage, OutboxRow, Storage, UserRow } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  address BLOB PRIMARY KEY, identity BLOB NOT NULL, created INTEGER NOT NULL,
  quota_bytes INTEGER NOT NULL, used_bytes INTEGER NOT NULL DEFAULT 0,
  delegate_seed BLOB NOT NULL, delegate_cert BLOB, prefetch INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (key BLOB PRIMARY KEY, user BLOB NOT NULL, cert BLOB, added INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invites (token_hash BLOB PRIMARY KEY, expires INTEGER NOT NULL, used_by BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS assertions (
  address BLOB NOT NULL, type INTEGER NOT NULL, seq INTEGER NOT NULL, bytes BLOB NOT NULL,
  not_after INTEGER NOT NULL, name_hash TEXT, PRIMARY KEY (address, type)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS assertions_name ON assertions (name_hash) WHERE name_hash IS NOT NULL;
-- Envelopes are the last column here and in the inbox: SQLite reads a row's columns in order,
-- so one after a large blob would cost reading the blob's overflow pages every time.
CREATE TABLE IF NOT EXISTS messages (
  id BLOB PRIMARY KEY, sender BLOB NOT NULL, size INTEGER NOT NULL,
  created INTEGER NOT NULL, retracted INTEGER NOT NULL DEFAULT 0, envelope BLOB
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
  id BLOB NOT NULL, recipient BLOB NOT NULL, notification BLOB NOT NULL, status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt INTEGER NOT NULL, expires INTEGER NOT NULL,
  last_error TEXT, notified_at INTEGER, fetched_at INTEGER, confirmed_at INTEGER, retraction BLOB, store_url TEXT,
  PRIMARY KEY (id, recipient)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (next_attempt) WHERE status IN ('pending', 'notified', 'retracted');
CREATE INDEX IF NOT EXISTS outbox_expires ON outbox (expires) WHERE status IN ('pending', 'notified');
CREATE TABLE IF NOT EXISTS inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, user BLOB NOT NULL, id BLOB NOT NULL, ntime INTEGER NOT NULL, hash BLOB NOT NULL,
  notification BLOB NOT NULL, sender BLOB NOT NULL, sender_store TEXT NOT NULL, size INTEGER NOT NULL,
  received INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt INTEGER NOT NULL, last_error TEXT, receipt_sent INTEGER NOT NULL DEFAULT 0, envelope BLOB
);
-- Every index here grows at its end as notifications arrive (time, per-user seq, due time):
-- an index on a random key (message id, hash) would cost one random page write per row.
CREATE UNIQUE INDEX IF NOT EXISTS inbox_replay ON inbox (ntime, hash);
CREATE INDEX IF NOT EXISTS inbox_due ON inbox (next_attempt) WHERE state = 'notified' OR (state = 'fetched' AND receipt_sent = 0);
-- listInbox walks one user's rows from a cursor: without this, every poll reads all of them.
CREATE INDEX IF NOT EXISTS inbox_user_seq ON inbox (user, seq);
CREATE TABLE IF NOT EXISTS blocks (user BLOB NOT NULL, sender BLOB NOT NULL, store TEXT NOT NULL, PRIMARY KEY (user, sender, store)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contacts (user BLOB NOT NULL, contact BLOB NOT NULL, PRIMARY KEY (user, contact)) WITHOUT ROWID;
-- Replay protection that survives a restart: nonces of state-changing user requests, kept
-- until their acceptance window closes, and the highest assertion seq seen per address and
-- type (the resolver's rollback marks).
CREATE TABLE IF NOT EXISTS request_nonces (hash BLOB PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_seq (address BLOB NOT NULL, type TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (address, type)) WITHOUT ROWID;
-- Device keys their users revoked (identity-signed Revocations): never accepted again here.
CREATE TABLE IF NOT EXISTS revoked (key BLOB PRIMARY KEY, user BLOB NOT NULL, revocation BLOB NOT NULL, time INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen (user BLOB NOT NULL, sender BLOB NOT NULL, first INTEGER NOT NULL, PRIMARY KEY (user, sender)) WITHOUT ROWID;
`;

const SCHEMA_VERSION = 2;

/**
 * Version 1 keyed the inbox on (user, message id) and indexed notification hashes: two
 * random-key indexes; and it kept envelopes in the middle of their rows. Its tables move to
 * the version 2 layout, seq numbers kept (they are the users' cursors). Version 1 did not
 * keep the notifications' signed time, so the receipt time stands in for it: a
 * retransmission of a pre-upgrade notification may be taken once more, a duplicate item
 * rather than a lost one.
 */
function migrate(db: Database.Database) {
  const columns = (t: string) => (db.prepare(`PRAGMA table_info(${t})`).all() as { name: string }[]).map((c) => c.name);
  const inbox = columns('inbox');
  const messages = columns('messages');
  const old = (cols: string[]) => cols.length > 0 && cols[cols.length - 1] !== 'envelope';
  if (!old(inbox) && !old(messages)) return;
  // Index names move with a renamed table: drop them, so that SCHEMA builds them on the new one
  // before the rows are copied.
  if (old(inbox)) {
    db.exec('DROP INDEX IF EXISTS inbox_due; DROP INDEX IF EXISTS inbox_hash; DROP INDEX IF EXISTS inbox_user_seq; DROP INDEX IF EXISTS inbox_replay; ALTER TABLE inbox RENAME TO inbox_v1;');
  }
  if (old(messages)) db.exec('ALTER TABLE messages RENAME TO messages_v1;');
  db.exec(SCHEMA);
  if (old(inbox)) {
    const ntime = inbox.includes('ntime') ? 'ntime' : 'received';
    db.exec(`INSERT OR IGNORE INTO inbox (seq, user, id, ntime, hash, notification, sender, sender_store, size, received, state, envelope, attempts, next_attempt, last_error, receipt_sent)
        SELECT seq, user, id, ${ntime}, hash, notification, sender, sender_store, size, received, state, envelope, attempts, next_attempt, last_error, receipt_sent FROM inbox_v1;
      DROP TABLE inbox_v1;`);
  }
  if (old(messages)) {
    db.exec(`INSERT INTO messages (id, sender, size, created, retracted, envelope) SELECT id, sender, size, created, retracted, envelope FROM messages_v1;
      DROP TABLE messages_v1;`);
  }
}

/**
 * The condition of the inbox_due index, verbatim: a query must repeat it for SQLite to use
 * the index (which walks only due rows, in next_attempt order) instead of the whole inbox.
 */
const DUE = "(state = 'notified' OR (state = 'fetched' AND receipt_sent = 0))";
/** What inboxRow reads: every column but the envelope, which only getInboxEnvelope returns (4.6 KB and up). */
const INBOX_COLUMNS = 'seq, user, id, ntime, hash, notification, sender, sender_store, size, received, state, attempts, next_attempt, last_error, receipt_sent';
/** next_attempt of a notified row whose user has prefetch off: beyond any due range. */
const PARKED = Number.MAX_SAFE_INTEGER;

// Blocks use '' for "any": one row format for [store, sender], whole-sender and whole-store blocks.
const ANY_SENDER = new Uint8Array(0);
const ANY_STORE = '';
// Length-prefixed: a sender is 32 bytes or empty (any), so no two [sender, store] pairs share a key.
const blockKey = (sender: Bytes, store: string) => `${sender.length}:${mapKey(sender)}${store}`;

type Row = Record<string, unknown>;
const b = (v: unknown): Bytes => new Uint8Array(v as Buffer);
const optB = (v: unknown): Bytes | undefined => (v == null ? undefined : b(v));
const optN = (v: unknown): number | undefined => (v == null ? undefined : Number(v));
const optS = (v: unknown): string | undefined => (v == null ? undefined : String(v));
const leaseKey = (x: Bytes, y: Bytes) => `${Buffer.from(x).toString('hex')}/${Buffer.from(y).toString('hex')}`;

/** Leases of claimed rows, by key, until a unix time; expired ones are dropped at each claim. */
class Leases {
  #until = new Map<string, number>();
  get size() {
    return this.#until.size;
  }
  sweep(now: number) {
    for (const [k, t] of this.#until) if (t <= now) this.#until.delete(k);
  }
  has = (k: string) => this.#until.has(k);
  take = (k: string, until: number) => void this.#until.set(k, until);
  release = (k: string) => void this.#until.delete(k);
}

function userRow(r: Row): UserRow {
  return {
    address: b(r.address),
    identity: b(r.identity),
    created: Number(r.created),
    quotaBytes: Number(r.quota_bytes),
    usedBytes: Number(r.used_bytes),
    delegateSeed: b(r.delegate_seed),
    delegateCert: optB(r.delegate_cert),
    prefetch: r.prefetch === 1,
  };
}

function outboxRow(r: Row): OutboxRow {
  return {
    id: b(r.id),
    recipient: b(r.recipient),
    notification: b(r.notification),
    status: r.status as OutboxRow['status'],
    attempts: Number(r.attempts),
    nextAttempt: Number(r.next_attempt),
    expires: Number(r.expires),
    lastError: optS(r.last_error),
    notifiedAt: optN(r.notified_at),
    fetchedAt: optN(r.fetched_at),
    confirmedAt: optN(r.confirmed_at),
    retraction: optB(r.retraction),
    storeUrl: optS(r.store_url),
  };
}

function inboxRow(r: Row): InboxRow {
  return {
    user: b(r.user),
    id: b(r.id),
    time: Number(r.ntime),
    hash: b(r.hash),
    notification: b(r.notification),
    sender: b(r.sender),
    senderStore: String(r.sender_store),
    size: Number(r.size),
    received: Number(r.received),
    state: r.state as InboxRow['state'],
    seq: Number(r.seq),
    attempts: Number(r.attempts),
    nextAttempt: Number(r.next_attempt),
    lastError: optS(r.last_error),
    receiptSent: r.receipt_sent === 1,
  };
}

interface Pending {
  run: () => unknown;
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
}

export interface SqliteOptions {
  /** Path of the database file (':memory:' for throwaway tests). */
  path: string;
}

export class SqliteStorage implements Storage {
  readonly db: Database.Database;
  #queue: Pending[] = [];
  #scheduled = false;
  #closed = false;
  readonly #outboxLeases = new Leases();
  readonly #inboxLeases = new Leases();
  // Read caches for the intake path (cache.ts): exact, since only this object writes the file.
  readonly #users = new Bounded<UserRow | null>(20_000);
  readonly #blocks = new UserSets(10_000, 256);
  readonly #contacts = new UserSets(10_000, 1024);
  /** Revoked keys, all in memory: few, and asked about for every notification verified. */
  readonly #revoked = new Set<string>();
  /** Number of COMMITs so far, for benchmarks and tests of group commit. */
  commits = 0;
  // Prepared once per SQL text: preparing costs more than running most of these queries.
  readonly #stmts = new Map<string, Database.Statement>();

  #q(sql: string): Database.Statement {
    let st = this.#stmts.get(sql);
    if (!st) this.#stmts.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  constructor(o: SqliteOptions) {
    this.db = new Database(o.path);
    // It holds the store-delegate keys of its users: owner-only, like a key file
    // (SQLite gives the -wal and -shm files the same mode).
    if (o.path !== ':memory:') chmodSync(o.path, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.transaction(() => {
      migrate(this.db);
      this.db.exec(SCHEMA);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
    for (const r of this.db.prepare('SELECT key FROM revoked').all() as Row[]) this.#revoked.add(mapKey(b(r.key)));
  }

  /** Queue a write; resolves after the transaction holding it has committed. */
  #write<T>(run: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new KeypostError('UNAVAILABLE', 'storage is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const results: { ok: boolean; value: unknown }[] = [];
    try {
      this.db.transaction(() => {
        for (const p of batch) {
          try {
            results.push({ ok: true, value: this.db.transaction(p.run)() }); // savepoint per write
          } catch (e) {
            results.push({ ok: false, value: e });
          }
        }
      })();
      this.commits++;
    } catch (e) {
      // The commit itself failed (disk full, I/O error): nothing in the batch is durable.
      for (const p of batch) p.reject(e);
      return;
    }
    batch.forEach((p, i) => (results[i]!.ok ? p.resolve(results[i]!.value) : p.reject(results[i]!.value)));
  }

  // ---- users, devices, invites ------------------------------------------------------

  createInvite(tokenHash: Bytes, expires: number) {
    return this.#write(() => void this.#q('INSERT INTO invites (token_hash, expires) VALUES (?, ?)').run(tokenHash, expires));
  }

  redeemInvite(tokenHash: Bytes, now: number, user: UserRow, device: DeviceRow) {
    return this.#write(() => {
      const spent = this.#q('UPDATE invites SET used_by = ? WHERE token_hash = ? AND used_by IS NULL AND expires >= ?')
        .run(user.address, tokenHash, now);
      if (spent.changes !== 1) throw new KeypostError('INVITE_INVALID');
      if (this.getUser(user.address)) throw new KeypostError('INVITE_INVALID', 'this address is already registered here');
      // Checked inside the transaction too: two registrations of one device key in one batch.
      const owner = this.getDevice(device.key);
      if (owner && !Buffer.from(owner.user).equals(Buffer.from(device.user))) throw new KeypostError('INVALID_ARGUMENT', 'this device key is registered to another user');
      this.#userChanged(user.address);
      this.#q('INSERT INTO users (address, identity, created, quota_bytes, used_bytes, delegate_seed, delegate_cert, prefetch) VALUES (?, ?, ?, ?, 0, ?, ?, ?)')
        .run(user.address, user.identity, user.created, user.quotaBytes, user.delegateSeed, user.delegateCert ?? null, user.prefetch ? 1 : 0);
      this.#q('INSERT INTO devices (key, user, cert, added) VALUES (?, ?, ?, ?)').run(device.key, device.user, device.cert ?? null, device.added);
    });
  }

  getUser(address: Bytes) {
    const k = mapKey(address);
    let u = this.#users.get(k);
    if (u === undefined) {
      const r = this.#q('SELECT * FROM users WHERE address = ?').get(address) as Row | undefined;
      u = this.#users.set(k, r ? userRow(r) : null);
    }
    return u ?? undefined;
  }

  /** Every write to a user row calls this inside its transaction step. */
  #userChanged(address: Bytes) {
    this.#users.delete(mapKey(address));
  }

  getDevice(key: Bytes) {
    const r = this.#q('SELECT * FROM devices WHERE key = ?').get(key) as Row | undefined;
    return r && { key: b(r.key), user: b(r.user), cert: optB(r.cert), added: Number(r.added) };
  }

  revokeDevice(user: Bytes, key: Bytes, revocation: Bytes, now: number) {
    return this.#write(() => {
      const d = this.getDevice(key);
      if (!d || !equal(d.user, user)) throw new KeypostError('NOT_FOUND', 'not a device key of yours');
      const n = this.#q('SELECT COUNT(*) AS n FROM devices WHERE user = ?').get(user) as Row;
      // Checked inside the transaction: two revocations racing must not remove both last devices.
      if (Number(n.n) <= 1) throw new KeypostError('INVALID_ARGUMENT', 'this is your only device here: add another one first');
      this.#q('DELETE FROM devices WHERE key = ?').run(key);
      this.#q('INSERT OR IGNORE INTO revoked (key, user, revocation, time) VALUES (?, ?, ?, ?)').run(key, user, revocation, now);
      this.#revoked.add(mapKey(key));
    });
  }

  isRevokedKey(key: Bytes) {
    return this.#revoked.size > 0 && this.#revoked.has(mapKey(key));
  }

  addDevice(d: DeviceRow) {
    return this.#write(() => void this.#q('INSERT OR REPLACE INTO devices (key, user, cert, added) VALUES (?, ?, ?, ?)').run(d.key, d.user, d.cert ?? null, d.added));
  }

  setDelegateCert(user: Bytes, cert: Bytes) {
    return this.#write(() => {
      this.#userChanged(user);
      this.#q('UPDATE users SET delegate_cert = ? WHERE address = ?').run(cert, user);
    });
  }

  setPrefetch(user: Bytes, on: boolean) {
    return this.#write(() => {
      this.#userChanged(user);
      this.#q('UPDATE users SET prefetch = ? WHERE address = ?').run(on ? 1 : 0, user);
      // Unfetched items follow the setting: parked while it is off, due again when it is on.
      if (on) this.#q("UPDATE inbox SET next_attempt = received WHERE user = ? AND state = 'notified' AND next_attempt = ?").run(user, PARKED);
      else this.#q("UPDATE inbox SET next_attempt = ? WHERE user = ? AND state = 'notified'").run(PARKED, user);
    });
  }

  // ---- assertions ---------------------------------------------------------------------

  putAssertion(address: Bytes, type: number, seq: number, bytes: Bytes, notAfter: number, nameHash?: string) {
    return this.#write(() => {
      const cur = this.#q('SELECT seq FROM assertions WHERE address = ? AND type = ?').get(address, type) as Row | undefined;
      if (cur && Number(cur.seq) > seq) return false;
      this.#q('INSERT OR REPLACE INTO assertions (address, type, seq, bytes, not_after, name_hash) VALUES (?, ?, ?, ?, ?, ?)')
        .run(address, type, seq, bytes, notAfter, nameHash ?? null);
      return true;
    });
  }

  getAssertions(address: Bytes, now: number) {
    return (this.#q('SELECT bytes FROM assertions WHERE address = ? AND not_after >= ? ORDER BY type').all(address, now) as Row[]).map((r) => b(r.bytes));
  }

  getAssertionsByName(nameHash: string, now: number) {
    const owner = this.#q('SELECT address FROM assertions WHERE name_hash = ? AND not_after >= ?').get(nameHash, now) as Row | undefined;
    return owner ? this.getAssertions(b(owner.address), now) : [];
  }

  // ---- sender side ----------------------------------------------------------------------

  putMessage(m: NewMessage) {
    return this.#write(() => {
      const held = this.#q('SELECT sender FROM messages WHERE id = ?').get(m.id) as Row | undefined;
      if (held) {
        // Ids are content hashes: a recipient could re-upload what it received; it is not theirs.
        if (!Buffer.from(held.sender as Buffer).equals(Buffer.from(m.sender))) throw new KeypostError('INVALID_ARGUMENT', 'this message is held here for another sender');
        // The same sender retrying, perhaps with more recipients: add the ones not yet there.
        const add = this.#q("INSERT OR IGNORE INTO outbox (id, recipient, notification, status, next_attempt, expires, store_url) VALUES (?, ?, ?, 'pending', ?, ?, ?)");
        for (const r of m.recipients) add.run(m.id, r.address, r.notification, m.created, r.expires, r.storeHint);
        return 'duplicate' as const;
      }
      const u = this.#q('SELECT quota_bytes, used_bytes FROM users WHERE address = ?').get(m.sender) as Row | undefined;
      if (!u) throw new KeypostError('NOT_REGISTERED');
      if (Number(u.used_bytes) + m.envelope.length > Number(u.quota_bytes)) {
        throw new KeypostError('QUOTA_EXCEEDED', `${Number(u.used_bytes) + m.envelope.length} > ${Number(u.quota_bytes)} bytes`);
      }
      this.#q('INSERT INTO messages (id, sender, envelope, size, created) VALUES (?, ?, ?, ?, ?)').run(m.id, m.sender, m.envelope, m.envelope.length, m.created);
      this.#userChanged(m.sender);
      this.#q('UPDATE users SET used_bytes = used_bytes + ? WHERE address = ?').run(m.envelope.length, m.sender);
      const ins = this.#q("INSERT INTO outbox (id, recipient, notification, status, next_attempt, expires, store_url) VALUES (?, ?, ?, 'pending', ?, ?, ?)");
      for (const r of m.recipients) ins.run(m.id, r.address, r.notification, m.created, r.expires, r.storeHint);
      return 'stored' as const;
    });
  }

  getMessage(id: Bytes) {
    const r = this.#q('SELECT id, sender, size, created, retracted FROM messages WHERE id = ?').get(id) as Row | undefined;
    return r && { id: b(r.id), sender: b(r.sender), size: Number(r.size), created: Number(r.created), retracted: r.retracted === 1 };
  }

  getEnvelope(id: Bytes) {
    const r = this.#q('SELECT envelope FROM messages WHERE id = ?').get(id) as Row | undefined;
    return r?.envelope == null ? undefined : b(r.envelope);
  }

  getOutbox(id: Bytes, recipient: Bytes) {
    const r = this.#q('SELECT * FROM outbox WHERE id = ? AND recipient = ?').get(id, recipient) as Row | undefined;
    return r && outboxRow(r);
  }

  listOutbox(id: Bytes) {
    return (this.#q('SELECT * FROM outbox WHERE id = ? ORDER BY recipient').all(id) as Row[]).map(outboxRow);
  }

  claimDueNotifications(now: number, leaseUntil: number, limit: number) {
    // A read and an in-memory lease, no transaction: committing nothing would still cost a commit.
    const leases = this.#outboxLeases;
    leases.sweep(now);
    const rows = (this.#q("SELECT * FROM outbox WHERE status IN ('pending', 'notified', 'retracted') AND next_attempt <= ? AND (retraction IS NOT NULL OR status != 'retracted') ORDER BY next_attempt LIMIT ?")
      .all(now, limit + leases.size) as Row[])
      .map(outboxRow)
      .filter((r) => !leases.has(leaseKey(r.id, r.recipient)))
      .slice(0, limit);
    for (const r of rows) leases.take(leaseKey(r.id, r.recipient), leaseUntil);
    return Promise.resolve(rows);
  }

  recordNotifyAttempt(id: Bytes, recipient: Bytes, r: { ok: boolean; now: number; nextAttempt: number; error?: string; storeUrl?: string }) {
    return this.#write(() => {
      this.#outboxLeases.release(leaseKey(id, recipient));
      const cur = this.getOutbox(id, recipient);
      if (!cur) return;
      if (cur.status === 'retracted') {
        // The retraction was delivered (ok) or is retried; once delivered it is never sent again.
        this.#q('UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ?, retraction = CASE WHEN ? THEN NULL ELSE retraction END WHERE id = ? AND recipient = ?')
          .run(r.nextAttempt, r.error ?? null, r.ok ? 1 : 0, id, recipient);
        return;
      }
      this.#q(`UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ?, store_url = COALESCE(?, store_url),
          status = CASE WHEN ? AND status = 'pending' THEN 'notified' ELSE status END,
          notified_at = CASE WHEN ? AND notified_at IS NULL THEN ? ELSE notified_at END
          WHERE id = ? AND recipient = ?`)
        .run(r.nextAttempt, r.error ?? null, r.storeUrl ?? null, r.ok ? 1 : 0, r.ok ? 1 : 0, r.now, id, recipient);
    });
  }

  markFetched(id: Bytes, recipient: Bytes, now: number) {
    return this.#write(
      () =>
        void this.#q("UPDATE outbox SET status = CASE WHEN status IN ('pending', 'notified') THEN 'fetched' ELSE status END, fetched_at = COALESCE(fetched_at, ?) WHERE id = ? AND recipient = ?")
          .run(now, id, recipient),
    );
  }

  markConfirmed(id: Bytes, recipient: Bytes, now: number) {
    return this.#write(
      () =>
        void this.#q("UPDATE outbox SET status = 'confirmed', confirmed_at = COALESCE(confirmed_at, ?), fetched_at = COALESCE(fetched_at, ?) WHERE id = ? AND recipient = ? AND status != 'retracted'")
          .run(now, now, id, recipient),
    );
  }

  retract(id: Bytes, now: number, retractionFor: (recipient: Bytes) => Bytes | undefined) {
    return this.#write(() => {
      const rows = (this.#q("SELECT recipient FROM outbox WHERE id = ? AND status IN ('pending', 'notified')").all(id) as Row[]).map((r) => b(r.recipient));
      const upd = this.#q("UPDATE outbox SET status = 'retracted', retraction = ?, next_attempt = ?, attempts = 0, last_error = NULL WHERE id = ? AND recipient = ?");
      for (const r of rows) upd.run(retractionFor(r) ?? null, now, id, r);
      const left = this.#q("SELECT COUNT(*) AS n FROM outbox WHERE id = ? AND status != 'retracted'").get(id) as Row;
      if (Number(left.n) === 0) {
        // Nobody fetched it: the envelope goes, and with it the quota it used.
        const m = this.#q('SELECT sender, size FROM messages WHERE id = ?').get(id) as Row;
        this.#q('UPDATE messages SET retracted = 1, envelope = NULL WHERE id = ?').run(id);
        this.#userChanged(b(m.sender));
        this.#q('UPDATE users SET used_bytes = MAX(0, used_bytes - ?) WHERE address = ?').run(m.size, m.sender);
      }
      return rows;
    });
  }

  expireOutbox(now: number) {
    // Every worker pass asks; a transaction only when there is something to expire.
    if (!this.#q("SELECT 1 FROM outbox INDEXED BY outbox_expires WHERE status IN ('pending', 'notified') AND expires < ? LIMIT 1").get(now)) return Promise.resolve(0);
    return this.#write(() => this.#q("UPDATE outbox SET status = 'expired' WHERE status IN ('pending', 'notified') AND expires < ?").run(now).changes);
  }

  // ---- recipient side ---------------------------------------------------------------------

  #insertInbox(i: NewInboxItem): 'new' | 'duplicate' {
    // The user's prefetch setting is read inside the transaction: setPrefetch, queued before
    // or after this write, and this insert agree on whether the item is parked.
    const r = this.#q(
      `INSERT OR IGNORE INTO inbox (user, id, ntime, hash, notification, sender, sender_store, size, received, state, next_attempt)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'notified', CASE WHEN (SELECT prefetch FROM users WHERE address = ?) = 0 THEN ${PARKED} ELSE ? END)`,
    ).run(i.user, i.id, i.time, i.hash, i.notification, i.sender, i.senderStore, i.size, i.received, i.user, i.received);
    return r.changes === 1 ? 'new' : 'duplicate';
  }

  addInbox(item: NewInboxItem) {
    return this.#write(() => this.#insertInbox(item));
  }

  addInboxMany(items: NewInboxItem[]) {
    return this.#write(() => items.map((i) => this.#insertInbox(i)));
  }

  getInbox(user: Bytes, seq: number) {
    const r = this.#q(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE seq = ? AND user = ?`).get(seq, user) as Row | undefined;
    return r && inboxRow(r);
  }

  hasNotification(time: number, hash: Bytes) {
    return !!this.#q('SELECT 1 FROM inbox WHERE ntime = ? AND hash = ?').get(time, hash);
  }

  getInboxEnvelope(user: Bytes, seq: number) {
    const r = this.#q('SELECT envelope FROM inbox WHERE seq = ? AND user = ?').get(seq, user) as Row | undefined;
    return r?.envelope == null ? undefined : b(r.envelope);
  }

  listInbox(user: Bytes, since: number, limit: number) {
    return (this.#q(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE user = ? AND seq > ? AND state != 'deleted' ORDER BY seq LIMIT ?`).all(user, since, limit) as Row[]).map(inboxRow);
  }

  claimDuePrefetches(now: number, leaseUntil: number, limit: number) {
    // A read and an in-memory lease, no transaction. Items of users with prefetch off are
    // parked (next_attempt beyond any due range) when they arrive and by setPrefetch, so
    // no pass walks them.
    const leases = this.#inboxLeases;
    leases.sweep(now);
    const rows = (this.#q(
        `SELECT ${INBOX_COLUMNS.replace(/(\w+)/g, 'i.$1')} FROM inbox i INDEXED BY inbox_due JOIN users u ON u.address = i.user
          WHERE (i.state = 'notified' OR (i.state = 'fetched' AND i.receipt_sent = 0)) AND i.next_attempt <= ? AND (i.state = 'fetched' OR u.prefetch = 1)
          ORDER BY i.next_attempt LIMIT ?`,
      )
      .all(now, limit + leases.size) as Row[])
      .map(inboxRow)
      .filter((r) => !leases.has(String(r.seq)))
      .slice(0, limit);
    for (const r of rows) leases.take(String(r.seq), leaseUntil);
    return Promise.resolve(rows);
  }

  storeFetched(seq: number, envelope: Bytes) {
    // A parked row (prefetch off, fetched by hand) becomes due for its receipt, as before parking.
    return this.#write(
      () =>
        void this.#q(
          "UPDATE inbox SET envelope = ?, state = 'fetched', last_error = NULL, next_attempt = CASE WHEN next_attempt = ? THEN received ELSE next_attempt END WHERE seq = ? AND state = 'notified'",
        ).run(envelope, PARKED, seq),
    );
  }

  recordPrefetchAttempt(seq: number, r: { now: number; nextAttempt: number; error: string }) {
    return this.#write(() => {
      this.#inboxLeases.release(String(seq));
      this.#q('UPDATE inbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE seq = ?').run(r.nextAttempt, r.error, seq);
    });
  }

  markReceiptSent(seq: number) {
    // (next_attempt is left as is: the item leaves the due index once receipt_sent = 1.)
    return this.#write(() => {
      this.#inboxLeases.release(String(seq));
      this.#q('UPDATE inbox SET receipt_sent = 1 WHERE seq = ?').run(seq);
    });
  }

  retractInbox(sender: Bytes, id: Bytes, recipient: Bytes) {
    // Walks the recipient's items (inbox_user_seq): retractions are rare, and an index on
    // message ids would cost every arriving notification a random page write.
    return this.#write(
      () =>
        this.#q("UPDATE inbox INDEXED BY inbox_user_seq SET state = 'retracted', envelope = NULL WHERE user = ? AND id = ? AND sender = ? AND state = 'notified'").run(recipient, id, sender)
          .changes > 0,
    );
  }

  deleteInbox(user: Bytes, seq: number) {
    return this.#write(() => this.#q("UPDATE inbox SET state = 'deleted', envelope = NULL, notification = X'' WHERE seq = ? AND user = ? AND state != 'deleted'").run(seq, user).changes === 1);
  }

  // ---- recipient policy ---------------------------------------------------------------------

  addBlock(user: Bytes, x: { sender?: Bytes; store?: string }) {
    return this.#write(() => {
      this.#blocks.forget(user);
      this.#q('INSERT OR IGNORE INTO blocks (user, sender, store) VALUES (?, ?, ?)').run(user, x.sender ?? ANY_SENDER, x.store ?? ANY_STORE);
    });
  }

  removeBlock(user: Bytes, x: { sender?: Bytes; store?: string }) {
    return this.#write(() => {
      this.#blocks.forget(user);
      this.#q('DELETE FROM blocks WHERE user = ? AND sender = ? AND store = ?').run(user, x.sender ?? ANY_SENDER, x.store ?? ANY_STORE);
    });
  }

  isBlocked(user: Bytes, sender: Bytes, store: string) {
    const set = this.#blocks.of(user, (n) =>
      (this.#q('SELECT sender, store FROM blocks WHERE user = ? LIMIT ?').all(user, n) as Row[]).map((r) => blockKey(b(r.sender), String(r.store))),
    );
    if (!set) {
      return !!this.#q('SELECT 1 FROM blocks WHERE user = ? AND sender IN (?, ?) AND store IN (?, ?) LIMIT 1').get(user, sender, ANY_SENDER, store, ANY_STORE);
    }
    if (set.size === 0) return false;
    // The four rows that would match: [store, sender], the whole sender, the whole store, anyone.
    return set.has(blockKey(sender, store)) || set.has(blockKey(sender, ANY_STORE)) || set.has(blockKey(ANY_SENDER, store)) || set.has(blockKey(ANY_SENDER, ANY_STORE));
  }

  addContact(user: Bytes, contact: Bytes) {
    return this.#write(() => {
      this.#contacts.forget(user);
      this.#q('INSERT OR IGNORE INTO contacts (user, contact) VALUES (?, ?)').run(user, contact);
    });
  }

  isContact(user: Bytes, contact: Bytes) {
    const set = this.#contacts.of(user, (n) => (this.#q('SELECT contact FROM contacts WHERE user = ? LIMIT ?').all(user, n) as Row[]).map((r) => mapKey(b(r.contact))));
    if (!set) return !!this.#q('SELECT 1 FROM contacts WHERE user = ? AND contact = ?').get(user, contact);
    return set.has(mapKey(contact));
  }

  // ---- replay protection across restarts ------------------------------------------------------

  hasNonce(hash: Bytes, now: number) {
    return !!this.#q('SELECT 1 FROM request_nonces WHERE hash = ? AND until >= ?').get(hash, now);
  }

  #nonceWrites = 0;
  addNonce(hash: Bytes, until: number, now: number) {
    return this.#write(() => {
      this.#q('INSERT OR REPLACE INTO request_nonces (hash, until) VALUES (?, ?)').run(hash, until);
      // Now and then, drop the nonces whose window has closed (a short table: minutes of requests).
      if (++this.#nonceWrites % 1000 === 0) this.#q('DELETE FROM request_nonces WHERE until < ?').run(now);
    });
  }

  getSeenSeq(address: Bytes, type: string) {
    const r = this.#q('SELECT seq FROM seen_seq WHERE address = ? AND type = ?').get(address, type) as Row | undefined;
    return r ? Number(r.seq) : undefined;
  }

  setSeenSeq(address: Bytes, type: string, seq: number) {
    // Only upwards: two resolutions racing cannot lower the mark.
    return this.#write(() => void this.#q('INSERT INTO seen_seq (address, type, seq) VALUES (?, ?, ?) ON CONFLICT (address, type) DO UPDATE SET seq = MAX(seq, excluded.seq)').run(address, type, seq));
  }

  async firstSeen(user: Bytes, sender: Bytes, now: number) {
    const r = this.#q('SELECT first FROM seen WHERE user = ? AND sender = ?').get(user, sender) as Row | undefined;
    if (r) return Number(r.first);
    await this.#write(() => void this.#q('INSERT OR IGNORE INTO seen (user, sender, first) VALUES (?, ?, ?)').run(user, sender, now));
    return now;
  }

  async close() {
    // Drain what is queued: everything acknowledged-to-be is committed before closing.
    while (this.#queue.length > 0) this.#flush();
    this.#closed = true;
    this.db.close();
  }
}
