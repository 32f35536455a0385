/**
 * Signed requests from a user's device to its own store: no password ever crosses the
 * wire. The signature covers method, path, a hash of the body, the store's origin, the
 * time and a nonce; the store keeps nonces for replayWindow(skew) seconds.
 */
import { KeypostError } from '../errors.js';
import { fromBase64url, toBase64url } from '../bytes/index.js';
import { crypto, type RandomSource } from '../crypto/index.js';
import { addressOf } from '../identity/index.js';
import { decode, encode } from '../wire/index.js';
import { RequestAuth, RequestAuthBody, type RequestAuthBody as Body } from '../wire/schema.js';
import { checkStoreUrl } from './assertions.js';
import { FRESHNESS } from './delivery.js';
import { LABELS } from './labels.js';
import { checkSignature, resolveSigner, signBytes, signedObjectKey, type VerifyContext } from './signed.js';
import { PURPOSE, type Signer } from './signer.js';
import { DEFAULT_SKEW } from './time.js';

/** `Authorization: KP1 <base64url of a RequestAuth>` */
export const AUTH_SCHEME = 'KP1';

export interface RequestToSign {
  method: string;
  path: string;
  body: Uint8Array;
  store: string;
}

export function makeRequestAuth(signer: Signer, r: RequestToSign, time: number, random: RandomSource): string {
  checkStoreUrl(r.store);
  const body = encode(RequestAuthBody, {
    identity: signer.identity,
    method: r.method.toUpperCase(),
    path: r.path,
    bodyHash: crypto().sha256(r.body),
    store: r.store,
    time,
    nonce: random(16),
  });
  return `${AUTH_SCHEME} ${toBase64url(signBytes(RequestAuth, LABELS.request, body, signer))}`;
}

export interface VerifiedRequest {
  body: Body;
  /** Address of the user. */
  user: Uint8Array;
  /** The device key that signed (or the identity key). */
  signingKey: Uint8Array;
  /** Replay-cache key. */
  hash: Uint8Array;
}

/**
 * Checks the header against the request actually received. The caller checks that the
 * user is registered here, that the signing key is one of the user's registered devices,
 * and that `hash` was not seen within replayWindow(skew).
 */
export function verifyRequestAuth(header: string | undefined, r: RequestToSign, ctx: VerifyContext): VerifiedRequest {
  if (!header || !header.startsWith(AUTH_SCHEME + ' ')) throw new KeypostError('AUTH_REQUIRED', `expected Authorization: ${AUTH_SCHEME} …`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(header.slice(AUTH_SCHEME.length + 1));
  } catch {
    throw new KeypostError('WIRE_MALFORMED', 'Authorization is not base64url');
  }
  const c = decode(RequestAuth, bytes);
  const body = decode(RequestAuthBody, c.body);
  if (body.store !== r.store || body.method !== r.method.toUpperCase() || body.path !== r.path) {
    throw new KeypostError('SUBJECT_MISMATCH', 'signed for another request');
  }
  const skew = ctx.skew ?? DEFAULT_SKEW;
  if (body.time > ctx.now + skew) throw new KeypostError('NOT_YET_VALID', 'request from the future');
  if (body.time < ctx.now - skew - FRESHNESS) throw new KeypostError('EXPIRED', 'request is stale');
  if (!Buffer.from(crypto().sha256(r.body)).equals(Buffer.from(body.bodyHash))) {
    throw new KeypostError('CONTENT_HASH_MISMATCH', 'body differs from the signed hash');
  }
  const by = resolveSigner(c, body.identity, [PURPOSE.device], ctx);
  checkSignature(c, LABELS.request, by);
  return { body, user: addressOf(body.identity), signingKey: by.signingKey, hash: signedObjectKey(c) };
}
