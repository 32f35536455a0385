/**
 * The recipient role: the notification agent. Notifications are checked cheapest first,
 * kept durably, and the message is prefetched on arrival (on by default, so the sender
 * cannot learn when the user reads); a receipt signed by the store-delegate key confirms.
 */
import { KeypostError } from '../errors.js';
import { equal, mapKey, toHex } from '../bytes/index.js';
import { crypto } from '../crypto/index.js';
import { SigningKey } from '../identity/index.js';
import {
  makeFetchRequest,
  makeReceipt,
  requiredBits,
  subkeySigner,
  verifyAssertion,
  verifyNotification,
  verifyRetraction,
  type Signer,
} from '../protocol/index.js';
import type { InboxRow, NewInboxItem, Storage, UserRow } from '../storage/types.js';
import type { PolicyContent } from '../wire/schema.js';
import { Bounded } from '../storage/cache.js';
import { RateLimiter } from './limits.js';
import { backoff, type StoreDeps } from './ports.js';

export type Accepted = 'accepted' | 'duplicate';

/** A sender store that cannot be reached (refused, reset, timed out) is unavailable: a typed error, not a 500. */
const reachable = <T>(p: Promise<T>): Promise<T> =>
  p.catch((e: unknown) => {
    if (e instanceof KeypostError) throw e;
    throw new KeypostError('UNAVAILABLE', 'the sender store could not be reached');
  });

export class Recipient {
  /** Messages (distinct ids) per sender, and notifications per sender and recipient. */
  readonly #perSender: RateLimiter;
  readonly #perPair: RateLimiter;
  /** When a (sender, id) last took a token from #perSender: one message to many users counts once. */
  readonly #counted = new Bounded<number>(200_000);
  readonly #perStore: RateLimiter;
  readonly #policies = new Map<string, PolicyContent | null>();

  constructor(
    private readonly storage: Storage,
    private readonly deps: StoreDeps,
  ) {
    this.#perSender = new RateLimiter(deps.config.perSenderPerMinute, 60);
    this.#perPair = new RateLimiter(deps.config.perSenderPerMinute, 60);
    this.#perStore = new RateLimiter(deps.config.perStorePerMinute, 60);
  }

  /** The user's own published policy (proof of work demanded of strangers). */
  policyOf(user: Uint8Array): PolicyContent | null {
    const k = mapKey(user);
    if (this.#policies.has(k)) return this.#policies.get(k)!;
    let p: PolicyContent | null = null;
    const now = this.deps.clock.now();
    for (const a of this.storage.getAssertions(user, now)) {
      try {
        const v = verifyAssertion(a, { now, skew: this.deps.config.skew, address: user, type: 'policy' });
        if (v.content.type === 'policy') p = v.content.policy;
      } catch {
        // not a policy, or no longer valid
      }
    }
    this.#policies.set(k, p);
    return p;
  }

  forgetPolicy(user: Uint8Array) {
    this.#policies.delete(mapKey(user));
  }

  /** Verify one notification; returns the row to store, or throws the reason it is refused. */
  async check(bytes: Uint8Array): Promise<NewInboxItem | 'duplicate'> {
    const { config, clock, directory } = this.deps;
    const now = clock.now();
    let user: UserRow | undefined;
    const v = verifyNotification(bytes, {
      now,
      skew: config.skew,
      // Revocations this store holds are its own users' (how others' travel is an open item, spec §19).
      isRevoked: (k) => this.storage.isRevokedKey(k),
      isLocalRecipient: (a) => (user = this.storage.getUser(a)) !== undefined,
      isReplay: (h, body) => this.storage.hasNotification(body.time, h),
      screen: (sender, body) => {
        if (this.storage.isBlocked(user!.address, sender, body.store)) throw new KeypostError('BLOCKED', 'the recipient blocks this sender');
        // Plain http is for stores on loopback: a store served over https never fetches from one
        // (a notification naming http://127.0.0.1:… would make it request a local service).
        if (body.store.startsWith('http:') && !config.origin.startsWith('http:')) throw new KeypostError('STORE_NOT_AUTHORIZED', 'plain-http stores are for loopback use only');
        const policy = this.policyOf(user!.address);
        if (policy && body.size > policy.maxSize) throw new KeypostError('WIRE_TOO_LARGE', `the recipient accepts messages up to ${policy.maxSize} bytes`);
      },
      powBits: (sender, size) => {
        if (this.storage.isContact(user!.address, sender)) return 0;
        const p = this.policyOf(user!.address);
        return p ? requiredBits(p, size) : 0;
      },
    });
    const u = user!;
    const { body, sender, hash } = v;
    // A mail bomb is many notifications to one user; a message to 10,000 users of this store is
    // 10,000 notifications of one message. So: notifications per sender and recipient, and
    // messages (not notifications) per sender.
    const from = mapKey(sender);
    this.#perPair.take(from + mapKey(body.recipient), now, 1, 'notifications from this sender to this user');
    const msg = from + mapKey(body.id);
    const counted = this.#counted.get(msg);
    if (counted === undefined || counted <= now - 60) {
      this.#perSender.take(from, now, 1, 'messages from this sender');
      this.#counted.set(msg, now);
    }
    // Anti-forgery: the sender's own signed *stores* assertion must name the sending store.
    const stores = await directory.storesOf(sender, body.store);
    if (!stores.includes(body.store)) throw new KeypostError('STORE_NOT_AUTHORIZED', `${body.store} does not serve this sender`);
    // Counted only once verified: anyone can sign a notification that claims a store, and
    // counting those claims would let a forger use up a real store's allowance.
    this.#perStore.take(body.store, now, 1, 'notifications from this store');
    // Greylisting writes a durable row, so only senders that passed every check get one.
    if (config.greylistSeconds > 0 && !this.storage.isContact(u.address, sender)) {
      const first = await this.storage.firstSeen(u.address, sender, now);
      const wait = first + config.greylistSeconds - now;
      if (wait > 0) throw Object.assign(new KeypostError('GREYLISTED', `retry in ${wait} s`), { retryAfter: wait });
    }
    return {
      user: u.address,
      id: body.id,
      time: body.time,
      hash,
      notification: bytes,
      sender,
      senderStore: body.store,
      size: body.size,
      received: now,
    };
  }

  async accept(bytes: Uint8Array): Promise<Accepted> {
    const item = await this.#checkOrDuplicate(bytes);
    if (item === 'duplicate') return 'duplicate';
    return this.storage.addInbox(item).then((r) => (r === 'new' ? 'accepted' : 'duplicate'));
  }

  /** Each is checked on its own; all accepted ones are committed together (one fsync). */
  async acceptMany(list: Uint8Array[]): Promise<({ status: Accepted } | { error: string; message: string; retryAfter?: number })[]> {
    const checked = await Promise.all(
      list.map((b) =>
        this.#checkOrDuplicate(b).then(
          (r) => r,
          (e: unknown) => ({
            error: e instanceof KeypostError ? e.code : 'INTERNAL',
            message: e instanceof KeypostError ? e.message : 'internal error',
            ...((e as { retryAfter?: number }).retryAfter ? { retryAfter: (e as { retryAfter: number }).retryAfter } : {}),
          }),
        ),
      ),
    );
    const items = checked.filter((c): c is NewInboxItem => typeof c === 'object' && 'user' in c);
    const stored = items.length ? await this.storage.addInboxMany(items) : [];
    let k = 0;
    return checked.map((c) => {
      if (c === 'duplicate') return { status: 'duplicate' as const };
      if ('error' in c) return c;
      return { status: stored[k++] === 'new' ? ('accepted' as const) : ('duplicate' as const) };
    });
  }

  async #checkOrDuplicate(bytes: Uint8Array): Promise<NewInboxItem | 'duplicate'> {
    try {
      return await this.check(bytes);
    } catch (e) {
      // A retransmission of what we hold: idempotent success, so the sender stops resending.
      if (e instanceof KeypostError && e.code === 'REPLAY') return 'duplicate';
      throw e;
    }
  }

  async acceptRetraction(bytes: Uint8Array): Promise<'retracted' | 'too-late'> {
    const v = verifyRetraction(bytes, { now: this.deps.clock.now(), skew: this.deps.config.skew });
    if (!this.storage.getUser(v.body.recipient)) throw new KeypostError('NOT_A_RECIPIENT', 'recipient is not served here');
    return (await this.storage.retractInbox(v.from, v.body.id, v.body.recipient)) ? 'retracted' : 'too-late';
  }

  /** Built once per user and certificate: a key from its seed costs a derivation and a KeyObject. */
  readonly #delegates = new Map<string, Signer>();

  #delegate(user: UserRow): Signer {
    if (!user.delegateCert) throw new KeypostError('NOT_REGISTERED', 'the user has not certified the store-delegate key yet');
    const k = toHex(user.address) + toHex(user.delegateCert);
    let s = this.#delegates.get(k);
    if (!s) {
      if (this.#delegates.size >= 10_000) this.#delegates.delete(this.#delegates.keys().next().value!);
      this.#delegates.set(k, (s = subkeySigner(user.identity, SigningKey.fromSeed(user.delegateSeed), user.delegateCert)));
    }
    return s;
  }

  /** Fetch an envelope from the sender's store as the user's delegate, check it, keep it. */
  async fetchNow(user: UserRow, row: InboxRow): Promise<Uint8Array> {
    const { clock, peers, random } = this.deps;
    const req = makeFetchRequest({ requester: this.#delegate(user), id: row.id, store: row.senderStore, time: clock.now(), random });
    const reply = await reachable(peers.fetch(row.senderStore, req, row.size));
    if (reply.status === 410) {
      await this.storage.retractInbox(row.sender, row.id, row.user);
      throw new KeypostError('GONE', 'the sender withdrew this message');
    }
    if (reply.status !== 200 || !reply.body) throw new KeypostError('UNAVAILABLE', `sender store answered ${reply.error ?? reply.status}`);
    // The notification named this hash and size: anything else is not the message notified.
    if (reply.body.length !== row.size || !equal(crypto().sha256(reply.body), row.id)) {
      throw new KeypostError('CONTENT_HASH_MISMATCH', 'the sender store served other bytes than notified');
    }
    await this.storage.storeFetched(row.seq, reply.body);
    return reply.body;
  }

  async sendReceipt(user: UserRow, row: InboxRow): Promise<void> {
    const { clock, peers } = this.deps;
    const r = makeReceipt({ recipient: this.#delegate(user), id: row.id, time: clock.now() });
    const reply = await reachable(peers.receipt(row.senderStore, r));
    if (reply.status !== 200) throw new KeypostError('UNAVAILABLE', `receipt refused: ${reply.error ?? reply.status}`);
    await this.storage.markReceiptSent(row.seq);
  }

  /** One pass of the prefetch worker: fetch new items, deliver receipts still owed. */
  async runPrefetch(limit = 128): Promise<number> {
    const { clock, config } = this.deps;
    const now = clock.now();
    const rows = await this.storage.claimDuePrefetches(now, now + 120, limit);
    const one = async (row: InboxRow) => {
      const user = this.storage.getUser(row.user);
      if (!user) return;
      try {
        if (row.state === 'notified') await this.fetchNow(user, row);
        await this.sendReceipt(user, row);
      } catch (e) {
        if ((e as KeypostError).code === 'GONE') return;
        const error = (e as { code?: string }).code ?? 'UNREACHABLE';
        await this.storage.recordPrefetchAttempt(row.seq, { now, nextAttempt: now + backoff(row.attempts, config.retryBase, config.retryMax), error });
      }
    };
    for (let i = 0; i < rows.length; i += 16) await Promise.all(rows.slice(i, i + 16).map(one));
    return rows.length;
  }
}
