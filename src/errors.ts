/**
 * The one error type of keypost. Every failure a caller can see carries a code from
 * this closed registry; docs/errors.md and the vectors' `expect` values use the same
 * codes, and test/errors.test.ts keeps the three in step.
 */
export const ERROR_CODES = {
  // wire format
  WIRE_MALFORMED: 'input is not valid msgpack, is truncated, or has trailing bytes',
  WIRE_NONCANONICAL: 'input decodes but is not the canonical encoding of its value',
  WIRE_TOO_LARGE: 'input or one of its fields exceeds its size limit',
  WIRE_UNKNOWN_FIELD: 'a map carries a key the schema does not define',
  WIRE_MISSING_FIELD: 'a required field is absent',
  WIRE_BAD_TYPE: 'a field has the wrong type, or a value outside its range',
  WIRE_BAD_VERSION: 'the format version is not one this implementation speaks',
  // keys and addresses
  ADDRESS_MALFORMED: 'an address is not well-formed (length, alphabet or prefix)',
  ADDRESS_CHECKSUM: 'an address text has a wrong checksum (likely a typo)',
  KEY_INVALID: 'a public key is not a canonical encoding of a curve point',
  KEY_SMALL_ORDER: 'a public key or shared secret has a small-order component',
  KEY_UNSUPPORTED: 'a key names an algorithm this implementation does not support',
  // signatures, certificates and time
  BAD_SIGNATURE: 'a signature does not verify over its label and bytes',
  CERT_INVALID: 'a subkey certificate does not belong to the identity that claims it',
  KEY_REVOKED: 'the signing key, or the identity behind it, has been revoked',
  CERT_PURPOSE: 'a subkey was used for a purpose its certificate does not allow',
  EXPIRED: 'the object is past its expiry (beyond the clock-skew allowance)',
  NOT_YET_VALID: 'the object is not valid yet (beyond the clock-skew allowance)',
  ROLLBACK: 'an assertion has a lower sequence number than one already seen',
  REPLAY: 'this exact signed object was already received',
  WRONG_TYPE: 'an object of another type was given where this one was expected',
  SUBJECT_MISMATCH: 'an object names a different address than the one expected',
  // encryption and content
  NOT_A_RECIPIENT: 'the envelope holds no key stanza for this recipient',
  DECRYPT_FAILED: 'authenticated decryption failed (tampered or wrong key)',
  CONTENT_HASH_MISMATCH: 'the bytes do not hash to the message id they claim',
  // proof of work
  POW_MISSING: 'proof of work is required and absent',
  POW_INSUFFICIENT: 'the proof-of-work stamp has fewer leading zero bits than required',
  // local files and arguments
  KEYFILE_PASSPHRASE: 'the key file cannot be opened with this passphrase',
  KEYFILE_EXISTS: 'refusing to overwrite an existing key file',
  KEYFILE_PERMISSIONS: 'the key file grants some permission to group or others',
  INVALID_ARGUMENT: 'a function was called with an argument outside its contract',
  // the store
  AUTH_REQUIRED: 'the request carries no signed Authorization header',
  NOT_REGISTERED: 'the user or device that signed is not registered at this store',
  INVITE_INVALID: 'the invite token is unknown, already used, or expired',
  NOT_FOUND: 'no such message, user or item here',
  GONE: 'the sender withdrew this message before it was fetched',
  QUOTA_EXCEEDED: "the user's storage quota would be exceeded",
  RATE_LIMITED: 'too many requests from this sender, store or user; retry later',
  GREYLISTED: 'first contact from a stranger is deferred; retry after the delay',
  BLOCKED: 'the recipient blocks this sender or its store',
  STORE_NOT_AUTHORIZED: "the sending store is not one the sender's own stores assertion names",
  DISCOVERY_FAILED: 'no valid assertion could be found for this address',
  UNAVAILABLE: 'the store is shutting down or overloaded; retry later',
  INTERNAL: 'an unexpected failure inside the store (details are in its log, not here)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class KeypostError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${code}: ${detail}` : `${code}: ${ERROR_CODES[code]}`, options);
    this.name = 'KeypostError';
    this.code = code;
  }
}

export function isErrorCode(s: string): s is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, s);
}

/** Throw a typed error. A function so that guards read as one line. */
export function fail(code: ErrorCode, detail?: string): never {
  throw new KeypostError(code, detail);
}
