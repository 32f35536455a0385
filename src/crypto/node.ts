/** node:crypto backend (OpenSSL): the fast default in Node. */
import * as nc from 'node:crypto';
import { KeypostError } from '../errors.js';
import { isAcceptableEd25519Key } from './edkeys.js';
import { xchachaSubkey } from './xchacha.js';
import type { CryptoBackend } from './types.js';

// Raw 32-byte keys enter and leave OpenSSL as JWK (RFC 8037), not DER: with Node 20's OpenSSL 3
// the DER decoder/encoder costs 60-500 µs per key, the JWK path (raw key import) 1-30 µs; see
// docs/performance.md. For a private key Node reads only `d` and derives the public key itself.
type Okp = 'Ed25519' | 'X25519';
const b64u = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url');
const okpPrivate = (crv: Okp, raw: Uint8Array) => nc.createPrivateKey({ key: { kty: 'OKP', crv, d: b64u(raw), x: '' }, format: 'jwk' });
const okpPublic = (crv: Okp, raw: Uint8Array) => nc.createPublicKey({ key: { kty: 'OKP', crv, x: b64u(raw) }, format: 'jwk' });

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

const edPrivate = (seed: Uint8Array) => okpPrivate('Ed25519', seed);
const rawPublic = (k: nc.KeyObject): Uint8Array => new Uint8Array(Buffer.from(k.export({ format: 'jwk' }).x ?? '', 'base64url'));

// KeyObject creation costs about as much as a hash; verified keys recur, so cache them.
const PUB_CACHE_MAX = 8192;
const pubCache = new Map<string, nc.KeyObject>();
/** The KeyObject of an acceptable key (edkeys.ts), or undefined: one cache lookup per verify. */
function edPublic(pk: Uint8Array): nc.KeyObject | undefined {
  const id = Buffer.from(pk.buffer, pk.byteOffset, 32).toString('latin1');
  let k = pubCache.get(id);
  if (!k) {
    if (!isAcceptableEd25519Key(pk)) return undefined;
    k = okpPublic('Ed25519', pk);
    if (pubCache.size >= PUB_CACHE_MAX) pubCache.delete(pubCache.keys().next().value!);
    pubCache.set(id, k);
  }
  return k;
}

function checkLen(b: Uint8Array, n: number, what: string) {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new KeypostError('INVALID_ARGUMENT', `${what} must be ${n} bytes`);
}

// The KDFs' numeric parameters are checked here, identically in both backends, so that both refuse
// the same inputs with the same typed error (the libraries disagree: scrypt length 0, error types).
function checkKdf(what: string, n: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(n) || n < min || n > max) throw new KeypostError('INVALID_ARGUMENT', `${what} out of range`);
}

function aeadSeal(alg: 'chacha20-poly1305', key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad?: Uint8Array): Uint8Array {
  const c = nc.createCipheriv(alg, key, nonce, { authTagLength: 16 });
  if (aad) c.setAAD(aad, { plaintextLength: pt.length });
  const out = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
  return u8(out);
}

function aeadOpen(alg: 'chacha20-poly1305', key: Uint8Array, nonce: Uint8Array, ct: Uint8Array, aad?: Uint8Array): Uint8Array | null {
  if (ct.length < 16) return null;
  const d = nc.createDecipheriv(alg, key, nonce, { authTagLength: 16 });
  d.setAuthTag(ct.subarray(ct.length - 16));
  if (aad) d.setAAD(aad, { plaintextLength: ct.length - 16 });
  const body = d.update(ct.subarray(0, ct.length - 16));
  try {
    return u8(Buffer.concat([body, d.final()]));
  } catch {
    body.fill(0); // never hand out unauthenticated plaintext
    return null;
  }
}

export const nodeBackend: CryptoBackend = {
  name: 'node',
  ed25519PublicKey(seed) {
    checkLen(seed, 32, 'seed');
    return rawPublic(nc.createPublicKey(edPrivate(seed)));
  },
  ed25519Signer(seed) {
    checkLen(seed, 32, 'seed');
    const priv = edPrivate(seed);
    const publicKey = rawPublic(nc.createPublicKey(priv));
    return { publicKey, sign: (m) => u8(nc.sign(null, m, priv)) };
  },
  ed25519Verify(sig, msg, pk) {
    if (sig.length !== 64 || pk.length !== 32) return false;
    // Only keys that passed the check are cached as KeyObjects, so a hit needs no second lookup.
    const key = edPublic(pk);
    if (!key) return false;
    try {
      // OpenSSL checks S < L and compares the encoding of R, i.e. cofactorless and canonical.
      return nc.verify(null, msg, key, sig);
    } catch {
      return false;
    }
  },
  x25519PublicKey(sk) {
    checkLen(sk, 32, 'X25519 secret key');
    return rawPublic(nc.createPublicKey(okpPrivate('X25519', sk)));
  },
  x25519KeyPair(sk) {
    checkLen(sk, 32, 'X25519 secret key');
    const privateKey = okpPrivate('X25519', sk);
    const publicKey = rawPublic(nc.createPublicKey(privateKey));
    return {
      publicKey,
      sharedSecret(peer) {
        checkLen(peer, 32, 'X25519 public key');
        let s: Buffer;
        try {
          const pub = okpPublic('X25519', peer);
          s = nc.diffieHellman({ privateKey, publicKey: pub });
        } catch {
          // OpenSSL refuses to derive an all-zero secret; report it as the small-order key it is.
          throw new KeypostError('KEY_SMALL_ORDER', 'X25519 shared secret is all zero');
        }
        if (s.every((x) => x === 0)) throw new KeypostError('KEY_SMALL_ORDER', 'X25519 shared secret is all zero');
        return u8(s);
      },
    };
  },
  // One-shot nc.hash: a third cheaper than createHash for the small inputs hashed per notification.
  sha256: (d) => u8(nc.hash('sha256', d, 'buffer') as unknown as Buffer),
  sha512: (d) => u8(nc.hash('sha512', d, 'buffer') as unknown as Buffer),
  hkdfSha256(ikm, salt, info, len) {
    checkKdf('HKDF length', len, 0, 255 * 32);
    return new Uint8Array(nc.hkdfSync('sha256', ikm, salt, info, len));
  },
  chacha20poly1305Seal(key, nonce, pt, aad) {
    checkLen(key, 32, 'key');
    checkLen(nonce, 12, 'nonce');
    return aeadSeal('chacha20-poly1305', key, nonce, pt, aad);
  },
  chacha20poly1305Open(key, nonce, ct, aad) {
    checkLen(key, 32, 'key');
    checkLen(nonce, 12, 'nonce');
    return aeadOpen('chacha20-poly1305', key, nonce, ct, aad);
  },
  xchacha20poly1305Seal(key, nonce, pt, aad) {
    checkLen(key, 32, 'key');
    checkLen(nonce, 24, 'nonce');
    const { subkey, nonce12 } = xchachaSubkey(key, nonce);
    return aeadSeal('chacha20-poly1305', subkey, nonce12, pt, aad);
  },
  xchacha20poly1305Open(key, nonce, ct, aad) {
    checkLen(key, 32, 'key');
    checkLen(nonce, 24, 'nonce');
    const { subkey, nonce12 } = xchachaSubkey(key, nonce);
    return aeadOpen('chacha20-poly1305', subkey, nonce12, ct, aad);
  },
  scrypt(pass, salt, logN, len) {
    checkKdf('scrypt logN', logN, 1);
    checkKdf('scrypt length', len, 1);
    return u8(nc.scryptSync(pass, salt, len, { N: 2 ** logN, r: 8, p: 1, maxmem: 2 ** logN * 8 * 128 * 2 + 1024 * 1024 }));
  },
  randomBytes: (n) => u8(nc.randomBytes(n)),
};
