/** @noble backend: the portable reference (runs in browsers), and the other side of the differential test. */
import * as ed from '@noble/ed25519';
import { x25519 } from '@noble/curves/ed25519.js';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { scrypt } from '@noble/hashes/scrypt.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { KeypostError } from '../errors.js';
import { isAcceptableEd25519Key, isTorsionFreeR } from './edkeys.js';
import type { CryptoBackend } from './types.js';

ed.hashes.sha512 = sha512;

function checkLen(b: Uint8Array, n: number, what: string) {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new KeypostError('INVALID_ARGUMENT', `${what} must be ${n} bytes`);
}

// The KDFs' numeric parameters are checked here, identically in both backends, so that both refuse
// the same inputs with the same typed error (the libraries disagree: scrypt length 0, error types).
function checkKdf(what: string, n: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(n) || n < min || n > max) throw new KeypostError('INVALID_ARGUMENT', `${what} out of range`);
}

function open(f: () => Uint8Array): Uint8Array | null {
  try {
    return f();
  } catch {
    return null;
  }
}

export const nobleBackend: CryptoBackend = {
  name: 'noble',
  ed25519PublicKey(seed) {
    checkLen(seed, 32, 'seed');
    return ed.getPublicKey(seed);
  },
  ed25519Signer(seed) {
    checkLen(seed, 32, 'seed');
    const s = seed.slice();
    return { publicKey: ed.getPublicKey(s), sign: (m) => ed.sign(m, s) };
  },
  ed25519Verify(sig, msg, pk) {
    if (sig.length !== 64 || !isAcceptableEd25519Key(pk)) return false;
    try {
      // noble's strict branch checks the cofactored equation; with A torsion-free (checked above),
      // additionally requiring R torsion-free makes it equal to the cofactorless one OpenSSL uses.
      return ed.verify(sig, msg, pk, { zip215: false }) && isTorsionFreeR(sig.subarray(0, 32));
    } catch {
      return false;
    }
  },
  x25519PublicKey(sk) {
    checkLen(sk, 32, 'X25519 secret key');
    return x25519.getPublicKey(sk);
  },
  x25519KeyPair(sk) {
    checkLen(sk, 32, 'X25519 secret key');
    const s = sk.slice();
    return {
      publicKey: x25519.getPublicKey(s),
      sharedSecret(peer) {
        checkLen(peer, 32, 'X25519 public key');
        try {
          return x25519.getSharedSecret(s, peer); // throws on an all-zero result
        } catch {
          throw new KeypostError('KEY_SMALL_ORDER', 'X25519 shared secret is all zero');
        }
      },
    };
  },
  sha256: (d) => sha256(d),
  sha512: (d) => sha512(d),
  hkdfSha256(ikm, salt, info, len) {
    checkKdf('HKDF length', len, 0, 255 * 32);
    return hkdf(sha256, ikm, salt, info, len);
  },
  chacha20poly1305Seal(key, nonce, pt, aad) {
    checkLen(key, 32, 'key');
    checkLen(nonce, 12, 'nonce');
    return chacha20poly1305(key, nonce, aad).encrypt(pt);
  },
  chacha20poly1305Open(key, nonce, ct, aad) {
    checkLen(key, 32, 'key');
    checkLen(nonce, 12, 'nonce');
    return open(() => chacha20poly1305(key, nonce, aad).decrypt(ct));
  },
  xchacha20poly1305Seal(key, nonce, pt, aad) {
    checkLen(key, 32, 'key');
    checkLen(nonce, 24, 'nonce');
    return xchacha20poly1305(key, nonce, aad).encrypt(pt);
  },
  xchacha20poly1305Open(key, nonce, ct, aad) {
    checkLen(key, 32, 'key');
    checkLen(nonce, 24, 'nonce');
    return open(() => xchacha20poly1305(key, nonce, aad).decrypt(ct));
  },
  scrypt(pass, salt, logN, len) {
    checkKdf('scrypt logN', logN, 1);
    checkKdf('scrypt length', len, 1);
    return scrypt(pass, salt, { N: 2 ** logN, r: 8, p: 1, dkLen: len, maxmem: 2 ** logN * 8 * 128 * 2 + 1024 * 1024 });
  },
  randomBytes: (n) => randomBytes(n),
};
