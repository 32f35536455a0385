/** Invites, registration and authentication of a store's own users. */
import { KeypostError } from '../errors.js';
import { equal, fromBase64url, toBase64url, toHex } from '../bytes/index.js';
import { crypto } from '../crypto/index.js';
import { SigningKey } from '../identity/index.js';
import { replayWindow, verifyRequestAuth, type RequestToSign, type VerifiedRequest } from '../protocol/index.js';
import type { Storage, UserRow } from '../storage/types.js';
import type { StoreDeps } from './ports.js';

/** Nonces of signed requests, kept for their whole acceptance window. */
class NonceCache {
  #seen = new Map<string, number>();
  seen(hash: Uint8Array, until: number, now: number): boolean {
    const k = toHex(hash);
    if ((this.#seen.get(k) ?? 0) >= now) return true;
    this.#seen.set(k, until);
    if (this.#seen.size > 200_000) for (const [key, t] of this.#seen) if (t < now) this.#seen.delete(key);
    return false;
  }
}

export class Users {
  #nonces = new NonceCache();
  constructor(
    private readonly storage: Storage,
    private readonly deps: StoreDeps,
  ) {}

  /** A one-time invite token; only its hash is stored. */
  async createInvite(): Promise<string> {
    const token = this.deps.random(18);
    await this.storage.createInvite(crypto().sha256(token), this.deps.clock.now() + this.deps.config.inviteLifetime);
    return toBase64url(token);
  }

  /** Verify a signed request: signature, freshness, replay. `registered` also demands a known user. */
  authenticate(header: string | undefined, req: Omit<RequestToSign, 'store'>, registered = true): { v: VerifiedRequest; user?: UserRow } {
    const now = this.deps.clock.now();
    const v = verifyRequestAuth(header, { ...req, store: this.deps.config.origin }, { now, skew: this.deps.config.skew });
    const user = this.storage.getUser(v.user);
    if (registered && !user) throw new KeypostError('NOT_REGISTERED', 'register with an invite first');
    // docs/api.md: unknown devices are refused. A key the identity certified is not enough.
    if (registered && !this.#isDeviceOf(v.signingKey, v.user)) throw new KeypostError('NOT_REGISTERED', 'this device key is not registered here');
    const until = now + replayWindow(this.deps.config.skew);
    // A request that changes state is also remembered in the database, so that a restart does not
    // reopen its window; it is queued before the request's own writes, hence committed no later.
    // Reads are remembered in memory only: replaying one changes nothing.
    const changes = req.method !== 'GET' && req.method !== 'HEAD';
    if (changes && this.storage.hasNonce(v.hash, now)) throw new KeypostError('REPLAY', 'request already seen');
    if (this.#nonces.seen(v.hash, until, now)) throw new KeypostError('REPLAY', 'request already seen');
    if (changes) this.storage.addNonce(v.hash, until, now).catch(() => undefined); // (closing: the request fails anyway)
    return { v, user };
  }

  #isDeviceOf(key: Uint8Array, user: Uint8Array): boolean {
    const d = this.storage.getDevice(key);
    return d !== undefined && equal(d.user, user);
  }

  /** The first device of a new user, with an operator's invite. Returns the store-delegate public key. */
  async register(v: VerifiedRequest, invite: string): Promise<Uint8Array> {
    // One device key, one user (the devices table is keyed by it): refuse before the invite is spent.
    const d = this.storage.getDevice(v.signingKey);
    if (d && !equal(d.user, v.user)) throw new KeypostError('INVALID_ARGUMENT', 'this device key is registered to another user');
    let token: Uint8Array;
    try {
      token = fromBase64url(invite);
    } catch {
      throw new KeypostError('INVITE_INVALID', 'not an invite token');
    }
    const now = this.deps.clock.now();
    const delegate = SigningKey.generate(this.deps.random);
    await this.storage.redeemInvite(
      crypto().sha256(token),
      now,
      {
        address: v.user,
        identity: v.body.identity,
        created: now,
        quotaBytes: this.deps.config.quotaBytes,
        usedBytes: 0,
        delegateSeed: delegate.exportSecret(),
        prefetch: true,
      },
      { key: v.signingKey, user: v.user, added: now },
    );
    return delegate.publicKey;
  }
}
