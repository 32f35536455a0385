/**
 * Signing and verifying the generic signed container {body, sig, cert?}. The signature
 * covers the label and the body's exact bytes as received; nothing is re-encoded.
 */
import { crypto } from '../crypto/index.js';
import { KeypostError } from '../errors.js';
import { equal } from '../bytes/index.js';
import { parseTypedKey } from '../identity/index.js';
import { decode, encode, type StructT } from '../wire/index.js';
import { SubkeyCert, SubkeyCertBody, type Signed, type SubkeyCertBody as CertBody } from '../wire/schema.js';
import { labelled, LABELS, type Label } from './labels.js';
import type { Purpose, Signer } from './signer.js';
import { checkWindow, type Clock } from './time.js';

type SignedT = StructT<Signed>;

/** Sign `bodyBytes` under `label` and wrap it in container `t`. */
export function signBytes(t: SignedT, label: Label, bodyBytes: Uint8Array, signer: Signer, extra: Uint8Array[] = []): Uint8Array {
  const sig = signer.key.sign(labelled(label, ...extra, bodyBytes));
  return encode(t, signer.cert ? { body: bodyBytes, sig, cert: signer.cert } : { body: bodyBytes, sig });
}

export interface VerifyContext extends Clock {
  /** Return true for a key (an identity key or a subkey) that has been revoked. */
  isRevoked?: (subkey: Uint8Array) => boolean;
}

export interface SignedBy {
  /** The identity's public key (32 bytes, verified). */
  identityKey: Uint8Array;
  /** The key that made the signature: the identity key itself or a certified subkey. */
  signingKey: Uint8Array;
  /** Purpose of the subkey, or undefined when the identity key signed. */
  purpose?: Purpose;
}

// A certificate's signature depends only on its bytes, so its verification is cached.
// Validity in time and revocation are checked on every use.
const CERT_CACHE_MAX = 4096;
const certCache = new Map<string, CertBody>();

function verifiedCert(certBytes: Uint8Array): CertBody {
  // Keyed by backend too, so each backend verifies for itself (the differential tests rely on it).
  const k = crypto().name + Buffer.from(certBytes.buffer, certBytes.byteOffset, certBytes.length).toString('latin1');
  const hit = certCache.get(k);
  if (hit) return hit;
  const c = decode(SubkeyCert, certBytes);
  if (c.cert) throw new KeypostError('CERT_PURPOSE', 'a certificate is signed by the identity key itself');
  const body = decode(SubkeyCertBody, c.body);
  const idKey = parseTypedKey(body.identity);
  if (!crypto().ed25519Verify(c.sig, labelled(LABELS.subkey, c.body), idKey)) {
    throw new KeypostError('BAD_SIGNATURE', 'subkey certificate signature');
  }
  if (certCache.size >= CERT_CACHE_MAX) certCache.delete(certCache.keys().next().value!);
  certCache.set(k, body);
  return body;
}

/**
 * Check who may have signed a container claiming to come from `claimedIdentity`
 * (typed key): the identity itself, or a subkey certified by it for one of `allowed`
 * purposes. Returns the key to verify with. Does not check the signature itself.
 */
export function resolveSigner(
  container: Signed,
  claimedIdentity: Uint8Array,
  allowed: readonly Purpose[],
  ctx: VerifyContext,
): SignedBy {
  const identityKey = parseTypedKey(claimedIdentity);
  if (ctx.isRevoked?.(identityKey)) throw new KeypostError('KEY_REVOKED', 'the identity key is revoked');
  if (!container.cert) return { identityKey, signingKey: identityKey };
  if (allowed.length === 0) throw new KeypostError('CERT_PURPOSE', 'only the identity key may sign this');
  const cert = verifiedCert(container.cert);
  if (!equal(cert.identity, claimedIdentity)) throw new KeypostError('CERT_INVALID', 'certificate is for another identity');
  if (!allowed.includes(cert.purpose as Purpose)) throw new KeypostError('CERT_PURPOSE', `subkey purpose ${cert.purpose} may not sign this`);
  checkWindow(cert.notBefore, cert.notAfter, ctx, 'subkey certificate');
  if (ctx.isRevoked?.(cert.subkey)) throw new KeypostError('KEY_REVOKED', 'the subkey is revoked');
  return { identityKey, signingKey: cert.subkey, purpose: cert.purpose as Purpose };
}

/**
 * The replay and report key of a signed object: SHA-256 of the signed body. Not of the
 * whole container, whose certificate field is unsigned and could be swapped to make a
 * replay look new.
 */
export const signedObjectKey = (container: Signed): Uint8Array => crypto().sha256(container.body);

export function checkSignature(container: Signed, label: Label, by: SignedBy, extra: Uint8Array[] = []): void {
  if (!crypto().ed25519Verify(container.sig, labelled(label, ...extra, container.body), by.signingKey)) {
    throw new KeypostError('BAD_SIGNATURE', label);
  }
}
