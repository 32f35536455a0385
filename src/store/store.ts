/** One store, both IM2000 roles, and its two background workers. */
import { KeypostError } from '../errors.js';
import { equal } from '../bytes/index.js';
import { SigningKey } from '../identity/index.js';
import { verifyAssertion, verifyRevocation, verifySubkeyCert, localPartHash, parseLegacyName, PURPOSE, ASSERTION_TYPE } from '../protocol/index.js';
import { decode } from '../wire/index.js';
import { AssertionBundle } from '../wire/schema.js';
import type { Storage, UserRow } from '../storage/types.js';
import type { StoreDeps } from './ports.js';
import { Recipient } from './recipient.js';
import { OUTBOX_PASS, Sender } from './sender.js';
import { Users } from './users.js';

export class Store {
  readonly users: Users;
  readonly sender: Sender;
  readonly recipient: Recipient;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = true;

  constructor(
    readonly storage: Storage,
    readonly deps: StoreDeps,
  ) {
    this.users = new Users(storage, deps);
    this.sender = new Sender(storage, deps);
    this.recipient = new Recipient(storage, deps);
  }

  /** The user certifies the store-delegate key it was given at registration. */
  async setDelegateCert(user: UserRow, cert: Uint8Array): Promise<void> {
    const c = verifySubkeyCert(cert, { now: this.deps.clock.now(), skew: this.deps.config.skew });
    const expected = this.storage.getUser(user.address);
    if (!equal(c.identity, user.identity) || c.purpose !== PURPOSE.storeDelegate) throw new KeypostError('CERT_INVALID', 'not a delegate certificate of this user');
    // For the key the store signs with: a certificate of any other key would make every fetch and receipt fail.
    if (!equal(c.subkey, SigningKey.fromSeed(user.delegateSeed).publicKey)) throw new KeypostError('CERT_INVALID', "not a certificate of this user's store delegate key");
    if (!expected) throw new KeypostError('NOT_REGISTERED');
    await this.storage.setDelegateCert(user.address, cert);
  }

  /** Another device of the user: its certificate, signed by the identity key, registers it. */
  async addDevice(user: UserRow, cert: Uint8Array): Promise<Uint8Array> {
    const c = verifySubkeyCert(cert, { now: this.deps.clock.now(), skew: this.deps.config.skew });
    if (!equal(c.identity, user.identity) || c.purpose !== PURPOSE.device) throw new KeypostError('CERT_INVALID', 'not a device certificate of this user');
    if (this.storage.isRevokedKey(c.subkey)) throw new KeypostError('KEY_REVOKED', 'this device key was revoked');
    const d = this.storage.getDevice(c.subkey);
    if (d && !equal(d.user, user.address)) throw new KeypostError('INVALID_ARGUMENT', 'this device key is registered to another user');
    await this.storage.addDevice({ key: c.subkey, user: user.address, cert, added: this.deps.clock.now() });
    return c.subkey;
  }

  /**
   * A lost or retired device: the user's identity key signs a Revocation of it (a device
   * cannot remove another on its own word, so a stolen one cannot lock its owner out). The
   * key stops authenticating at once, cannot be added again, and notifications it signed
   * for this store's users are refused (KEY_REVOKED).
   */
  async revokeDevice(user: UserRow, body: Uint8Array): Promise<Uint8Array> {
    const r = verifyRevocation(body);
    if (!equal(r.identity, user.identity)) throw new KeypostError('SUBJECT_MISMATCH', "a revocation by another identity than the user's");
    await this.storage.revokeDevice(user.address, r.revoked, body, this.deps.clock.now());
    return r.revoked;
  }

  /** Publish the user's own assertions at the well-known path; rollbacks are refused. */
  async putAssertions(user: UserRow, body: Uint8Array): Promise<number> {
    const now = this.deps.clock.now();
    let n = 0;
    for (const a of decode(AssertionBundle, body).assertions) {
      const v = verifyAssertion(a, { now, skew: this.deps.config.skew, address: user.address });
      const nameHash = v.content.type === 'name' ? localPartHash(parseLegacyName(v.content.name).local) : undefined;
      if (!(await this.storage.putAssertion(user.address, ASSERTION_TYPE[v.content.type], v.seq, a, v.notAfter, nameHash))) {
        throw new KeypostError('ROLLBACK', `a newer ${v.content.type} assertion is already published`);
      }
      n++;
    }
    this.recipient.forgetPolicy(user.address);
    return n;
  }

  // ---- workers ---------------------------------------------------------------------------

  /** Start the retransmission and prefetch workers: a pass every `intervalMs`, and on `wake()`. */
  start(intervalMs = 1000): void {
    this.#stopped = false;
    const tick = () => {
      this.wake();
      if (!this.#stopped) this.#timer = setTimeout(tick, intervalMs);
    };
    this.#timer = setTimeout(tick, 0);
  }

  /** Run a pass now (new upload or notification), or right after the current one. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#pass().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.wake();
      }
    });
  }

  async #pass(): Promise<void> {
    // Keep going while there is a full batch: a burst drains without waiting for the timer.
    // Two outbox lanes: while one batch is being verified at the recipient store, the next
    // is claimed and sent (claims are leased, so the lanes never take the same rows).
    const outbox = async () => {
      while (!this.#stopped && (await this.sender.runOutbox()) >= OUTBOX_PASS);
    };
    const prefetch = async () => {
      while (!this.#stopped && (await this.recipient.runPrefetch()) >= 128);
    };
    // allSettled: a lane that fails must not end the pass while the others still run.
    for (const r of await Promise.allSettled([outbox(), outbox(), prefetch()])) {
      if (r.status === 'rejected') this.deps.log?.('worker pass failed', { error: (r.reason as Error).message });
    }
  }

  /** Stop the workers and wait for the pass in flight; then close storage yourself. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
