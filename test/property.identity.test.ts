/**
 * Property tests of the identity decoders: addressFromText and parseTypedKey.
 *
 * Oracles are independent of src/: address texts are checked against the spec (§6.3)
 * with @scure/base building the Bech32m inputs, and public keys against @noble/curves
 * (src/ checks keys with @noble/ed25519).
 */
import fc from 'fast-check';
import { bech32, bech32m } from '@scure/base';
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, test } from 'vitest';
import { addressFromText, addressToText, ALG_ED25519, parseTypedKey } from '../src/identity/index.js';
import { attempt, bytesArb, check, concatBytes, hex, mutate, mutationsArb, RUNS, same, SIGNING_KEYS, USERS } from './property.lib.test.js';

// ---- addresses ------------------------------------------------------------------------------

const ALPHABET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const asciiLower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const isAsciiPrintable = (s: string) => /^[\x21-\x7e]*$/.test(s);
const ADDRESS_CODES = ['ADDRESS_MALFORMED', 'ADDRESS_CHECKSUM'];

/** Address texts of fixture and random addresses. */
const VALID_TEXTS = [...USERS.map((u) => addressToText(u.address)), addressToText(new Uint8Array(32)), addressToText(new Uint8Array(32).fill(255))];

function parseAddress(s: string) {
  const r = attempt(() => `addressFromText(${JSON.stringify(s)})`, () => addressFromText(s));
  if (!r.ok) check(ADDRESS_CODES.includes(r.code), () => `addressFromText(${JSON.stringify(s)}) refused with ${r.code}`);
  return r;
}

/** The contract on any text: refused with an ADDRESS_* code, or it is (in ASCII letter case) the canonical text of what it decodes to. */
function acceptedIsCanonical(s: string) {
  const r = parseAddress(s);
  if (r.ok) {
    check(r.value.length === 32, 'an address of another length');
    check(isAsciiPrintable(s), () => `addressFromText accepted non-ASCII text ${JSON.stringify(s)}`);
    check(addressToText(r.value) === asciiLower(s), () => `addressFromText accepted ${JSON.stringify(s)}, which is not the text of what it decodes to`);
  }
  return r;
}

/** Characters that look like, or lowercase to, address characters: Kelvin sign, fullwidth, Cyrillic, dotted I... */
const LOOKALIKES = ['\u212a', 'K', 'ｋ', 'ｐ', '\u0440', '\u0445', '\u0441', '\u0435', '\u0430', 'İ', 'ı', 'ſ', '１', 'Ｌ', '\u00a0', '\u200b'];

describe('addressFromText', () => {
  test(`arbitrary text: ADDRESS_* refusal, or canonical ASCII acceptance (${RUNS} runs)`, () => {
    const charsetArb = (chars: string) => fc.string({ unit: fc.constantFrom(...chars), minLength: 58, maxLength: 58 });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 80 }),
          fc.string({ unit: 'binary', minLength: 61, maxLength: 61 }),
          charsetArb(ALPHABET + ALPHABET.toUpperCase() + 'bio1').map((s) => 'kp1' + s),
          fc.tuple(fc.constantFrom('kp1', 'KP1', 'Kp1', 'kq1', 'kp', 'kpl', '\u212ap1'), charsetArb(ALPHABET + LOOKALIKES.join(''))).map(([p, s]) => (p + s).slice(0, 61)),
        ),
        (s) => {
          acceptedIsCanonical(s);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`mutated addresses: a changed address is never accepted, a case change always is (${RUNS} runs)`, () => {
    const opArb = fc.record({ op: fc.nat(6), at: fc.nat(), c: fc.nat() });
    fc.assert(
      fc.property(fc.constantFrom(...VALID_TEXTS), fc.array(opArb, { minLength: 1, maxLength: 4 }), (orig, ops) => {
        let s = orig;
        for (const { op, at, c } of ops) {
          const i = at % s.length;
          const ch = s[i]!;
          if (op === 0) s = s.slice(0, i) + ALPHABET[c % 32] + s.slice(i + 1); // substitution
          else if (op === 1) s = s.slice(0, i) + (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase()) + s.slice(i + 1); // case
          else if (op === 2) s = s.slice(0, i) + LOOKALIKES[c % LOOKALIKES.length] + s.slice(i + 1); // lookalike
          else if (op === 3 && i + 1 < s.length) s = s.slice(0, i) + s[i + 1] + ch + s.slice(i + 2); // transposition
          else if (op === 4) s = s.slice(0, i) + s.slice(i + 1); // deletion
          else if (op === 5) s = s.slice(0, i) + ALPHABET[c % 32] + s.slice(i); // insertion
          else s = s.toUpperCase(); // all upper case
        }
        const r = acceptedIsCanonical(s);
        // Bech32m detects any error in up to 4 characters; 4 operations here change at most 8,
        // where a miss has probability about 2^-30: acceptance means only letter case changed.
        if (r.ok) check(asciiLower(s) === orig, () => `addressFromText accepted a changed address ${JSON.stringify(s)} (from ${orig})`);
        else check(!(isAsciiPrintable(s) && asciiLower(s) === orig), () => `addressFromText refused ${JSON.stringify(s)}, a letter-case variant of ${orig}`);
      }),
      // Found by this property: the Kelvin sign U+212A lowercases to 'k' and was accepted.
      { numRuns: RUNS, examples: [[VALID_TEXTS[0]!, [{ op: 2, at: 0, c: 0 }]]] },
    );
  });

  test(`plausible Bech32 texts: accepted exactly per the spec, to the encoded bytes (${RUNS} runs)`, () => {
    let accepted = 0;
    const arb = fc.record({
      hrp: fc.oneof({ weight: 6, arbitrary: fc.constant('kp') }, fc.constantFrom('kq', 'bc', 'k', 'kpx', 'pk')),
      variant: fc.oneof({ weight: 6, arbitrary: fc.constant('m') }, fc.constant('0')),
      source: fc.oneof(
        { weight: 3, arbitrary: bytesArb(32, 32).map((b) => ({ words: bech32m.toWords(b), bytes: b as Uint8Array | null })) },
        { weight: 2, arbitrary: fc.array(fc.nat(31), { minLength: 50, maxLength: 54 }).map((words) => ({ words, bytes: null as Uint8Array | null })) },
      ),
      upper: fc.array(fc.boolean(), { minLength: 61, maxLength: 61 }),
      caseMode: fc.nat(3),
    });
    fc.assert(
      fc.property(arb, ({ hrp, variant, source, upper, caseMode }) => {
        let s: string;
        try {
          s = (variant === 'm' ? bech32m : bech32).encode(hrp, source.words, false);
        } catch {
          return;
        }
        if (caseMode === 1) s = s.toUpperCase();
        else if (caseMode === 2) s = [...s].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch)).join('');
        // The spec's verdict: 61 characters, prefix kp1, Bech32m checksum, 52 words whose last 4 padding bits are 0.
        const words = source.words;
        const padOk = words.length === 52 && (words[51]! & 0x0f) === 0;
        const expectOk = hrp === 'kp' && variant === 'm' && s.length === 61 && padOk;
        const r = acceptedIsCanonical(s);
        if (expectOk) {
          check(r.ok, () => `addressFromText refused ${s}: ${r.ok ? '' : r.error.message}`);
          const bits = words.flatMap((w) => [16, 8, 4, 2, 1].map((m) => (w & m ? 1 : 0)));
          const want = Uint8Array.from({ length: 32 }, (_, i) => bits.slice(i * 8, i * 8 + 8).reduce((a: number, b) => (a << 1) | b, 0));
          check(same(r.value, want), 'addressFromText decoded to other bytes');
          if (source.bytes) check(same(r.value, source.bytes), 'round trip changed the address');
          accepted++;
        } else {
          check(!r.ok, () => `addressFromText accepted ${s} (hrp ${hrp}, bech32${variant}, ${words.length} words)`);
          if (s.length === 61 && hrp === 'kp' && variant === '0') check(r.code === 'ADDRESS_CHECKSUM', () => `Bech32 (not m) checksum refused with ${r.code}`);
          if (s.length === 61 && hrp === 'kp' && variant === 'm' && !padOk) check(r.code === 'ADDRESS_MALFORMED', 'non-zero padding not ADDRESS_MALFORMED');
        }
      }),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS * 0.2);
  });
});

// ---- typed keys ------------------------------------------------------------------------------

const P = 2n ** 255n - 19n;
const L = ed25519.Point.CURVE().n;
const le32 = (n: bigint) => Uint8Array.from({ length: 32 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));

const oracleCache = new Map<string, 'ok' | 'invalid' | 'small-order'>();
/** RFC 8032 strict decoding, then: no small-order component at all (prime-order subgroup only). */
function oracle(pk: Uint8Array): 'ok' | 'invalid' | 'small-order' {
  const k = hex(pk);
  let v = oracleCache.get(k);
  if (v) return v;
  try {
    const A = ed25519.Point.fromBytes(pk, false);
    v = A.isSmallOrder() || !A.isTorsionFree() ? 'small-order' : 'ok';
  } catch {
    v = 'invalid';
  }
  oracleCache.set(k, v);
  return v;
}

// Points of every kind: prime-order, small-order (all 8 torsion points), mixed, non-canonical encodings.
const prime = Array.from({ length: 24 }, (_, i) => ed25519.Point.BASE.multiply(BigInt(i + 1) * 0x1234567n + 7n));
const torsion: (typeof prime)[number][] = [];
for (let i = 0; torsion.length < 8 && i < 500; i++) {
  try {
    const T = ed25519.Point.fromBytes(le32(BigInt(i) * 0x9e3779b97f4a7c15n % P), false).multiply(L - 1n).add(ed25519.Point.fromBytes(le32(BigInt(i) * 0x9e3779b97f4a7c15n % P), false));
    if (!torsion.some((t) => t.equals(T))) torsion.push(T);
  } catch {
    // not on the curve
  }
}
const NON_CANONICAL: Uint8Array[] = [];
for (let y = 0n; y < 19n; y++) for (const sign of [0n, 1n << 255n]) NON_CANONICAL.push(le32(y + P + sign)); // y + p: never canonical
NON_CANONICAL.push(le32(1n | (1n << 255n)), le32(P - 1n + (1n << 255n))); // x = 0 with the sign bit set
const KEY_POOL: Uint8Array[] = [
  ...SIGNING_KEYS,
  ...prime.map((p) => p.toBytes()),
  ...torsion.map((t) => t.toBytes()),
  ...prime.slice(0, 8).flatMap((p, i) => [p.add(torsion[i % torsion.length]!).toBytes()]),
  ...NON_CANONICAL,
];
const TYPED_CODES = ['KEY_INVALID', 'KEY_UNSUPPORTED', 'KEY_SMALL_ORDER'];

/** The spec's verdict on a typed key: its error code, or 'ok'. */
function expectedTyped(t: Uint8Array): string {
  if (t.length !== 33) return 'KEY_INVALID';
  if (t[0] !== ALG_ED25519) return 'KEY_UNSUPPORTED';
  const o = oracle(t.subarray(1));
  return o === 'ok' ? 'ok' : o === 'invalid' ? 'KEY_INVALID' : 'KEY_SMALL_ORDER';
}

function parseTyped(t: Uint8Array, exact: boolean) {
  const r = attempt(() => `parseTypedKey(${hex(t)})`, () => parseTypedKey(t));
  if (!r.ok) check(TYPED_CODES.includes(r.code), () => `parseTypedKey(${hex(t)}) refused with ${r.code}`);
  if (r.ok) check(same(r.value, t.subarray(1)) && expectedTyped(t) === 'ok', () => `parseTypedKey accepted ${hex(t)}, which is ${expectedTyped(t)}`);
  // The exact code costs an independent curve check: done where inputs are few and repeat.
  if (exact || t.length !== 33 || t[0] !== ALG_ED25519) {
    const want = expectedTyped(t);
    check((r.ok ? 'ok' : r.code) === want, () => `parseTypedKey(${hex(t)}): ${r.ok ? 'ok' : r.code}, expected ${want}`);
  }
  return r;
}

describe('parseTypedKey', () => {
  test('the key pool has every kind of point (fixture check)', () => {
    expect(torsion.length).toBe(8);
    const kinds = new Set(KEY_POOL.map(oracle));
    expect([...kinds].sort()).toEqual(['invalid', 'ok', 'small-order']);
  });

  test(`arbitrary bytes: KEY_* refusal, or a valid prime-order key (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.uint8Array({ minLength: 33, maxLength: 33 }),
          fc.uint8Array({ minLength: 32, maxLength: 32 }).map((k) => concatBytes(Uint8Array.of(ALG_ED25519), k)),
        ),
        (t) => {
          parseTyped(t, false);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test(`mutated valid keys: KEY_* refusal, or a valid prime-order key (${RUNS} runs)`, () => {
    const valid = [...USERS.map((u) => u.identity.typedKey), ...prime.slice(0, 4).map((p) => concatBytes(Uint8Array.of(1), p.toBytes()))];
    fc.assert(
      fc.property(fc.constantFrom(...valid), mutationsArb, (t, ms) => {
        parseTyped(mutate(t, ms, valid), false);
      }),
      { numRuns: RUNS },
    );
  });

  test(`plausible keys (every kind of point, algorithm and length): exactly the spec's verdict (${RUNS} runs)`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof({ weight: 8, arbitrary: fc.constant(ALG_ED25519) }, fc.constantFrom(0, 2, 0x81, 0xff)),
        fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...KEY_POOL) }, { weight: 1, arbitrary: bytesArb(32, 32) }),
        fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, fc.integer({ min: -2, max: 2 })),
        (alg, key, dl) => {
          let t = concatBytes(Uint8Array.of(alg), key);
          if (dl < 0) t = t.subarray(0, t.length + dl);
          else if (dl > 0) t = concatBytes(t, new Uint8Array(dl));
          if (parseTyped(t, true).ok) accepted++;
        },
      ),
      { numRuns: RUNS },
    );
    expect(accepted).toBeGreaterThan(RUNS * 0.2);
  });
});
