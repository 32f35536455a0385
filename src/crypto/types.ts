/**
 * The one interface every crypto backend implements. Only src/crypto/ imports
 * @noble/* and node:crypto; everything above goes through this.
 *
 * Semantics both backends must share (test/crypto.differential.test.ts checks it):
 * - Ed25519 verification is strict RFC 8032 with the cofactorless equation, and
 *   refuses public keys that are non-canonical or have any small-order component.
 * - X25519 refuses an all-zero shared secret.
 * - AEAD open returns null on authentication failure; it never returns partial data.
 */
export interface Ed25519Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface X25519KeyPair {
  readonly publicKey: Uint8Array;
  /** Diffie-Hellman with a peer key. Throws KeypostError KEY_SMALL_ORDER on an all-zero result. */
  sharedSecret(peerPublicKey: Uint8Array): Uint8Array;
}

export interface CryptoBackend {
  readonly name: 'node' | 'noble';
  ed25519PublicKey(seed: Uint8Array): Uint8Array;
  ed25519Signer(seed: Uint8Array): Ed25519Signer;
  /** Strict verification; false for any invalid signature or unacceptable key. Never throws on bad input. */
  ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  x25519PublicKey(secretKey: Uint8Array): Uint8Array;
  x25519KeyPair(secretKey: Uint8Array): X25519KeyPair;
  sha256(data: Uint8Array): Uint8Array;
  sha512(data: Uint8Array): Uint8Array;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
  /** ChaCha20-Poly1305 (RFC 8439), 12-byte nonce. */
  chacha20poly1305Seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  chacha20poly1305Open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad?: Uint8Array): Uint8Array | null;
  /** XChaCha20-Poly1305, 24-byte nonce. */
  xchacha20poly1305Seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array;
  xchacha20poly1305Open(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad?: Uint8Array): Uint8Array | null;
  scrypt(passphrase: Uint8Array, salt: Uint8Array, logN: number, length: number): Uint8Array;
  randomBytes(n: number): Uint8Array;
}
