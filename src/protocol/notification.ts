/**
 * Notifications: the short signed note a sender's store sends to a recipient's store.
 * Routing fields are in clear so the recipient's store can check everything without a
 * key; only the subject hint is encrypted, to the recipient's X25519 key.
 */
import { KeypostError } from '../errors.js';
import { concat, equal } from '../bytes/index.js';
import { crypto, type RandomSource } from '../crypto/index.js';
import { addressOfUnchecked, EncryptionKey } from '../identity/index.js';
import { decode, encode, LIMITS } from '../wire/index.js';
import { Notification, NotificationBody, SealedHint, type NotificationBody as Body } from '../wire/schema.js';
import { checkStoreUrl } from './assertions.js';
import { LABELS } from './labels.js';
import { checkStamp } from './pow.js';
import { checkSignature, resolveSigner, signBytes, signedObjectKey, type SignedBy, type VerifyContext } from './signed.js';
import { PURPOSE, type Signer } from './signer.js';
import { DEFAULT_SKEW } from './time.js';

/** Longest a notification may stay valid: bounds how long a replay cache must remember it. */
export const MAX_NOTIFICATION_LIFETIME = 30 * 86400;

const ZERO_NONCE = new Uint8Array(24);
const hintKey = (shared: Uint8Array, eph: Uint8Array, rcpt: Uint8Array) =>
  crypto().hkdfSha256(shared, concat(eph, rcpt), new TextEncoder().encode(LABELS.hint), 32);

/** The hint is bound to its message and recipient, so it cannot be lifted into another notification. */
const hintAad = (id: Uint8Array, recipient: Uint8Array) => concat(id, recipient);

export interface NotifyOptions {
  sender: Signer;
  recipient: { address: Uint8Array; encryptionKey?: Uint8Array };
  /** Origin of the sender's store, where the message is fetched. */
  store: string;
  id: Uint8Array;
  size: number;
  time: number;
  expires: number;
  pow?: Uint8Array;
  /** Encrypted to the recipient: needs `recipient.encryptionKey`. */
  subjectHint?: string;
  random: RandomSource;
}

export function makeNotification(o: NotifyOptions): Uint8Array {
  checkStoreUrl(o.store);
  if (o.expires < o.time || o.expires - o.time > MAX_NOTIFICATION_LIFETIME) {
    throw new KeypostError('INVALID_ARGUMENT', `lifetime must be 0..${MAX_NOTIFICATION_LIFETIME} s`);
  }
  const body: Body = {
    recipient: o.recipient.address,
    sender: o.sender.identity,
    store: o.store,
    id: o.id,
    size: o.size,
    time: o.time,
    expires: o.expires,
  };
  if (o.pow) body.pow = o.pow;
  if (o.subjectHint !== undefined) {
    if (!o.recipient.encryptionKey) throw new KeypostError('INVALID_ARGUMENT', 'a subject hint needs the recipient encryption key');
    const eph = EncryptionKey.fromSecret(o.random(32));
    const key = hintKey(eph.sharedSecret(o.recipient.encryptionKey), eph.publicKey, o.recipient.encryptionKey);
    const box = crypto().xchacha20poly1305Seal(key, ZERO_NONCE, encode(SealedHint, { subject: o.subjectHint }), hintAad(o.id, o.recipient.address));
    body.sealed = { ephemeral: eph.publicKey, box };
  }
  return signBytes(Notification, LABELS.notification, encode(NotificationBody, body), o.sender);
}

export interface NotificationCheck extends VerifyContext {
  /** Addresses served here: a notification for anyone else is refused. */
  isLocalRecipient?: (address: Uint8Array) => boolean;
  /**
   * Called with the notification's hash (and its decoded body, whose signed `time` lets a
   * store keep its replay index in time order) before the signature is checked; true means
   * seen before.
   */
  isReplay?: (hash: Uint8Array, body: Body) => boolean;
  /**
   * Cheap policy before any expensive check (block lists): may throw. Gets the claimed,
   * not yet verified, sender address: refusing a forgery that names a blocked sender is harmless.
   */
  screen?: (sender: Uint8Array, body: Body) => void;
  /** Proof-of-work bits this sender owes for this size (0 for contacts). */
  powBits?: (sender: Uint8Array, size: number) => number;
}

export interface VerifiedNotification {
  body: Body;
  /** Sender's address, derived from the verified sender key. */
  sender: Uint8Array;
  /** SHA-256 of the signed body: the key for replay caches and spam reports. */
  hash: Uint8Array;
  signedBy: SignedBy;
}

/**
 * Verify without decrypting anything, cheapest checks first: size, decoding, time
 * window, recipient, replay, the caller's screen (block lists), proof of work, then signatures. Whether the sender's own
 * *stores* assertion names `body.store` is the caller's next check (it needs discovery).
 */
export function verifyNotification(bytes: Uint8Array, check: NotificationCheck): VerifiedNotification {
  const { c, body } = readChecked(bytes, check.now, check.skew ?? DEFAULT_SKEW);
  if (check.isLocalRecipient && !check.isLocalRecipient(body.recipient)) throw new KeypostError('NOT_A_RECIPIENT', 'recipient is not served here');
  const hash = signedObjectKey(c);
  if (check.isReplay?.(hash, body)) throw new KeypostError('REPLAY', 'notification already received');
  // The sender's key is validated in resolveSigner, after the proof of work: that check costs
  // ~0.7 ms for a key never seen before, and a flood of fresh identities must pay first.
  const sender = addressOfUnchecked(body.sender);
  check.screen?.(sender, body);
  const bits = check.powBits?.(sender, body.size) ?? 0;
  checkStamp(body.recipient, body.id, body.pow, bits);
  const signedBy = resolveSigner(c, body.sender, [PURPOSE.device], check);
  checkSignature(c, LABELS.notification, signedBy);
  return { body, sender, hash, signedBy };
}

/**
 * For the sender's own store taking an upload: every check of verifyNotification except the
 * signature (and proof of work, which the recipient's policy sets). The store has already
 * authenticated the user's signed upload request and requires each notification to name that
 * user as sender; the recipient's store, which must verify anyway, verifies the signature.
 * Checking 10,000 signatures here too would double the CPU of a large fan-out and prove only
 * what the recipient store proves again. The sender address is the claimed one, unverified.
 */
export function readOwnNotification(bytes: Uint8Array, check: { now: number; skew?: number }): { body: Body; sender: Uint8Array } {
  const { body } = readChecked(bytes, check.now, check.skew ?? DEFAULT_SKEW);
  return { body, sender: addressOfUnchecked(body.sender) };
}

/** The checks both readers run first: size, decoding, lifetime and time window, store URL. */
function readChecked(bytes: Uint8Array, now: number, skew: number) {
  if (bytes.length > LIMITS.NOTIFICATION) throw new KeypostError('WIRE_TOO_LARGE', `notification of ${bytes.length} bytes`);
  const c = decode(Notification, bytes);
  const body = decode(NotificationBody, c.body);
  checkWindow(body, now, skew);
  checkStoreUrl(body.store);
  return { c, body };
}

function checkWindow(body: Body, now: number, skew: number) {
  if (body.expires < body.time || body.expires - body.time > MAX_NOTIFICATION_LIFETIME) {
    throw new KeypostError('WIRE_BAD_TYPE', 'notification lifetime out of range');
  }
  if (body.time > now + skew) throw new KeypostError('NOT_YET_VALID', `notification from ${body.time}, now ${now}`);
  if (body.expires < now - skew) throw new KeypostError('EXPIRED', `notification expired at ${body.expires}`);
}

/** The recipient decrypts the subject hint, if there is one. */
export function openSubjectHint(body: Body, key: EncryptionKey): string | undefined {
  if (!body.sealed) return undefined;
  const k = hintKey(key.sharedSecret(body.sealed.ephemeral), body.sealed.ephemeral, key.publicKey);
  const pt = crypto().xchacha20poly1305Open(k, ZERO_NONCE, body.sealed.box, hintAad(body.id, body.recipient));
  if (!pt) throw new KeypostError('DECRYPT_FAILED', 'subject hint');
  return decode(SealedHint, pt).subject;
}

export const isNotificationFor = (body: Body, address: Uint8Array) => equal(body.recipient, address);
