/**
 * decode's single-walk fast path (src/wire/canonical.ts) against the reference decoder
 * (scan, msgpackr, schema, re-encode and compare; decodeReference in codec.ts), for every
 * structure of schema.ts and a few made here to reach the rarer header forms:
 *  - decode and decodeReference agree exactly: both accept as the same value, or both
 *    refuse with the same code and message;
 *  - the fast path alone accepts exactly what the reference accepts, as the same value
 *    (so valid input never pays for the reference, and refusals never skip it);
 *  - byte strings in decoded values are plain Uint8Arrays the caller owns.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decode, decodeReference, encode, bool, bytes, list, struct, text, uint, type StructT } from '../src/wire/codec.js';
import { decodeCanonical } from '../src/wire/canonical.js';
import * as S from '../src/wire/schema.js';
import { attempt, check, concatBytes, deepEqual, fill, hex, lengthArb, mutate, mutationsArb, plausibleArb, STRUCTS, validArb, validEncodingArb, type AnyStruct } from './property.lib.test.js';

const RUNS = 2_000;

// Rarer forms: keys of one, two and three bytes, a 16-bit map header (17 fields),
// 16-bit array headers, 16-bit str and bin lengths, booleans.
const wideFields: Record<string, readonly [number, any] | readonly [number, any, 'optional']> = {};
for (let i = 0; i < 14; i++) wideFields[`f${i}`] = [i, uint(300), 'optional'];
const Wide = struct('Wide', 4096, {
  ...wideFields,
  k127: [127, bool()],
  k128: [128, text(400), 'optional'],
  k300: [300, bytes(0, 300)],
  k70000: [70_000, list(uint(0xffff_ffff), 40), 'optional'],
});
const Inner = struct('Inner', 64, { a: [1, uint(10, 1)], b: [3, text(20, 1), 'optional'] });
const Nested = struct('Nested', 8192, { xs: [1, list(Inner, 20, 1)], ys: [2, list(list(bytes(0, 3), 3), 18)], z: [5, Inner, 'optional'] });
const ALL: ReadonlyArray<readonly [string, AnyStruct]> = [...STRUCTS, ['Wide', Wide], ['Nested', Nested]];

/** Every Uint8Array in a decoded value: a plain one, not a view of the input. */
function owned(v: unknown, input: Uint8Array): boolean {
  if (v instanceof Uint8Array) return Object.getPrototypeOf(v) === Uint8Array.prototype && v.buffer !== input.buffer && v.byteOffset === 0;
  if (Array.isArray(v)) return v.every((x) => owned(x, input));
  if (typeof v === 'object' && v !== null) return Object.values(v).every((x) => owned(x, input));
  return true;
}

function agree(s: AnyStruct, input: Uint8Array): boolean {
  const what = () => `${s.name} ${hex(input.subarray(0, 96))}`;
  const ref = attempt(() => `decodeReference(${what()})`, () => decodeReference(s, input));
  const got = attempt(() => `decode(${what()})`, () => decode(s, input));
  const fast = decodeCanonical(s, input);
  if (!ref.ok) {
    check(!got.ok && got.code === ref.code && got.error.message === ref.error.message, () => `decode ${got.ok ? 'accepted' : `refused ${got.error.message}`}, reference refused ${ref.error.message}: ${what()}`);
    check(fast === undefined, () => `fast path accepted what the reference refuses (${ref.code}): ${what()}`);
    return false;
  }
  check(got.ok && deepEqual(got.value, ref.value), () => `decode ${got.ok ? 'gave another value' : `refused ${got.error.message}`}: ${what()}`);
  check(fast !== undefined && deepEqual(fast, ref.value), () => `fast path ${fast === undefined ? 'refused' : 'gave another value for'} canonical ${what()}`);
  check(owned(got.value, input), () => `decoded bytes are not owned copies: ${what()}`);
  return true;
}


describe.each(ALL.map(([name, s]) => ({ name, s })))('fast path vs reference: $name', ({ s }) => {
  test(`valid encodings, also inside a larger buffer and as a Buffer (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(validEncodingArb(s), fc.nat(7), (b, off) => {
        check(agree(s, b), () => `refused a valid encoding of ${s.name}`);
        const big = concatBytes(fill(off, off), b, fill(3, 1));
        agree(s, big.subarray(off, off + b.length));
        agree(s, Buffer.from(big.buffer, big.byteOffset + off, b.length));
      }),
      { numRuns: RUNS },
    );
  });

  test(`mutated valid encodings (${RUNS} runs)`, () => {
    const partners = fc.sample(validEncodingArb(s), { numRuns: 16, seed: 7 });
    fc.assert(fc.property(validEncodingArb(s), mutationsArb, (a, ms) => void agree(s, mutate(a, ms, partners))), { numRuns: RUNS });
  });

  test(`plausible msgpack: perturbed values, widened headers, msgpackr's own packing (${RUNS} runs)`, () => {
    let accepted = 0;
    fc.assert(fc.property(plausibleArb(s), ({ enc }) => void (agree(s, enc.bytes) && accepted++)), { numRuns: RUNS });
    expect(accepted).toBeGreaterThan(RUNS * 0.1);
  });

  test(`arbitrary bytes (${RUNS} runs)`, () => {
    const lim = Math.min(s.maxSize, 2048) + 8;
    const arb = fc.oneof(
      fc.uint8Array({ maxLength: 48 }),
      fc.tuple(fc.integer({ min: 0x80, max: 0x8f }), fc.uint8Array({ maxLength: 24 }), lengthArb(0, lim, lim), fc.integer()).map(([h, r, n, seed]) =>
        concatBytes(Uint8Array.of(h, ...r), fill(n, seed)),
      ),
    );
    fc.assert(fc.property(arb, (b) => void agree(s, b)), { numRuns: RUNS });
  });
});

describe('fast path edge cases', () => {
  const h = (x: string) => Uint8Array.from(Buffer.from(x.replace(/ /g, ''), 'hex'));
  const T = struct('T', 1 << 18, { s: [1, text(70_000)] });

  test('a leading byte-order mark is part of the string', () => {
    expect(agree(T, h('81 01 a4 efbbbf61'))).toBe(true);
    expect(decode(T, h('81 01 a4 efbbbf61')).s).toBe('\ufeffa');
  });

  test('strings and byte strings of every header size, shortest form only', () => {
    for (const n of [0, 31, 32, 255, 256, 65535, 65536]) {
      const e = encode(T, { s: 'é'.repeat(n >> 1) + 'a'.repeat(n & 1) });
      expect(agree(T, e), String(n)).toBe(true);
    }
    const B = struct('B', 1 << 18, { b: [1, bytes(0, 70_000)] });
    for (const n of [0, 255, 256, 65535, 65536]) expect(agree(B, encode(B, { b: fill(n, n) })), String(n)).toBe(true);
    // Widened and truncated headers go to the reference.
    for (const x of ['81 01 d9 01 61', '81 01 da 0001 61', '81 01 a2 61', '81 01 d9', '81 01 db 00000001']) expect(agree(T, h(x)), x).toBe(false);
  });

  test('integers at every boundary, and the refused wider forms', () => {
    const U = struct('U', 64, { n: [1, uint(0xffff_ffff)] });
    for (const n of [0, 127, 128, 255, 256, 65535, 65536, 0xffff_ffff]) expect(agree(U, encode(U, { n }))).toBe(true);
    for (const x of ['81 01 cc 7f', '81 01 cd 00ff', '81 01 ce 0000ffff', '81 01 cf 0000000000000001', '81 cc 01 00', '81 01 ce 0000']) {
      expect(agree(U, h(x)), x).toBe(false);
    }
  });

  test('notifications as the store receives them', () => {
    const body = encode(S.NotificationBody, {
      recipient: fill(32, 1),
      sender: fill(33, 2),
      store: 'https://store.example',
      id: fill(32, 3),
      size: 4598,
      time: 1_750_000_000,
      expires: 1_750_600_000,
      sealed: { ephemeral: fill(32, 4), box: fill(40, 5) },
    });
    const n = encode(S.Notification, { body, sig: fill(64, 6), cert: fill(150, 7) });
    expect(agree(S.Notification, n)).toBe(true);
    expect(agree(S.NotificationBody, body)).toBe(true);
    for (let i = 0; i < body.length; i++) agree(S.NotificationBody, body.subarray(0, i));
  });

  test('over the size limit is refused before the walk', () => {
    const t: StructT<any> = S.SealedHint;
    const big = concatBytes(encode(t, { subject: 'x' }), new Uint8Array(t.maxSize));
    expect(decodeCanonical(t, big)).toBeUndefined();
    expect(agree(t, big)).toBe(false);
  });
});

describe('odd inputs go to the reference as they are', () => {
  const outcome = (f: () => unknown) => {
    try {
      return { ok: f() };
    } catch (e) {
      return { threw: (e as Error).constructor.name, message: (e as Error).message };
    }
  };
  test('a detached buffer and a non-Uint8Array fail exactly as in the reference', () => {
    const u = new Uint8Array(8);
    structuredClone(u.buffer, { transfer: [u.buffer] });
    for (const x of [u, [0x80], 'x', null] as unknown as Uint8Array[]) {
      expect(outcome(() => decode(S.SealedHint, x))).toEqual(outcome(() => decodeReference(S.SealedHint, x)));
    }
  });
});
