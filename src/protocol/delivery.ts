/**
 * The small signed objects around one delivery: the recipient's receipt (confirmation),
 * the sender's retraction (unsend) and the recipient's fetch request. Each names the
 * message id and is checked against the clock; replay caches are the caller's.
 */
import { KeypostError } from '../errors.js';
import { equal } from '../bytes/index.js';
import type { RandomSource } from '../crypto/index.js';
import { addressOf } from '../identity/index.js';
import { decode, encode } from '../wire/index.js';
import {
  FetchRequest,
  FetchRequestBody,
  Receipt,
  ReceiptBody,
  Retraction,
  RetractionBody,
  type FetchRequestBody as FetchBody,
  type ReceiptBody as RcptBody,
  type RetractionBody as RetrBody,
} from '../wire/schema.js';
import { checkStoreUrl } from './assertions.js';
import { LABELS } from './labels.js';
import { checkSignature, resolveSigner, signBytes, signedObjectKey, type SignedBy, type VerifyContext } from './signed.js';
import { PURPOSE, type Signer } from './signer.js';
import { DEFAULT_SKEW } from './time.js';

/** Fetch requests and receipts are fresh: older than this (plus skew) is refused. */
export const FRESHNESS = 600;

/** How long a replay cache must remember a fresh object: its whole acceptance window. */
export const replayWindow = (skew = DEFAULT_SKEW): number => FRESHNESS + 2 * skew;

function checkFresh(time: number, ctx: VerifyContext, what: string) {
  const skew = ctx.skew ?? DEFAULT_SKEW;
  if (time > ctx.now + skew) throw new KeypostError('NOT_YET_VALID', `${what} from ${time}, now ${ctx.now}`);
  if (time < ctx.now - skew - FRESHNESS) throw new KeypostError('EXPIRED', `${what} from ${time} is stale`);
}

function checkId(got: Uint8Array, expected: Uint8Array | undefined) {
  if (expected && !equal(got, expected)) throw new KeypostError('SUBJECT_MISMATCH', 'names another message');
}

export interface Verified<B> {
  body: B;
  /** Address of the signing identity. */
  from: Uint8Array;
  signedBy: SignedBy;
  /** SHA-256 of the signed body: the replay-cache key. */
  hash: Uint8Array;
}

// ---- receipts ------------------------------------------------------------------------

export function makeReceipt(o: { recipient: Signer; id: Uint8Array; time: number }): Uint8Array {
  const body = encode(ReceiptBody, { recipient: o.recipient.identity, id: o.id, time: o.time });
  return signBytes(Receipt, LABELS.receipt, body, o.recipient);
}

/** A receipt proves the recipient (or its store, as delegate) fetched and verified the message. */
export function verifyReceipt(bytes: Uint8Array, ctx: VerifyContext & { id?: Uint8Array }): Verified<RcptBody> {
  const c = decode(Receipt, bytes);
  const body = decode(ReceiptBody, c.body);
  checkId(body.id, ctx.id);
  checkFresh(body.time, ctx, 'receipt');
  const signedBy = resolveSigner(c, body.recipient, [PURPOSE.device, PURPOSE.storeDelegate], ctx);
  checkSignature(c, LABELS.receipt, signedBy);
  return { body, from: addressOf(body.recipient), signedBy, hash: signedObjectKey(c) };
}

// ---- retractions ---------------------------------------------------------------------

export function makeRetraction(o: { sender: Signer; id: Uint8Array; recipient: Uint8Array; time: number }): Uint8Array {
  const body = encode(RetractionBody, { sender: o.sender.identity, id: o.id, recipient: o.recipient, time: o.time });
  return signBytes(Retraction, LABELS.retraction, body, o.sender);
}

/** A retraction is only meaningful from the message's sender; the caller compares `from`. */
export function verifyRetraction(bytes: Uint8Array, ctx: VerifyContext & { id?: Uint8Array }): Verified<RetrBody> {
  const c = decode(Retraction, bytes);
  const body = decode(RetractionBody, c.body);
  checkId(body.id, ctx.id);
  // Retransmitted until acknowledged, and harmless when replayed: only refuse the future.
  if (body.time > ctx.now + (ctx.skew ?? DEFAULT_SKEW)) throw new KeypostError('NOT_YET_VALID', 'retraction from the future');
  const signedBy = resolveSigner(c, body.sender, [PURPOSE.device], ctx);
  checkSignature(c, LABELS.retraction, signedBy);
  return { body, from: addressOf(body.sender), signedBy, hash: signedObjectKey(c) };
}

// ---- fetch requests ------------------------------------------------------------------

export function makeFetchRequest(o: { requester: Signer; id: Uint8Array; store: string; time: number; random: RandomSource }): Uint8Array {
  checkStoreUrl(o.store);
  const body = encode(FetchRequestBody, { requester: o.requester.identity, id: o.id, store: o.store, time: o.time, nonce: o.random(16) });
  return signBytes(FetchRequest, LABELS.fetch, body, o.requester);
}

/**
 * A fetch request is bound to one store (so it cannot be replayed at another) and is
 * fresh; the caller checks `from` is a recipient of the message and keeps a replay cache
 * of `hash` for replayWindow(skew) seconds.
 */
export function verifyFetchRequest(bytes: Uint8Array, ctx: VerifyContext & { store: string; id?: Uint8Array }): Verified<FetchBody> {
  const c = decode(FetchRequest, bytes);
  const body = decode(FetchRequestBody, c.body);
  checkId(body.id, ctx.id);
  if (body.store !== ctx.store) throw new KeypostError('SUBJECT_MISMATCH', 'fetch request is for another store');
  checkFresh(body.time, ctx, 'fetch request');
  const signedBy = resolveSigner(c, body.requester, [PURPOSE.device, PURPOSE.storeDelegate], ctx);
  checkSignature(c, LABELS.fetch, signedBy);
  return { body, from: addressOf(body.requester), signedBy, hash: signedObjectKey(c) };
}
