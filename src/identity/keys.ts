/**
 * Key pairs. Secret keys live in private class fields: they never appear in JSON,
 * util.inspect or logs, and leave the object only through the explicit `exportSecret`
 * (for the key file).
 */
import { inspect } from 'node:util';
import { crypto, classifyEd25519Key, isSmallOrderX25519, type RandomSource, type Ed25519Signer, type X25519KeyPair } from '../crypto/index.js';
import { KeypostError } from '../errors.js';
import { concat, toHex } from '../bytes/index.js';

/** Algorithm id of Ed25519 identity keys in the typed encoding (the only one so far). */
export const ALG_ED25519 = 0x01;

/** Typed public key: algorithm id || key bytes, so another algorithm can be added later. */
export const typedKey = (publicKey: Uint8Array): Uint8Array => concat(Uint8Array.of(ALG_ED25519), publicKey);

/** Parse a typed key seen on the wire; refuses unknown algorithms, invalid and small-order keys. */
export function parseTypedKey(typed: Uint8Array): Uint8Array {
  if (typed.length !== 33) throw new KeypostError('KEY_INVALID', 'typed key must be 33 bytes');
  if (typed[0] !== ALG_ED25519) throw new KeypostError('KEY_UNSUPPORTED', `algorithm ${typed[0]}`);
  const pk = typed.subarray(1);
  checkSigningPublicKey(pk);
  return pk;
}

export function checkSigningPublicKey(pk: Uint8Array): void {
  const c = classifyEd25519Key(pk);
  if (c === 'invalid') throw new KeypostError('KEY_INVALID', 'not a canonical Ed25519 point');
  if (c === 'small-order') throw new KeypostError('KEY_SMALL_ORDER', 'Ed25519 key has a small-order component');
}

export function checkEncryptionPublicKey(pk: Uint8Array): void {
  if (pk.length !== 32) throw new KeypostError('KEY_INVALID', 'X25519 key must be 32 bytes');
  if (isSmallOrderX25519(pk)) throw new KeypostError('KEY_SMALL_ORDER', 'X25519 key has small order');
}

/** An Ed25519 key pair: identity keys, device keys and store-delegate keys. */
export class SigningKey {
  readonly #seed: Uint8Array;
  #signer: Ed25519Signer | undefined;
  readonly publicKey: Uint8Array;

  private constructor(seed: Uint8Array) {
    this.#seed = seed.slice();
    this.publicKey = crypto().ed25519PublicKey(this.#seed);
    checkSigningPublicKey(this.publicKey);
  }
  static generate(random: RandomSource): SigningKey {
    return new SigningKey(random(32));
  }
  static fromSeed(seed: Uint8Array): SigningKey {
    if (seed.length !== 32) throw new KeypostError('INVALID_ARGUMENT', 'seed must be 32 bytes');
    return new SigningKey(seed);
  }
  get typedKey(): Uint8Array {
    return typedKey(this.publicKey);
  }
  sign(message: Uint8Array): Uint8Array {
    // Bound lazily, and to the backend active at first use.
    this.#signer ??= crypto().ed25519Signer(this.#seed);
    return this.#signer.sign(message);
  }
  exportSecret(): Uint8Array {
    return this.#seed.slice();
  }
  toJSON() {
    return { type: 'SigningKey', publicKey: toHex(this.publicKey) };
  }
  [inspect.custom]() {
    return `SigningKey(${toHex(this.publicKey)})`;
  }
}

/** An X25519 key pair for decrypting envelopes and notification hints. */
export class EncryptionKey {
  readonly #pair: X25519KeyPair;
  readonly #secret: Uint8Array;
  readonly publicKey: Uint8Array;

  private constructor(secret: Uint8Array) {
    this.#secret = secret.slice();
    this.#pair = crypto().x25519KeyPair(this.#secret);
    this.publicKey = this.#pair.publicKey;
  }
  static generate(random: RandomSource): EncryptionKey {
    return new EncryptionKey(random(32));
  }
  static fromSecret(secret: Uint8Array): EncryptionKey {
    if (secret.length !== 32) throw new KeypostError('INVALID_ARGUMENT', 'secret must be 32 bytes');
    return new EncryptionKey(secret);
  }
  /** Throws KEY_SMALL_ORDER for a small-order peer key or an all-zero result. */
  sharedSecret(peer: Uint8Array): Uint8Array {
    checkEncryptionPublicKey(peer);
    return this.#pair.sharedSecret(peer);
  }
  exportSecret(): Uint8Array {
    return this.#secret.slice();
  }
  toJSON() {
    return { type: 'EncryptionKey', publicKey: toHex(this.publicKey) };
  }
  [inspect.custom]() {
    return `EncryptionKey(${toHex(this.publicKey)})`;
  }
}
