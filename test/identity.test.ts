/** Identity keys, typed keys and addresses. */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, test } from 'vitest';
import { bech32, bech32m } from '@scure/base';
import { Point } from '@noble/ed25519';
import { backends, seededRandom, useBackend } from '../src/crypto/index.js';
import {
  addressFromText,
  addressOf,
  addressToText,
  ADDRESS_TEXT_LENGTH,
  ALG_ED25519,
  checkEncryptionPublicKey,
  checkSigningPublicKey,
  EncryptionKey,
  parseTypedKey,
  SigningKey,
  typedKey,
} from '../src/identity/index.js';
import { concat, fromHex, toBase64, toHex } from '../src/bytes/index.js';
import { codeOf } from './helpers.js';

const ALPHABET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const rnd = seededRandom('identity-test');
const alice = SigningKey.generate(rnd);
const sample = addressToText(addressOf(alice.typedKey));

// The eight small-order points of edwards25519, canonically encoded.
const SMALL_ORDER_ED = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity, order 1
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // (0,-1), order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
];

// X25519 public keys whose point has small order, including non-reduced encodings (u ≥ p)
// and ones with the top bit set (RFC 7748 ignores it).
const SMALL_ORDER_X = [
  '0000000000000000000000000000000000000000000000000000000000000000', // 0
  '0100000000000000000000000000000000000000000000000000000000000000', // 1
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', // order 8
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p-1
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p (= 0)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p+1 (= 1)
  '0000000000000000000000000000000000000000000000000000000000000080', // 0, top bit set
  '0100000000000000000000000000000000000000000000000000000000000080', // 1, top bit set
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880', // order 8, top bit set
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // p-1, top bit set
];

describe('addresses', () => {
  test('address = SHA-256("keypost/v1/address" || 0x00 || 0x01 || pk), recomputed independently', () => {
    for (let i = 0; i < 5; i++) {
      const k = SigningKey.generate(rnd);
      const want = createHash('sha256')
        .update(Buffer.from('keypost/v1/address', 'utf8'))
        .update(Buffer.from([0x00, 0x01]))
        .update(k.publicKey)
        .digest('hex');
      expect(toHex(addressOf(k.typedKey))).toBe(want);
      expect(toHex(k.typedKey)).toBe('01' + toHex(k.publicKey));
      expect(toHex(typedKey(k.publicKey))).toBe('01' + toHex(k.publicKey));
    }
    expect(ALG_ED25519).toBe(1);
  });

  test('addresses are the same with either crypto backend', () => {
    try {
      useBackend('noble');
      const viaNoble = toHex(addressOf(alice.typedKey));
      useBackend('node');
      expect(toHex(addressOf(alice.typedKey))).toBe(viaNoble);
    } finally {
      useBackend('node');
    }
  });

  test('addressOf validates the key it hashes', () => {
    expect(codeOf(() => addressOf(concat(Uint8Array.of(1), fromHex(SMALL_ORDER_ED[0]!))))).toBe('KEY_SMALL_ORDER');
    expect(codeOf(() => addressOf(concat(Uint8Array.of(2), alice.publicKey)))).toBe('KEY_UNSUPPORTED');
    expect(codeOf(() => addressOf(alice.publicKey))).toBe('KEY_INVALID');
  });

  test('text form: 61 lowercase chars, kp1 prefix, one DNS label, bech32m of the address', () => {
    for (let i = 0; i < 20; i++) {
      const a = addressOf(SigningKey.generate(rnd).typedKey);
      const t = addressToText(a);
      expect(t.length).toBe(61);
      expect(ADDRESS_TEXT_LENGTH).toBe(61);
      expect(t.startsWith('kp1')).toBe(true);
      expect(t).toMatch(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/); // an LDH DNS label of ≤ 63 chars
      expect(t.slice(3)).toMatch(new RegExp(`^[${ALPHABET}]{58}$`));
      const d = bech32m.decode(t as `${string}1${string}`);
      expect(d.prefix).toBe('kp');
      expect(toHex(bech32m.fromWords(d.words))).toBe(toHex(a));
      expect(toHex(addressFromText(t))).toBe(toHex(a));
    }
  });

  test('text form is case-insensitive', () => {
    const a = toHex(addressFromText(sample));
    expect(toHex(addressFromText(sample.toUpperCase()))).toBe(a);
    const mixed = [...sample].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');
    expect(toHex(addressFromText(mixed))).toBe(a);
  });

  test('every single-character substitution is refused', () => {
    let checked = 0;
    for (let i = 0; i < sample.length; i++) {
      for (const c of ALPHABET) {
        if (c === sample[i]) continue;
        const bad = sample.slice(0, i) + c + sample.slice(i + 1);
        // The first three characters are the prefix "kp1": any change there is malformed.
        const want = i < 3 ? 'ADDRESS_MALFORMED' : 'ADDRESS_CHECKSUM';
        expect(codeOf(() => addressFromText(bad)), `${i}:${c}`).toBe(want);
        checked++;
      }
      // Characters outside the alphabet.
      for (const c of ['b', 'i', 'o', '1', '-', '.', '_', ' ', 'é']) {
        if (i < 3 && c === sample[i]) continue;
        const bad = sample.slice(0, i) + c + sample.slice(i + 1);
        expect(codeOf(() => addressFromText(bad)), `${i}:${c}`).toBe('ADDRESS_MALFORMED');
      }
    }
    expect(checked).toBeGreaterThanOrEqual(58 * 31);
  });

  test('every transposition of adjacent different characters is refused', () => {
    let n = 0;
    for (const t of [sample, addressToText(addressOf(SigningKey.generate(rnd).typedKey))]) {
      for (let i = 0; i + 1 < t.length; i++) {
        if (t[i] === t[i + 1]) continue;
        const bad = t.slice(0, i) + t[i + 1] + t[i] + t.slice(i + 2);
        expect(codeOf(() => addressFromText(bad)), `swap ${i}`).toBe(i < 3 ? 'ADDRESS_MALFORMED' : 'ADDRESS_CHECKSUM');
        n++;
      }
    }
    expect(n).toBeGreaterThan(100);
  });

  test('wrong length, prefix or checksum variant', () => {
    expect(codeOf(() => addressFromText(sample.slice(0, 60)))).toBe('ADDRESS_MALFORMED');
    expect(codeOf(() => addressFromText(sample + 'q'))).toBe('ADDRESS_MALFORMED');
    expect(codeOf(() => addressFromText(''))).toBe('ADDRESS_MALFORMED');
    expect(codeOf(() => addressFromText(undefined as unknown as string))).toBe('ADDRESS_MALFORMED');
    expect(codeOf(() => addressFromText(42 as unknown as string))).toBe('ADDRESS_MALFORMED');
    expect(codeOf(() => addressFromText(' ' + sample.slice(1)))).toBe('ADDRESS_MALFORMED');
    const words = bech32m.toWords(addressFromText(sample));
    // Another valid bech32m string of the same length under another prefix.
    const other = bech32m.encode('kx', words);
    expect(other.length).toBe(61);
    expect(codeOf(() => addressFromText(other))).toBe('ADDRESS_MALFORMED');
    // The same words with the bech32 (not bech32m) checksum.
    const b32 = bech32.encode('kp', words);
    expect(b32.length).toBe(61);
    expect(codeOf(() => addressFromText(b32))).toBe('ADDRESS_CHECKSUM');
    // A correctly checksummed kp string whose 4 padding bits are not zero: a second spelling
    // of (nearly) the same 32 bytes, which must not parse.
    expect(words.length).toBe(52);
    expect(words[51]! & 0x0f).toBe(0);
    const padded = bech32m.encode('kp', words.slice(0, 51).concat([words[51]! | 0x01]));
    expect(padded.length).toBe(61);
    expect(codeOf(() => addressFromText(padded))).toBe('ADDRESS_MALFORMED');
  });

  test('addressToText refuses anything but 32 bytes', () => {
    expect(codeOf(() => addressToText(new Uint8Array(31)))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => addressToText(new Uint8Array(33)))).toBe('INVALID_ARGUMENT');
  });
});

describe('typed keys', () => {
  test('an honest key parses to its 32 bytes', () => {
    expect(toHex(parseTypedKey(alice.typedKey))).toBe(toHex(alice.publicKey));
  });

  test('unknown algorithm ids are KEY_UNSUPPORTED', () => {
    for (const alg of [0, 2, 3, 0x7f, 0xff]) {
      expect(codeOf(() => parseTypedKey(concat(Uint8Array.of(alg), alice.publicKey))), String(alg)).toBe('KEY_UNSUPPORTED');
    }
  });

  test('wrong lengths are KEY_INVALID', () => {
    expect(codeOf(() => parseTypedKey(alice.publicKey))).toBe('KEY_INVALID');
    expect(codeOf(() => parseTypedKey(concat(alice.typedKey, Uint8Array.of(0))))).toBe('KEY_INVALID');
    expect(codeOf(() => parseTypedKey(new Uint8Array(0)))).toBe('KEY_INVALID');
  });

  test('all eight small-order Ed25519 points are KEY_SMALL_ORDER (and really are small order)', () => {
    expect(new Set(SMALL_ORDER_ED).size).toBe(8);
    for (const hex of SMALL_ORDER_ED) {
      const p = Point.fromBytes(fromHex(hex), false);
      expect(p.isSmallOrder(), hex).toBe(true);
      expect(codeOf(() => parseTypedKey(concat(Uint8Array.of(1), fromHex(hex)))), hex).toBe('KEY_SMALL_ORDER');
      expect(codeOf(() => checkSigningPublicKey(fromHex(hex))), hex).toBe('KEY_SMALL_ORDER');
    }
  });

  test('a key with a torsion component (honest point + small-order point) is KEY_SMALL_ORDER', () => {
    const A = Point.fromBytes(alice.publicKey, false);
    for (const hex of SMALL_ORDER_ED.slice(1)) {
      const mixed = A.add(Point.fromBytes(fromHex(hex), false)).toBytes();
      expect(codeOf(() => parseTypedKey(concat(Uint8Array.of(1), mixed))), hex).toBe('KEY_SMALL_ORDER');
    }
  });

  test('non-canonical encodings (y ≥ p, x = 0 with the sign bit) and points off the curve are KEY_INVALID', () => {
    const nonCanonical = [
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1
      'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = 2^255 - 1
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // y = p, sign bit
      '0100000000000000000000000000000000000000000000000000000000000080', // y = 1, x = 0 with sign bit
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // y = -1, x = 0 with sign bit
    ];
    for (const hex of nonCanonical) {
      expect(codeOf(() => parseTypedKey(concat(Uint8Array.of(1), fromHex(hex)))), hex).toBe('KEY_INVALID');
    }
    // Find a y with no matching x, independently of the code under test.
    let offCurve: Uint8Array | undefined;
    for (let y = 2; !offCurve; y++) {
      const b = new Uint8Array(32);
      b[0] = y;
      try {
        Point.fromBytes(b, true);
      } catch {
        offCurve = b;
      }
    }
    expect(codeOf(() => parseTypedKey(concat(Uint8Array.of(1), offCurve!)))).toBe('KEY_INVALID');
  });
});

describe('secret keys stay secret', () => {
  const seed = seededRandom('secret-seed')(32);
  const xsec = seededRandom('secret-x')(32);

  test('SigningKey and EncryptionKey reveal no secret in JSON, inspect, String or own properties', () => {
    const sk = SigningKey.fromSeed(seed);
    sk.sign(new Uint8Array(3)); // populate the lazily bound signer too
    const ek = EncryptionKey.fromSecret(xsec);
    ek.sharedSecret(EncryptionKey.generate(rnd).publicKey);
    for (const [k, secret] of [
      [sk, seed],
      [ek, xsec],
    ] as const) {
      const forms = [
        JSON.stringify(k),
        JSON.stringify({ nested: [k] }),
        inspect(k),
        inspect(k, { showHidden: true, depth: Infinity }),
        inspect({ k }, { depth: Infinity }),
        String(k),
        `${k}`,
        JSON.stringify(Object.keys(k)),
        JSON.stringify(Object.getOwnPropertyNames(k)),
        JSON.stringify(Object.entries(k), (_k, v) => (v instanceof Uint8Array ? toHex(v) : v)),
        JSON.stringify({ ...k }, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v)),
      ];
      const needles = [toHex(secret), toBase64(secret), Array.from(secret).join(',')];
      for (const f of forms) for (const n of needles) expect(f.includes(n), f).toBe(false);
      expect(Object.keys(k)).toEqual(['publicKey']);
      expect(Reflect.ownKeys(k)).toEqual(['publicKey']);
      expect(JSON.parse(JSON.stringify(k)).publicKey).toBe(toHex(k.publicKey));
      // The one explicit way out.
      expect(toHex(k.exportSecret())).toBe(toHex(secret));
    }
  });

  test('the key keeps its own copy of the seed', () => {
    const s = seed.slice();
    const sk = SigningKey.fromSeed(s);
    s.fill(0);
    expect(toHex(sk.exportSecret())).toBe(toHex(seed));
    const out = sk.exportSecret();
    out.fill(0);
    expect(toHex(sk.exportSecret())).toBe(toHex(seed));
  });

  test('seed and secret must be 32 bytes', () => {
    expect(codeOf(() => SigningKey.fromSeed(new Uint8Array(31)))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => EncryptionKey.fromSecret(new Uint8Array(33)))).toBe('INVALID_ARGUMENT');
  });

  test('signatures are the same on both backends and verify', () => {
    const sk = SigningKey.fromSeed(seed);
    const m = new Uint8Array([1, 2, 3]);
    const s1 = sk.sign(m);
    expect(backends.noble.ed25519Verify(s1, m, sk.publicKey)).toBe(true);
    expect(toHex(backends.noble.ed25519Signer(seed).sign(m))).toBe(toHex(s1));
  });
});

describe('X25519 keys', () => {
  test('small-order peer keys are refused with KEY_SMALL_ORDER', () => {
    const ek = EncryptionKey.generate(rnd);
    for (const hex of SMALL_ORDER_X) {
      expect(codeOf(() => ek.sharedSecret(fromHex(hex))), hex).toBe('KEY_SMALL_ORDER');
      expect(codeOf(() => checkEncryptionPublicKey(fromHex(hex))), hex).toBe('KEY_SMALL_ORDER');
    }
  });

  test('wrong-length peer keys are KEY_INVALID', () => {
    const ek = EncryptionKey.generate(rnd);
    expect(codeOf(() => ek.sharedSecret(new Uint8Array(31)))).toBe('KEY_INVALID');
    expect(codeOf(() => checkEncryptionPublicKey(new Uint8Array(33)))).toBe('KEY_INVALID');
  });

  test('shared secrets agree between the two sides', () => {
    const a = EncryptionKey.generate(rnd);
    const b = EncryptionKey.generate(rnd);
    expect(toHex(a.sharedSecret(b.publicKey))).toBe(toHex(b.sharedSecret(a.publicKey)));
  });
});
