/**
 * Property tests of `decode(S, bytes)` for every structure S that src/wire/schema.ts
 * exports (found by walking the module, so a new structure is covered automatically).
 *
 * Every input is judged by an independent oracle (oracleDecode in property.lib.test.ts:
 * its own msgpack reader, schema validator and shortest-form encoder): decode must accept
 * exactly what the oracle accepts, decode it to the oracle's value and re-encode it to the
 * same bytes, and refuse everything else with a WIRE_* KeypostError. For each structure,
 * four properties of RUNS cases each, by input:
 *  - arbitrary bytes (up to the structure's limit and a little more; 4 KiB for huge ones);
 *  - mutations of valid encodings (bit flips, byte replacement, truncation, insertion,
 *    appended garbage, deletion, splicing with another valid encoding);
 *  - structurally plausible msgpack: models of valid values perturbed in up to three places
 *    (wrong types, limits broken by one, unknown, missing, duplicate or unordered keys,
 *    floats, 64-bit and negative integers, invalid UTF-8, extensions, nil), written by the
 *    reference encoder in shortest or widened header forms, or packed by msgpackr;
 *  - valid values: encode writes exactly the reference encoder's shortest-form bytes, and
 *    decode → value → encode round-trips to identical bytes.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { decode, encode } from '../src/wire/index.js';
import {
  attempt,
  check,
  concatBytes,
  fill,
  lengthArb,
  deepEqual,
  encodeModel,
  oracleDecode,
  hex,
  mutate,
  mutationsArb,
  plausibleArb,
  RUNS,
  same,
  STRUCTS,
  toModel,
  validArb,
  validEncodingArb,
  type AnyStruct,
} from './property.lib.test.js';


/** Arbitrary bytes up to the structure's limit and a little more (capped at 4 KiB for the huge ones). */
function arbitraryBytesArb(s: AnyStruct): fc.Arbitrary<Uint8Array> {
  const lim = Math.min(s.maxSize, 4096) + 16;
  // Long inputs: a random head (where a decoder looks first) and cheap pseudo-random rest.
  const long = (head: fc.Arbitrary<Uint8Array>) =>
    fc.tuple(head, lengthArb(0, lim, lim), fc.integer()).map(([h, n, seed]) => concatBytes(h, fill(Math.max(0, n - h.length), seed)));
  return fc.oneof(
    fc.uint8Array({ maxLength: 48 }),
    long(fc.uint8Array({ maxLength: 16 })),
    // A map header first, so that decoding gets past the first byte more often.
    long(fc.tuple(fc.integer({ min: 0x80, max: 0x8f }), fc.uint8Array({ maxLength: 15 })).map(([h, r]) => Uint8Array.of(h, ...r))),
  );
}

/**
 * The contract on any input: accepted exactly when the spec's verdict (oracleDecode:
 * an independent reader and validator) says so, decoded to the same value and
 * re-encoded to the same bytes; refused otherwise with a WIRE_* KeypostError.
 */
function decodeChecked(s: AnyStruct, input: Uint8Array): boolean {
  const want = oracleDecode(s, input);
  const r = attempt(() => `decode(${s.name}, ${hex(input.subarray(0, 64))}…)`, () => decode(s, input));
  if (!r.ok) {
    check(r.code.startsWith('WIRE_'), () => `decode(${s.name}) refused with ${r.code}, not a WIRE_* code`);
    check(!want.ok, () => `decode(${s.name}) refused valid canonical ${hex(input)}: ${r.error.message}`);
    return false;
  }
  check(want.ok, () => `decode(${s.name}) accepted ${hex(input)}, which must be refused (${want.ok ? '' : want.why})`);
  check(deepEqual(r.value, want.value), () => `decode(${s.name}) of ${hex(input)} gave another value`);
  check(same(encode(s, r.value), input), () => `decode(${s.name}) accepted ${hex(input)}, which does not re-encode to itself`);
  return true;
}

describe.each(STRUCTS.map(([name, s]) => ({ name, s })))('decode($name)', ({ name, s }) => {
  test(`arbitrary bytes: exactly the oracle's verdict (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(arbitraryBytesArb(s), (b) => {
        decodeChecked(s, b);
      }),
      { numRuns: RUNS },
    );
  });

  test(`mutated valid encodings: exactly the oracle's verdict (${RUNS} runs)`, () => {
    let accepted = 0;
    // Splice partners: a fixed sample of other valid encodings.
    const partners = fc.sample(validEncodingArb(s), { numRuns: 16, seed: 1 });
    fc.assert(
      fc.property(validEncodingArb(s), mutationsArb, (a, ms) => {
        if (decodeChecked(s, mutate(a, ms, partners))) accepted++;
      }),
      { numRuns: RUNS },
    );
    // Not a correctness condition: a reminder that almost every mutation must be caught.
    expect(accepted).toBeLessThan(RUNS);
  });

  test(`plausible msgpack: exactly the oracle's verdict (${RUNS} runs)`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(plausibleArb(s), ({ enc }) => {
        if (decodeChecked(s, enc.bytes)) accepted++;
      }),
      { numRuns: RUNS },
    );
    // The generator must go deep: a fair share of inputs is valid, a fair share is not.
    expect(accepted).toBeGreaterThan(RUNS * 0.15);
    expect(accepted).toBeLessThan(RUNS * 0.85);
  });

  test(`valid values: reference bytes, and decode/encode round-trip (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(validArb(s), (v) => {
        const ref = encodeModel(toModel(s, v)).bytes;
        const r = attempt(`encode(${name})`, () => encode(s, v));
        if (ref.length > s.maxSize) {
          check(!r.ok && r.code === 'WIRE_TOO_LARGE', () => `encode(${name}) of ${ref.length} bytes > ${s.maxSize} did not refuse WIRE_TOO_LARGE`);
          return;
        }
        check(r.ok, () => `encode(${name}) refused a valid value: ${r.ok ? '' : r.error.message}`);
        check(same(r.value, ref), () => `encode(${name}) wrote ${hex(r.value)}, shortest form is ${hex(ref)}`);
        const d = attempt(`decode(${name})`, () => decode(s, r.value));
        check(d.ok, () => `decode(${name}) refused its own encoding ${hex(r.value)}: ${d.ok ? '' : d.error.message}`);
        check(deepEqual(d.value, v), () => `decode(${name}) changed the value`);
        check(same(encode(s, d.value), r.value), () => `re-encoding ${name} changed the bytes`);
      }),
      { numRuns: RUNS },
    );
  });

  test('one byte over the limit is refused before decoding', () => {
    const big = new Uint8Array(s.maxSize + 1);
    big[0] = 0x80;
    const r = attempt(`decode(${name}, ${s.maxSize + 1} bytes)`, () => decode(s, big));
    expect(r.ok ? 'ok' : r.code).toBe('WIRE_TOO_LARGE');
  });
});
