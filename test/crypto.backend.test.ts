/** Focused behaviour of the crypto layer's front door and of each backend. */
import * as nc from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { backends, crypto, seededRandom, systemRandom, useBackend } from '../src/crypto/index.js';
import type { CryptoBackend } from '../src/crypto/index.js';
import { KeypostError } from '../src/errors.js';
import type { ErrorCode } from '../src/errors.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

function thrownCode(f: () => unknown): ErrorCode | 'NO_THROW' {
  try {
    f();
  } catch (e) {
    if (e instanceof KeypostError) return e.code;
    throw e;
  }
  return 'NO_THROW';
}

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

describe.each(['node', 'noble'] as const)('%s backend', (name) => {
  const b: CryptoBackend = backends[name];
  const other: CryptoBackend = backends[name === 'node' ? 'noble' : 'node'];

  describe('Ed25519', () => {
    it('reproduces RFC 8032 section 7.1 tests 1 and 2', () => {
      const t1 = b.ed25519Signer(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
      expect(toHex(t1.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
      expect(toHex(t1.sign(new Uint8Array(0)))).toBe(
        'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
      );
      const t2 = b.ed25519Signer(hex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'));
      expect(toHex(t2.publicKey)).toBe('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
      expect(toHex(t2.sign(hex('72')))).toBe(
        '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
      );
    });

    it('sign/verify roundtrip, also across backends; other message, key or signature fails', () => {
      const rnd = seededRandom(`roundtrip ${name}`);
      for (const len of [0, 1, 31, 32, 64, 200, 4096]) {
        const seed = rnd(32);
        const msg = rnd(len);
        const s = b.ed25519Signer(seed);
        expect(s.publicKey).toHaveLength(32);
        expect(toHex(b.ed25519PublicKey(seed))).toBe(toHex(s.publicKey));
        const sig = s.sign(msg);
        expect(sig).toHaveLength(64);
        expect(toHex(s.sign(msg))).toBe(toHex(sig)); // deterministic
        expect(b.ed25519Verify(sig, msg, s.publicKey)).toBe(true);
        expect(other.ed25519Verify(sig, msg, s.publicKey)).toBe(true);
        expect(b.ed25519Verify(sig, Uint8Array.of(...msg, 0), s.publicKey)).toBe(false);
        expect(b.ed25519Verify(sig, msg, b.ed25519PublicKey(rnd(32)))).toBe(false);
        const bad = sig.slice();
        bad[5] = bad[5]! ^ 1;
        expect(b.ed25519Verify(bad, msg, s.publicKey)).toBe(false);
      }
    });

    it('the signer keeps its own copy of the seed', () => {
      const seed = bytes(32, 1);
      const s = b.ed25519Signer(seed);
      const before = toHex(s.sign(utf8('m')));
      seed.fill(2);
      expect(toHex(s.sign(utf8('m')))).toBe(before);
      expect(toHex(s.publicKey)).toBe(toHex(b.ed25519PublicKey(bytes(32, 1))));
    });

    it('verify never throws: wrong-length signature or key is simply false', () => {
      const s = b.ed25519Signer(bytes(32));
      const msg = utf8('hello');
      const sig = s.sign(msg);
      for (const n of [0, 32, 63, 65, 128]) {
        expect(b.ed25519Verify(new Uint8Array(n), msg, s.publicKey)).toBe(false);
        expect(b.ed25519Verify(Uint8Array.of(...sig, ...new Uint8Array(Math.max(0, n - 64))).subarray(0, n), msg, s.publicKey)).toBe(false);
      }
      for (const n of [0, 31, 33, 64]) expect(b.ed25519Verify(sig, msg, new Uint8Array(n))).toBe(false);
      // a 64-byte signature and 32-byte key that are garbage: false, not an exception
      expect(b.ed25519Verify(bytes(64, 0xff), msg, bytes(32, 0xff))).toBe(false);
    });
  });

  describe('X25519', () => {
    it('reproduces RFC 7748 section 6.1', () => {
      const alice = b.x25519KeyPair(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
      const bob = b.x25519KeyPair(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
      expect(toHex(alice.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
      expect(toHex(bob.publicKey)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
      const k = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
      expect(toHex(alice.sharedSecret(bob.publicKey))).toBe(k);
      expect(toHex(bob.sharedSecret(alice.publicKey))).toBe(k);
      expect(toHex(b.x25519PublicKey(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')))).toBe(toHex(alice.publicKey));
    });

    it('an all-zero shared secret throws KEY_SMALL_ORDER', () => {
      const kp = b.x25519KeyPair(bytes(32, 9));
      expect(thrownCode(() => kp.sharedSecret(new Uint8Array(32)))).toBe('KEY_SMALL_ORDER');
      expect(thrownCode(() => kp.sharedSecret(Uint8Array.of(1, ...new Uint8Array(31))))).toBe('KEY_SMALL_ORDER');
    });
  });

  describe('wrong-length arguments throw KeypostError INVALID_ARGUMENT', () => {
    const cases: [string, (n: number) => unknown, number][] = [
      ['ed25519PublicKey seed', (n) => b.ed25519PublicKey(new Uint8Array(n)), 32],
      ['ed25519Signer seed', (n) => b.ed25519Signer(new Uint8Array(n)), 32],
      ['x25519PublicKey secret', (n) => b.x25519PublicKey(new Uint8Array(n)), 32],
      ['x25519KeyPair secret', (n) => b.x25519KeyPair(new Uint8Array(n)), 32],
      ['x25519 sharedSecret peer', (n) => b.x25519KeyPair(bytes(32)).sharedSecret(bytes(n, 9)), 32],
      ['chacha20poly1305Seal key', (n) => b.chacha20poly1305Seal(new Uint8Array(n), bytes(12), bytes(5)), 32],
      ['chacha20poly1305Seal nonce', (n) => b.chacha20poly1305Seal(bytes(32), new Uint8Array(n), bytes(5)), 12],
      ['chacha20poly1305Open key', (n) => b.chacha20poly1305Open(new Uint8Array(n), bytes(12), bytes(21)), 32],
      ['chacha20poly1305Open nonce', (n) => b.chacha20poly1305Open(bytes(32), new Uint8Array(n), bytes(21)), 12],
      ['xchacha20poly1305Seal key', (n) => b.xchacha20poly1305Seal(new Uint8Array(n), bytes(24), bytes(5)), 32],
      ['xchacha20poly1305Seal nonce', (n) => b.xchacha20poly1305Seal(bytes(32), new Uint8Array(n), bytes(5)), 24],
      ['xchacha20poly1305Open key', (n) => b.xchacha20poly1305Open(new Uint8Array(n), bytes(24), bytes(21)), 32],
      ['xchacha20poly1305Open nonce', (n) => b.xchacha20poly1305Open(bytes(32), new Uint8Array(n), bytes(21)), 24],
    ];
    it.each(cases)('%s', (_what, call, good) => {
      for (const n of [0, 1, 11, 12, 16, 23, 24, 31, 32, 33, 64]) {
        if (n === good) expect(thrownCode(() => call(n))).toBe('NO_THROW');
        else expect(thrownCode(() => call(n)), `length ${n}`).toBe('INVALID_ARGUMENT');
      }
    });

    it('out-of-range KDF parameters', () => {
      const x = bytes(8);
      expect(b.hkdfSha256(x, x, x, 0)).toHaveLength(0);
      expect(b.hkdfSha256(x, x, x, 255 * 32)).toHaveLength(255 * 32);
      for (const len of [-1, 255 * 32 + 1, 1.5, Number.NaN]) expect(thrownCode(() => b.hkdfSha256(x, x, x, len)), String(len)).toBe('INVALID_ARGUMENT');
      expect(b.scrypt(x, x, 1, 1)).toHaveLength(1);
      for (const [logN, len] of [[0, 16], [-1, 16], [1.5, 16], [1, 0], [1, -1], [1, 2.5]] as const)
        expect(thrownCode(() => b.scrypt(x, x, logN, len)), `${logN}/${len}`).toBe('INVALID_ARGUMENT');
    });
  });

  describe.each([
    ['ChaCha20-Poly1305', 12, 'chacha20poly1305Seal', 'chacha20poly1305Open'],
    ['XChaCha20-Poly1305', 24, 'xchacha20poly1305Seal', 'xchacha20poly1305Open'],
  ] as const)('%s open', (_label, nonceLen, sealName, openName) => {
    const key = bytes(32, 0x42);
    const nonce = bytes(nonceLen, 0x24);
    const pt = utf8('attack at dawn, bring snacks');
    const aad = utf8('header');
    const seal = (k: Uint8Array, n: Uint8Array, p: Uint8Array, a?: Uint8Array) => b[sealName](k, n, p, a);
    const open = (k: Uint8Array, n: Uint8Array, c: Uint8Array, a?: Uint8Array) => b[openName](k, n, c, a);
    const ct = seal(key, nonce, pt, aad);

    it('returns the plaintext for the untampered ciphertext', () => {
      expect(ct).toHaveLength(pt.length + 16);
      expect(toHex(open(key, nonce, ct, aad)!)).toBe(toHex(pt));
      expect(toHex(open(key, nonce, seal(key, nonce, new Uint8Array(0)))!)).toBe('');
    });

    it('returns null (not partial plaintext) for every single-bit flip of ciphertext or tag, and leaves the input untouched', () => {
      for (let bit = 0; bit < ct.length * 8; bit++) {
        const t = ct.slice();
        t[bit >> 3] = t[bit >> 3]! ^ (1 << (bit & 7));
        const copy = t.slice();
        expect(open(key, nonce, t, aad), `bit ${bit}`).toBeNull();
        expect(toHex(t)).toBe(toHex(copy));
      }
    });

    it('returns null for truncated, extended, or empty ciphertext', () => {
      for (let n = 0; n < ct.length; n++) expect(open(key, nonce, ct.subarray(0, n), aad), `length ${n}`).toBeNull();
      expect(open(key, nonce, Uint8Array.of(...ct, 0), aad)).toBeNull();
      expect(open(key, nonce, new Uint8Array(0), aad)).toBeNull();
    });

    it('returns null under a different key, nonce or associated data', () => {
      expect(open(bytes(32, 0x43), nonce, ct, aad)).toBeNull();
      expect(open(key, bytes(nonceLen, 0x25), ct, aad)).toBeNull();
      expect(open(key, nonce, ct, utf8('headeR'))).toBeNull();
      expect(open(key, nonce, ct)).toBeNull();
      expect(open(key, nonce, ct, new Uint8Array(0))).toBeNull();
    });
  });
});

describe('seededRandom', () => {
  afterEach(() => useBackend('node'));

  it('is deterministic: the same seed gives the same stream', () => {
    const a = seededRandom('vectors');
    const b = seededRandom('vectors');
    const sa = [a(16), a(0), a(33), a(1)].map(toHex);
    const sb = [b(16), b(0), b(33), b(1)].map(toHex);
    expect(sa).toEqual(sb);
    expect(sa.map((s) => s.length / 2)).toEqual([16, 0, 33, 1]);
    // a string seed is its UTF-8 bytes
    expect(toHex(seededRandom(utf8('vectors'))(16))).toBe(sa[0]);
  });

  it('is the ChaCha20 keystream under key SHA-256(seed), zero nonce, as documented (vectors depend on it)', () => {
    // checked against OpenSSL's ChaCha20, read in uneven pieces across block boundaries
    const r = seededRandom('keypost');
    const got = Buffer.concat([16, 50, 0, 100, 34, 64, 300].map((n) => r(n)));
    const key = nc.createHash('sha256').update('keypost').digest();
    const want = nc.createCipheriv('chacha20', key, Buffer.alloc(16)).update(Buffer.alloc(got.length));
    expect(got.toString('hex')).toBe(want.toString('hex'));
    expect(got.subarray(0, 8).toString('hex')).toBe('711b53ee3aead1e3');
  });

  it('advances: successive outputs differ', () => {
    const r = seededRandom('x');
    const outs = Array.from({ length: 8 }, () => toHex(r(32)));
    expect(new Set(outs).size).toBe(8);
  });

  it('distinct seeds give distinct streams', () => {
    const seeds = ['', 'a', 'b', 'ab', 'vectors', 'vectors ', '\u00e9'];
    const outs = seeds.map((s) => toHex(seededRandom(s)(32)));
    expect(new Set(outs).size).toBe(seeds.length);
    expect(toHex(seededRandom(new Uint8Array([0]))(32))).not.toBe(toHex(seededRandom(new Uint8Array(0))(32)));
  });

  it('does not depend on the active backend', () => {
    const before = toHex(seededRandom('backend-independent')(64));
    useBackend('noble');
    expect(toHex(seededRandom('backend-independent')(64))).toBe(before);
  });
});

describe('useBackend and crypto()', () => {
  afterEach(() => useBackend('node'));

  it('node is the default', () => {
    expect(crypto().name).toBe('node');
    expect(crypto()).toBe(backends.node);
  });

  it('switches crypto() between the two backends', () => {
    useBackend('noble');
    expect(crypto().name).toBe('noble');
    expect(crypto()).toBe(backends.noble);
    expect(systemRandom(7)).toHaveLength(7);
    useBackend('node');
    expect(crypto().name).toBe('node');
    expect(crypto()).toBe(backends.node);
  });

  it.each(['bogus', '', 'NODE', 'Noble', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf'])(
    'refuses the unknown name %j with INVALID_ARGUMENT and keeps the active backend',
    (bad) => {
      useBackend('noble');
      expect(thrownCode(() => useBackend(bad as CryptoBackend['name']))).toBe('INVALID_ARGUMENT');
      expect(crypto()).toBe(backends.noble);
      expect(crypto().name).toBe('noble');
    },
  );
});
