/** Signed assertions: stores, keys, name, policy. */
import { describe, expect, test, vi } from 'vitest';
import { seededRandom, backends } from '../src/crypto/index.js';
import { EncryptionKey, SigningKey } from '../src/identity/index.js';
import {
  ASSERTION_TYPE,
  checkStoreUrl,
  DEFAULT_SKEW,
  LABELS,
  makeAssertion,
  parseLegacyName,
  PURPOSE,
  verifyAssertion,
  type AssertionContent,
} from '../src/protocol/index.js';
import { signBytes } from '../src/protocol/signed.js';
import { decode, encode } from '../src/wire/index.js';
import { Assertion, AssertionBody, KeysContent, NameContent, StoresContent } from '../src/wire/schema.js';
import { equal, fromHex, toHex } from '../src/bytes/index.js';
import { codeOf, makeUser, NOW } from './helpers.js';

const rnd = seededRandom('assertions-test');
const alice = makeUser('alice');
const bob = makeUser('bob');
const enc = EncryptionKey.generate(rnd);
const dev = SigningKey.generate(rnd);

const CONTENTS: Record<string, AssertionContent> = {
  stores: {
    type: 'stores',
    stores: [
      { priority: 10, url: 'https://mx1.example.net' },
      { priority: 20, url: 'https://mx2.example.net:8443' },
    ],
  },
  keys: {
    type: 'keys',
    keys: [
      { purpose: PURPOSE.encryption, key: enc.publicKey, notAfter: NOW + 86400 },
      { purpose: PURPOSE.device, key: dev.publicKey, notAfter: NOW + 86400 },
      { purpose: PURPOSE.storeDelegate, key: SigningKey.generate(rnd).publicKey, notAfter: NOW + 86400 },
    ],
  },
  name: { type: 'name', name: 'alice@example.com' },
  policy: { type: 'policy', policy: { powBits: 20, powUnit: 65536, maxSize: 10 * 1024 * 1024 } },
};

const make = (content: AssertionContent, o: Partial<{ seq: number; notBefore: number; notAfter: number }> = {}) =>
  makeAssertion({ identity: alice.identity, seq: 5, notBefore: NOW, notAfter: NOW + 3600, content, ...o });

/** Sign a hand-built body, bypassing makeAssertion's checks. */
const rawAssertion = (type: number, content: Uint8Array, o: Partial<{ seq: number; notBefore: number; notAfter: number }> = {}) =>
  signBytes(
    Assertion,
    LABELS.assertion,
    encode(AssertionBody, { subject: alice.identity.typedKey, type, seq: 5, notBefore: NOW, notAfter: NOW + 3600, content, ...o }),
    alice.signer,
  );

const flipSig = (a: Uint8Array, bit: number) => {
  const c = decode(Assertion, a);
  const sig = c.sig.slice();
  sig[bit >> 3]! ^= 1 << (bit & 7);
  return encode(Assertion, { ...c, sig });
};

describe('round trip of each type', () => {
  for (const [name, content] of Object.entries(CONTENTS)) {
    test(name, () => {
      const v = verifyAssertion(make(content), { now: NOW, address: alice.address, type: name as never });
      expect(v.content).toEqual(content);
      expect(v.seq).toBe(5);
      expect(v.notBefore).toBe(NOW);
      expect(v.notAfter).toBe(NOW + 3600);
      expect(equal(v.address, alice.address)).toBe(true);
      expect(toHex(v.subject)).toBe(toHex(alice.identity.typedKey));
      const body = decode(AssertionBody, decode(Assertion, make(content)).body);
      expect(body.type).toBe(ASSERTION_TYPE[name as keyof typeof ASSERTION_TYPE]);
    });
  }

  test('without optional checks it verifies too', () => {
    expect(verifyAssertion(make(CONTENTS.name!), { now: NOW }).content).toEqual(CONTENTS.name);
  });

  test('type ids are fixed', () => {
    expect(ASSERTION_TYPE).toEqual({ stores: 1, keys: 2, name: 3, policy: 4 });
  });
});

describe('time window with skew', () => {
  const a = make(CONTENTS.stores!); // NOW .. NOW+3600
  test('exactly at the allowance is accepted, one second beyond is refused', () => {
    expect(codeOf(() => verifyAssertion(a, { now: NOW - DEFAULT_SKEW }))).toBe('ok');
    expect(codeOf(() => verifyAssertion(a, { now: NOW - DEFAULT_SKEW - 1 }))).toBe('NOT_YET_VALID');
    expect(codeOf(() => verifyAssertion(a, { now: NOW + 3600 + DEFAULT_SKEW }))).toBe('ok');
    expect(codeOf(() => verifyAssertion(a, { now: NOW + 3600 + DEFAULT_SKEW + 1 }))).toBe('EXPIRED');
  });
  test('a custom skew', () => {
    expect(codeOf(() => verifyAssertion(a, { now: NOW - 10, skew: 10 }))).toBe('ok');
    expect(codeOf(() => verifyAssertion(a, { now: NOW - 11, skew: 10 }))).toBe('NOT_YET_VALID');
    expect(codeOf(() => verifyAssertion(a, { now: NOW + 3601, skew: 0 }))).toBe('EXPIRED');
  });
  test('notAfter before notBefore', () => {
    expect(codeOf(() => make(CONTENTS.stores!, { notBefore: NOW, notAfter: NOW - 1 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => verifyAssertion(rawAssertion(1, encode(StoresContent, { stores: [{ priority: 1, url: 'https://a.example' }] }), { notAfter: NOW - 1 }), { now: NOW }))).toBe('WIRE_BAD_TYPE');
  });
  test('non-integer clock is INVALID_ARGUMENT', () => {
    expect(codeOf(() => verifyAssertion(a, { now: NOW + 0.5 }))).toBe('INVALID_ARGUMENT');
  });
});

describe('rollback', () => {
  const a = make(CONTENTS.stores!, { seq: 5 });
  test('lower than the highest seen is ROLLBACK; equal or higher is fine', () => {
    expect(codeOf(() => verifyAssertion(a, { now: NOW, highestSeq: 6 }))).toBe('ROLLBACK');
    expect(codeOf(() => verifyAssertion(a, { now: NOW, highestSeq: 0xffff_ffff }))).toBe('ROLLBACK');
    expect(codeOf(() => verifyAssertion(a, { now: NOW, highestSeq: 5 }))).toBe('ok');
    expect(codeOf(() => verifyAssertion(a, { now: NOW, highestSeq: 4 }))).toBe('ok');
    expect(codeOf(() => verifyAssertion(a, { now: NOW, highestSeq: 0 }))).toBe('ok');
  });
  test('seq range: 0 and 2^32-1 are fine, 2^32 is refused', () => {
    expect(verifyAssertion(make(CONTENTS.name!, { seq: 0 }), { now: NOW }).seq).toBe(0);
    expect(verifyAssertion(make(CONTENTS.name!, { seq: 0xffff_ffff }), { now: NOW }).seq).toBe(0xffff_ffff);
    expect(codeOf(() => make(CONTENTS.name!, { seq: 2 ** 32 }))).toBe('WIRE_BAD_TYPE');
  });
});

describe('subject and type', () => {
  test('an assertion about another address: SUBJECT_MISMATCH', () => {
    expect(codeOf(() => verifyAssertion(make(CONTENTS.stores!), { now: NOW, address: bob.address }))).toBe('SUBJECT_MISMATCH');
  });
  test('another type than asked for: WRONG_TYPE', () => {
    for (const [name, content] of Object.entries(CONTENTS)) {
      for (const other of Object.keys(CONTENTS)) {
        if (other === name) continue;
        expect(codeOf(() => verifyAssertion(make(content), { now: NOW, type: other as never })), `${name} as ${other}`).toBe('WRONG_TYPE');
      }
    }
  });
  test('an unknown type id is WIRE_BAD_TYPE', () => {
    expect(codeOf(() => verifyAssertion(rawAssertion(5, encode(NameContent, { name: 'alice@example.com' })), { now: NOW }))).toBe('WIRE_BAD_TYPE');
  });
  test('content of another type than the type id says is a wire error', () => {
    expect(codeOf(() => verifyAssertion(rawAssertion(ASSERTION_TYPE.stores, encode(NameContent, { name: 'alice@example.com' })), { now: NOW }))).toMatch(/^WIRE_/);
  });
});

describe('store URLs', () => {
  const stores = (url: string): AssertionContent => ({ type: 'stores', stores: [{ priority: 1, url }] });
  const BAD = [
    'http://a.example', // plain http off loopback
    'http://10.0.0.1',
    'http://127.0.0.1.evil.example',
    'https://a.example/', // a path, even "/"
    'https://a.example/inbox',
    'https://a.example?x=1',
    'https://a.example#f',
    'https://user@a.example',
    'https://A.example', // not the origin's own spelling
    'https://a.example:443', // default port spelled out
    'ftp://a.example',
    'wss://a.example',
    'not a url at all',
    'https://',
  ];
  const GOOD = ['https://a.example', 'https://a.example:8443', 'http://127.0.0.1:8080', 'http://127.1.2.3', 'http://localhost:3000', 'http://[::1]:8080', 'https://[2001:db8::1]'];

  test('accepted origins', () => {
    for (const u of GOOD) {
      expect(codeOf(() => checkStoreUrl(u)), u).toBe('ok');
      const v = verifyAssertion(make(stores(u)), { now: NOW });
      expect(v.content).toEqual(stores(u));
    }
  });

  test('refused when making and when verifying: WIRE_BAD_TYPE', () => {
    for (const u of BAD) {
      expect(codeOf(() => checkStoreUrl(u)), u).toBe('WIRE_BAD_TYPE');
      if (u.length >= 8) {
        expect(codeOf(() => make(stores(u))), u).toBe('WIRE_BAD_TYPE');
        const raw = rawAssertion(ASSERTION_TYPE.stores, encode(StoresContent, { stores: [{ priority: 1, url: u }] }));
        expect(codeOf(() => verifyAssertion(raw, { now: NOW })), u).toBe('WIRE_BAD_TYPE');
      }
    }
  });

  test('a URL over 200 bytes is too large', () => {
    const long = 'https://' + 'a'.repeat(63) + '.' + 'b'.repeat(63) + '.' + 'c'.repeat(57) + '.example';
    expect(long.length).toBe(201);
    expect(codeOf(() => make(stores(long)))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => make(stores(long.slice(0, 8) + long.slice(9))))).toBe('ok');
  });

  test('at most 8 stores, at least 1', () => {
    const many = (n: number): AssertionContent => ({ type: 'stores', stores: Array.from({ length: n }, (_, i) => ({ priority: i, url: `https://s${i}.example` })) });
    expect(codeOf(() => make(many(8)))).toBe('ok');
    expect(codeOf(() => make(many(9)))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => make(many(0)))).toBe('WIRE_BAD_TYPE');
  });
});

describe('legacy names', () => {
  const GOOD = ['alice@example.com', 'a@b.co', 'first.last+tag@mail.example.org', 'x_y-z@sub-domain.example.museum', '0@0.io'];
  const BAD = [
    'Alice@example.com',
    'alice@Example.com',
    'alice@example',
    'alice@example.c',
    '@example.com',
    'alice@',
    'alice',
    '',
    'al ice@example.com',
    'alice@exa_mple.com',
    '-alice@example.com',
    'alice-@example.com',
    '.alice@example.com',
    'alice@-example.com',
    'alice@example-.com',
    'alice@.example.com',
    'alice@example..com',
    'alice@example.com.',
    'a@b@example.com',
    'ålice@example.com',
    'alice@exämple.com',
    'alice@example.123',
    'a'.repeat(65) + '@example.com',
  ];
  test('accepted names round-trip', () => {
    for (const n of GOOD) {
      expect(codeOf(() => parseLegacyName(n)), n).toBe('ok');
      expect(verifyAssertion(make({ type: 'name', name: n }), { now: NOW, type: 'name' }).content).toEqual({ type: 'name', name: n });
    }
    expect(parseLegacyName('first.last+tag@mail.example.org')).toEqual({ local: 'first.last+tag', domain: 'mail.example.org' });
    expect(codeOf(() => parseLegacyName('a'.repeat(64) + '@example.com'))).toBe('ok');
  });
  test('invalid names are WIRE_BAD_TYPE when making and when verifying', () => {
    for (const n of BAD) {
      expect(codeOf(() => parseLegacyName(n)), n).toBe('WIRE_BAD_TYPE');
      expect(codeOf(() => make({ type: 'name', name: n })), n).toMatch(/^WIRE_(BAD_TYPE|TOO_LARGE)$/);
      if (n.length >= 3) {
        expect(codeOf(() => verifyAssertion(rawAssertion(ASSERTION_TYPE.name, encode(NameContent, { name: n })), { now: NOW })), n).toBe('WIRE_BAD_TYPE');
      }
    }
  });
});

describe('keys', () => {
  const SMALL_X = ['00'.repeat(32), '01'.padEnd(64, '0'), 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'];
  test('a small-order X25519 encryption key: KEY_SMALL_ORDER when making and when verifying', () => {
    for (const hex of SMALL_X) {
      const keys = [{ purpose: PURPOSE.encryption, key: fromHex(hex), notAfter: NOW }];
      expect(codeOf(() => make({ type: 'keys', keys })), hex).toBe('KEY_SMALL_ORDER');
      expect(codeOf(() => verifyAssertion(rawAssertion(ASSERTION_TYPE.keys, encode(KeysContent, { keys })), { now: NOW })), hex).toBe('KEY_SMALL_ORDER');
    }
  });
  test('a small-order or invalid Ed25519 device key', () => {
    const small = [{ purpose: PURPOSE.device, key: fromHex('01'.padEnd(64, '0')), notAfter: NOW }];
    expect(codeOf(() => make({ type: 'keys', keys: small }))).toBe('KEY_SMALL_ORDER');
    expect(codeOf(() => verifyAssertion(rawAssertion(ASSERTION_TYPE.keys, encode(KeysContent, { keys: small })), { now: NOW }))).toBe('KEY_SMALL_ORDER');
    const invalid = [{ purpose: PURPOSE.storeDelegate, key: fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'), notAfter: NOW }];
    expect(codeOf(() => make({ type: 'keys', keys: invalid }))).toBe('KEY_INVALID');
  });
  test('unknown key purposes are WIRE_BAD_TYPE', () => {
    const keys = [{ purpose: 4, key: enc.publicKey, notAfter: NOW }];
    expect(codeOf(() => make({ type: 'keys', keys }))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => verifyAssertion(rawAssertion(ASSERTION_TYPE.keys, encode(KeysContent, { keys })), { now: NOW }))).toBe('WIRE_BAD_TYPE');
  });
});

describe('policy', () => {
  test('limits of the policy fields', () => {
    const p = (policy: { powBits: number; powUnit: number; maxSize: number }) => codeOf(() => make({ type: 'policy', policy }));
    expect(p({ powBits: 0, powUnit: 1024, maxSize: 1024 })).toBe('ok');
    expect(p({ powBits: 32, powUnit: 0xffff_ffff, maxSize: 65 * 1024 * 1024 })).toBe('ok');
    expect(p({ powBits: 33, powUnit: 1024, maxSize: 1024 })).toBe('WIRE_BAD_TYPE');
    expect(p({ powBits: 1, powUnit: 1023, maxSize: 1024 })).toBe('WIRE_BAD_TYPE');
    expect(p({ powBits: 1, powUnit: 1024, maxSize: 1023 })).toBe('WIRE_BAD_TYPE');
  });
});

describe('signatures', () => {
  const a = make(CONTENTS.keys!);
  test('every flipped signature bit is BAD_SIGNATURE', () => {
    for (let bit = 0; bit < 512; bit += 7) {
      expect(codeOf(() => verifyAssertion(flipSig(a, bit), { now: NOW })), `bit ${bit}`).toBe('BAD_SIGNATURE');
    }
    expect(codeOf(() => verifyAssertion(flipSig(a, 511), { now: NOW }))).toBe('BAD_SIGNATURE');
  });
  test('a changed body (same signature) is BAD_SIGNATURE', () => {
    const c = decode(Assertion, a);
    const b = decode(AssertionBody, c.body);
    for (const change of [{ seq: 6 }, { notAfter: b.notAfter + 1 }, { notBefore: b.notBefore - 1 }]) {
      const forged = encode(Assertion, { ...c, body: encode(AssertionBody, { ...b, ...change }) });
      expect(codeOf(() => verifyAssertion(forged, { now: NOW })), JSON.stringify(change)).toBe('BAD_SIGNATURE');
    }
  });
  test('an assertion signed by another identity about alice: BAD_SIGNATURE', () => {
    const body = decode(Assertion, a).body;
    const byBob = signBytes(Assertion, LABELS.assertion, body, bob.signer);
    expect(codeOf(() => verifyAssertion(byBob, { now: NOW, address: alice.address }))).toBe('BAD_SIGNATURE');
  });
  test('a signature over another label does not verify', () => {
    const body = decode(Assertion, a).body;
    expect(codeOf(() => verifyAssertion(signBytes(Assertion, LABELS.notification, body, alice.signer), { now: NOW }))).toBe('BAD_SIGNATURE');
  });
  test('an assertion signed by a device (with certificate) is CERT_PURPOSE', () => {
    const body = decode(Assertion, a).body;
    expect(codeOf(() => verifyAssertion(signBytes(Assertion, LABELS.assertion, body, alice.device), { now: NOW }))).toBe('CERT_PURPOSE');
  });
  test('cheap checks come first: a bad signature is not looked at when an earlier check fails', () => {
    const bad = flipSig(a, 3);
    const verify = vi.spyOn(backends.node, 'ed25519Verify');
    try {
      expect(codeOf(() => verifyAssertion(bad, { now: NOW, address: bob.address }))).toBe('SUBJECT_MISMATCH');
      expect(codeOf(() => verifyAssertion(bad, { now: NOW, type: 'stores' }))).toBe('WRONG_TYPE');
      expect(codeOf(() => verifyAssertion(bad, { now: NOW + 86400 }))).toBe('EXPIRED');
      expect(codeOf(() => verifyAssertion(bad, { now: NOW, highestSeq: 99 }))).toBe('ROLLBACK');
      expect(verify).not.toHaveBeenCalled();
      expect(codeOf(() => verifyAssertion(bad, { now: NOW }))).toBe('BAD_SIGNATURE');
      expect(verify).toHaveBeenCalledTimes(1);
    } finally {
      verify.mockRestore();
    }
  });
  test('trailing or missing bytes are wire errors', () => {
    expect(codeOf(() => verifyAssertion(new Uint8Array([...a, 0]), { now: NOW }))).toBe('WIRE_MALFORMED');
    expect(codeOf(() => verifyAssertion(a.subarray(0, a.length - 1), { now: NOW }))).toBe('WIRE_MALFORMED');
    expect(codeOf(() => verifyAssertion(new Uint8Array(4097), { now: NOW }))).toBe('WIRE_TOO_LARGE');
  });
});

describe('revocation', () => {
  test('an assertion by a revoked identity is KEY_REVOKED', () => {
    const u = makeUser('revoked-assertion');
    const a = makeAssertion({ identity: u.identity, seq: 1, notBefore: NOW, notAfter: NOW + 3600, content: { type: 'name', name: 'x@example.org' } });
    expect(codeOf(() => verifyAssertion(a, { now: NOW }))).toBe('ok');
    expect(codeOf(() => verifyAssertion(a, { now: NOW, isRevoked: (k) => Buffer.from(k).equals(Buffer.from(u.identity.publicKey)) }))).toBe('KEY_REVOKED');
  });
});
