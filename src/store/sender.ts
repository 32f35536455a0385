/**
 * The sender role: the archive is the outbox. Each envelope is stored once; one signed
 * notification per recipient is (re)transmitted until confirmed or expired, and each
 * recipient's status is kept for the sender. No bounces.
 */
import { KeypostError } from '../errors.js';
import { equal, toHex } from '../bytes/index.js';
import { crypto } from '../crypto/index.js';
import { addressToText } from '../identity/index.js';
import { checkStoreUrl, readOwnNotification, replayWindow, verifyFetchRequest, verifyReceipt, verifyRetraction } from '../protocol/index.js';
import { decode, LIMITS } from '../wire/index.js';
import { RetractionList, Upload } from '../wire/schema.js';
import type { OutboxRow, Storage, UserRow } from '../storage/types.js';
import { DistinctCounter, RateLimiter } from './limits.js';
import { backoff, type StoreDeps } from './ports.js';

/**
 * Refusals that retrying cannot change: the recipient blocks the sender, or has no such
 * mailbox. The row keeps its last error for the sender to see, and is not retried
 * (there are no bounces); anything else is retried with backoff until it expires.
 */
// Refusals that the same bytes will always get: no retransmission. (The signature checks are
// here because this store does not verify its users' notifications: readOwnNotification.)
const FINAL = new Set(['BLOCKED', 'NOT_A_RECIPIENT', 'BAD_SIGNATURE', 'CERT_INVALID', 'CERT_PURPOSE', 'KEY_REVOKED', 'KEY_INVALID', 'KEY_SMALL_ORDER', 'KEY_UNSUPPORTED', 'WIRE_MALFORMED', 'WIRE_NONCANONICAL', 'WIRE_TOO_LARGE', 'WIRE_UNKNOWN_FIELD', 'WIRE_MISSING_FIELD', 'WIRE_BAD_TYPE', 'WIRE_BAD_VERSION']);

/** Rows one outbox pass claims: a full batch for one store. */
export const OUTBOX_PASS = 1000;

export interface UploadResult {
  id: Uint8Array;
  recipients: number;
  duplicate: boolean;
}

export class Sender {
  readonly #perHour: RateLimiter;
  readonly #perDay: DistinctCounter;
  readonly #fetchNonces = new Map<string, number>();

  constructor(
    private readonly storage: Storage,
    private readonly deps: StoreDeps,
  ) {
    this.#perHour = new RateLimiter(deps.config.notificationsPerHour, 3600);
    this.#perDay = new DistinctCounter(deps.config.recipientsPerDay, 86400);
  }

  /** Check every notification against the envelope and the user before storing anything. */
  async upload(user: UserRow, body: Uint8Array): Promise<UploadResult> {
    const { config, clock } = this.deps;
    const now = clock.now();
    const up = decode(Upload, body);
    const id = crypto().sha256(up.envelope);
    const seen = new Set<string>();
    const recipients = up.routes.map((r) => {
      checkStoreUrl(r.store);
      // Signatures are the recipient store's to verify (readOwnNotification says why).
      const v = readOwnNotification(r.notification, { now, skew: config.skew });
      const b = v.body;
      if (!equal(v.sender, user.address)) throw new KeypostError('SUBJECT_MISMATCH', 'a notification is from another sender');
      if (!equal(b.id, id)) throw new KeypostError('CONTENT_HASH_MISMATCH', 'a notification names another message');
      if (b.size !== up.envelope.length) throw new KeypostError('INVALID_ARGUMENT', 'a notification states another size');
      if (b.store !== config.origin) throw new KeypostError('SUBJECT_MISMATCH', `notifications must name this store, ${config.origin}`);
      const k = toHex(b.recipient);
      if (seen.has(k)) throw new KeypostError('INVALID_ARGUMENT', 'two notifications for one recipient');
      seen.add(k);
      return { address: b.recipient, notification: r.notification, expires: b.expires, storeHint: r.store };
    });
    const key = toHex(user.address);
    this.#perHour.take(key, now, recipients.length, 'notifications this hour');
    let forgetRecipients: (() => void) | undefined;
    try {
      forgetRecipients = this.#perDay.add(key, [...seen], now);
      const r = await this.storage.putMessage({ id, sender: user.address, envelope: up.envelope, created: now, recipients });
      return { id, recipients: recipients.length, duplicate: r === 'duplicate' };
    } catch (e) {
      // Refused (distinct recipients, quota): nothing is sent, so none of the allowance is spent.
      this.#perHour.refund(key, recipients.length);
      forgetRecipients?.();
      throw e;
    }
  }

  status(user: UserRow, id: Uint8Array) {
    const m = this.storage.getMessage(id);
    if (!m || !equal(m.sender, user.address)) throw new KeypostError('NOT_FOUND', 'no such message of yours');
    return {
      id: toHex(id),
      created: m.created,
      size: m.size,
      retracted: m.retracted,
      recipients: this.storage.listOutbox(id).map((o) => ({
        address: addressToText(o.recipient),
        status: o.status,
        attempts: o.attempts,
        notifiedAt: o.notifiedAt ?? null,
        fetchedAt: o.fetchedAt ?? null,
        confirmedAt: o.confirmedAt ?? null,
        lastError: o.lastError ?? null,
      })),
    };
  }

  /** Unsend: every recipient that has not fetched loses access; signed retractions follow. */
  async unsend(user: UserRow, id: Uint8Array, body: Uint8Array): Promise<Uint8Array[]> {
    const m = this.storage.getMessage(id);
    if (!m || !equal(m.sender, user.address)) throw new KeypostError('NOT_FOUND', 'no such message of yours');
    const now = this.deps.clock.now();
    const byRecipient = new Map<string, Uint8Array>();
    for (const r of decode(RetractionList, body).retractions) {
      const v = verifyRetraction(r, { now, skew: this.deps.config.skew, id });
      if (!equal(v.from, user.address)) throw new KeypostError('SUBJECT_MISMATCH', 'a retraction from another sender');
      byRecipient.set(toHex(v.body.recipient), r);
    }
    return this.storage.retract(id, now, (rcpt) => byRecipient.get(toHex(rcpt)));
  }

  /** Serve an envelope to one of its recipients: the same bytes for everyone. */
  async serveFetch(body: Uint8Array): Promise<Uint8Array> {
    const { config, clock } = this.deps;
    const now = clock.now();
    const v = verifyFetchRequest(body, { now, skew: config.skew, store: config.origin });
    const k = toHex(v.hash);
    if ((this.#fetchNonces.get(k) ?? 0) >= now) throw new KeypostError('REPLAY', 'fetch request already used');
    this.#fetchNonces.set(k, now + replayWindow(config.skew));
    if (this.#fetchNonces.size > 100_000) for (const [key, t] of this.#fetchNonces) if (t < now) this.#fetchNonces.delete(key);
    const m = this.storage.getMessage(v.body.id);
    if (!m) throw new KeypostError('NOT_FOUND', 'no such message');
    const row = this.storage.getOutbox(v.body.id, v.from);
    if (!row) throw new KeypostError('NOT_A_RECIPIENT', 'not a recipient of this message');
    if (row.status === 'retracted' || m.retracted) throw new KeypostError('GONE', 'the sender withdrew this message');
    const envelope = this.storage.getEnvelope(v.body.id);
    if (!envelope) throw new KeypostError('GONE', 'the sender withdrew this message');
    await this.storage.markFetched(v.body.id, v.from, now);
    return envelope;
  }

  async acceptReceipt(body: Uint8Array): Promise<void> {
    const now = this.deps.clock.now();
    const v = verifyReceipt(body, { now, skew: this.deps.config.skew });
    if (!this.storage.getOutbox(v.body.id, v.from)) throw new KeypostError('NOT_FOUND', 'no such delivery');
    await this.storage.markConfirmed(v.body.id, v.from, now);
  }

  /**
   * One pass of the retransmission worker. Notifications for the same store go in
   * batches of up to LIMITS.BATCH (one request, one commit at the other end); anything
   * else, or a batch that fails as a whole, goes one by one. Returns the rows handled.
   */
  async runOutbox(limit = OUTBOX_PASS): Promise<number> {
    const { clock, directory, peers } = this.deps;
    const now = clock.now();
    await this.storage.expireOutbox(now);
    const rows = await this.storage.claimDueNotifications(now, now + 120, limit);
    const single: OutboxRow[] = [];
    const byStore = new Map<string, OutboxRow[]>();
    await Promise.all(
      rows.map(async (row) => {
        if (row.status === 'retracted' || !peers.notifyBatch) return single.push(row);
        try {
          const best = (await directory.storesOf(row.recipient, row.storeUrl ?? ''))[0];
          if (!best) return single.push(row);
          const group = byStore.get(best);
          if (group) group.push(row);
          else byStore.set(best, [row]);
        } catch {
          single.push(row); // #deliver records the discovery failure
        }
      }),
    );
    for (const [store, group] of byStore) {
      if (group.length === 1) single.push(group[0]!);
      else for (let i = 0; i < group.length; i += LIMITS.BATCH) single.push(...(await this.#deliverBatch(store, group.slice(i, i + LIMITS.BATCH))));
    }
    for (let i = 0; i < single.length; i += 32) await Promise.all(single.slice(i, i + 32).map((r) => this.#deliver(r)));
    return rows.length;
  }

  /** Returns the rows to retry one by one (the batch as a whole failed). */
  async #deliverBatch(store: string, group: OutboxRow[]): Promise<OutboxRow[]> {
    const { clock, config, peers } = this.deps;
    const now = clock.now();
    let reply;
    try {
      reply = await peers.notifyBatch!(store, group.map((r) => r.notification));
    } catch {
      return group;
    }
    if (reply.status !== 200 || !reply.results || reply.results.length !== group.length) return group;
    await Promise.all(
      group.map((row, i) => {
        const r = reply.results![i]!;
        if ('status' in r) return this.storage.recordNotifyAttempt(row.id, row.recipient, { ok: true, now, nextAttempt: now + config.confirmWait, storeUrl: store });
        const next = FINAL.has(r.error) ? row.expires + 1 : now + (r.retryAfter ?? backoff(row.attempts, config.retryBase, config.retryMax));
        return this.storage.recordNotifyAttempt(row.id, row.recipient, { ok: false, now, nextAttempt: next, error: r.error });
      }),
    );
    return [];
  }

  async #deliver(row: OutboxRow): Promise<void> {
    const { clock, config, directory, peers } = this.deps;
    const now = clock.now();
    const retry = (error: string, after?: number) =>
      this.storage.recordNotifyAttempt(row.id, row.recipient, {
        ok: false,
        now,
        nextAttempt: FINAL.has(error) ? row.expires + 1 : now + (after ?? backoff(row.attempts, config.retryBase, config.retryMax)),
        error,
      });
    let stores: string[];
    try {
      stores = await directory.storesOf(row.recipient, row.storeUrl ?? '');
    } catch (e) {
      return retry((e as { code?: string }).code ?? 'DISCOVERY_FAILED');
    }
    const retraction = row.status === 'retracted';
    if (retraction && !row.retraction) return;
    let last = 'UNREACHABLE';
    let after: number | undefined;
    for (const store of stores) {
      try {
        const reply = retraction ? await peers.retraction(store, row.retraction!) : await peers.notify(store, row.notification);
        if (reply.status >= 200 && reply.status < 300) {
          // Accepted: ask again after confirmWait unless a receipt arrives first (retractions: done).
          const next = retraction ? now + 10 * 365 * 86400 : now + config.confirmWait;
          return this.storage.recordNotifyAttempt(row.id, row.recipient, { ok: true, now, nextAttempt: next, storeUrl: store });
        }
        last = reply.error ?? `HTTP ${reply.status}`;
        after = reply.retryAfter;
        if (reply.status < 500 && reply.status !== 429) break; // the store answered: no use asking the next one
      } catch (e) {
        last = (e as { code?: string }).code ?? 'UNREACHABLE';
      }
    }
    return retry(last, after);
  }
}
