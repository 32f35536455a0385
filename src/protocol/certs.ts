/** Subkey certificates and revocations, both signed by the identity key only. */
import { KeypostError } from '../errors.js';
import { checkEncryptionPublicKey, checkSigningPublicKey, type SigningKey } from '../identity/index.js';
import { decode, encode } from '../wire/index.js';
import { Revocation, RevocationBody, SubkeyCert, SubkeyCertBody, type RevocationBody as RevBody, type SubkeyCertBody as CertBody } from '../wire/schema.js';
import { LABELS } from './labels.js';
import { checkSignature, resolveSigner, signBytes, type VerifyContext } from './signed.js';
import { identitySigner, PURPOSE, type Purpose, type Signer } from './signer.js';
import { checkWindow } from './time.js';

function checkSubkey(purpose: number, subkey: Uint8Array) {
  if (purpose === PURPOSE.encryption) checkEncryptionPublicKey(subkey);
  else if (purpose === PURPOSE.device || purpose === PURPOSE.storeDelegate) checkSigningPublicKey(subkey);
  else throw new KeypostError('WIRE_BAD_TYPE', `unknown subkey purpose ${purpose}`);
}

export interface CertifyOptions {
  identity: SigningKey;
  purpose: Purpose;
  subkey: Uint8Array;
  notBefore: number;
  notAfter: number;
}

export function certifySubkey(o: CertifyOptions): Uint8Array {
  checkSubkey(o.purpose, o.subkey);
  if (o.notAfter < o.notBefore) throw new KeypostError('INVALID_ARGUMENT', 'notAfter precedes notBefore');
  const body = encode(SubkeyCertBody, {
    identity: o.identity.typedKey,
    purpose: o.purpose,
    subkey: o.subkey,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
  });
  return signBytes(SubkeyCert, LABELS.subkey, body, identitySigner(o.identity));
}

/** Verify a certificate on its own (e.g. an encryption key handed over out of band). */
export function verifySubkeyCert(bytes: Uint8Array, ctx: VerifyContext): CertBody {
  const c = decode(SubkeyCert, bytes);
  const body = decode(SubkeyCertBody, c.body);
  checkSubkey(body.purpose, body.subkey);
  checkWindow(body.notBefore, body.notAfter, ctx, 'subkey certificate');
  checkSignature(c, LABELS.subkey, resolveSigner(c, body.identity, [], ctx));
  if (ctx.isRevoked?.(body.subkey)) throw new KeypostError('KEY_REVOKED', 'the subkey is revoked');
  return body;
}

/** A signer for a certified device or store-delegate key. */
export function subkeySigner(identityTypedKey: Uint8Array, key: SigningKey, cert: Uint8Array): Signer {
  return { identity: identityTypedKey, key, cert };
}

export const REVOCATION_REASON = { unspecified: 0, compromised: 1, superseded: 2, retired: 3 } as const;

/** Revoke a subkey, or the identity itself when `revoked` is the identity's own public key. */
export function revokeKey(o: { identity: SigningKey; revoked: Uint8Array; time: number; reason: number }): Uint8Array {
  if (o.revoked.length !== 32) throw new KeypostError('INVALID_ARGUMENT', 'revoked key must be 32 bytes');
  const body = encode(RevocationBody, { identity: o.identity.typedKey, revoked: o.revoked, time: o.time, reason: o.reason });
  return signBytes(Revocation, LABELS.revocation, body, identitySigner(o.identity));
}

/** A revocation has no expiry: once signed, it stands. */
export function verifyRevocation(bytes: Uint8Array): RevBody {
  const c = decode(Revocation, bytes);
  const body = decode(RevocationBody, c.body);
  if (body.reason > 3) throw new KeypostError('WIRE_BAD_TYPE', `unknown revocation reason ${body.reason}`);
  checkSignature(c, LABELS.revocation, resolveSigner(c, body.identity, [], { now: 0 }));
  return body;
}
