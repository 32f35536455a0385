/** Proof-of-work stamps. */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { seededRandom, type RandomSource } from '../src/crypto/index.js';
import { checkStamp, leadingZeroBits, MAX_POW_BITS, mintStamp, requiredBits } from '../src/protocol/index.js';
import { fromHex, toHex } from '../src/bytes/index.js';
import { codeOf } from './helpers.js';

const sha = (s: string) => new Uint8Array(createHash('sha256').update(s).digest());
const A = sha('recipient A');
const B = sha('recipient B');
const ID = sha('message 1');
const ID2 = sha('message 2');

/** The stamp hash, recomputed independently: SHA-256("keypost/v1/pow" || 0 || recipient || id || nonce). */
const stampBits = (recipient: Uint8Array, id: Uint8Array, nonce: Uint8Array) =>
  leadingZeroBits(new Uint8Array(createHash('sha256').update('keypost/v1/pow').update(Buffer.from([0])).update(recipient).update(id).update(nonce).digest()));

describe('leadingZeroBits', () => {
  test('exact values', () => {
    expect(leadingZeroBits(fromHex('80'))).toBe(0);
    expect(leadingZeroBits(fromHex('ff'))).toBe(0);
    expect(leadingZeroBits(fromHex('40'))).toBe(1);
    expect(leadingZeroBits(fromHex('7f'))).toBe(1);
    expect(leadingZeroBits(fromHex('01'))).toBe(7);
    expect(leadingZeroBits(fromHex('00'))).toBe(8);
    expect(leadingZeroBits(fromHex('0080'))).toBe(8);
    expect(leadingZeroBits(fromHex('00ff'))).toBe(8);
    expect(leadingZeroBits(fromHex('0001'))).toBe(15);
    expect(leadingZeroBits(fromHex('00000001'))).toBe(31);
    expect(leadingZeroBits(fromHex('000000000f'))).toBe(36);
    expect(leadingZeroBits(new Uint8Array(32))).toBe(256);
    expect(leadingZeroBits(new Uint8Array(0))).toBe(0);
    // Bytes after the first non-zero one do not matter.
    expect(leadingZeroBits(fromHex('0f00000000'))).toBe(4);
  });
  test('every single-bit position', () => {
    for (let bit = 0; bit < 256; bit++) {
      const b = new Uint8Array(32);
      b[bit >> 3] = 0x80 >> (bit & 7);
      expect(leadingZeroBits(b)).toBe(bit);
      b[31]! |= 1; // a later bit changes nothing
      expect(leadingZeroBits(b)).toBe(bit);
    }
  });
});

describe('requiredBits', () => {
  const policy = { powBits: 10, powUnit: 1024 };
  test('one more bit per doubling of size units', () => {
    for (let k = 0; k <= 20; k++) {
      const size = 1024 * 2 ** k;
      expect(requiredBits(policy, size), `size ${size}`).toBe(10 + k);
      expect(requiredBits(policy, size + 1), `size ${size + 1}`).toBe(10 + k + 1);
    }
  });
  test('sizes below one unit cost the base bits', () => {
    expect(requiredBits(policy, 0)).toBe(10);
    expect(requiredBits(policy, 1)).toBe(10);
    expect(requiredBits(policy, 1023)).toBe(10);
    expect(requiredBits(policy, 1024)).toBe(10);
    expect(requiredBits(policy, 1025)).toBe(11);
    expect(requiredBits(policy, 3 * 1024)).toBe(12);
  });
  test('other units', () => {
    expect(requiredBits({ powBits: 1, powUnit: 65536 }, 65536 * 8)).toBe(4);
    expect(requiredBits({ powBits: 1, powUnit: 65536 }, 65536 * 8 + 1)).toBe(5);
  });
  test('0 when powBits is 0, whatever the size', () => {
    for (const size of [0, 1, 1024, 10 ** 6, 64 * 1024 * 1024]) expect(requiredBits({ powBits: 0, powUnit: 1024 }, size)).toBe(0);
  });
});

describe('mint and check', () => {
  for (const bits of [8, 9, 10, 11, 12]) {
    test(`${bits} bits`, () => {
      const nonce = mintStamp(A, ID, bits, seededRandom(`pow-${bits}`));
      expect(nonce.length).toBe(8);
      expect(stampBits(A, ID, nonce)).toBeGreaterThanOrEqual(bits);
      expect(codeOf(() => checkStamp(A, ID, nonce, bits))).toBe('ok');
      const got = stampBits(A, ID, nonce);
      expect(codeOf(() => checkStamp(A, ID, nonce, got))).toBe('ok');
      expect(codeOf(() => checkStamp(A, ID, nonce, got + 1))).toBe('POW_INSUFFICIENT');
    });
  }

  test('a stamp for recipient A does not pay for recipient B, nor for another message', () => {
    // 12 bits: for a different recipient the chance of still having ≥ 12 bits is 1/4096.
    const nonce = mintStamp(A, ID, 12, seededRandom('pow-a-vs-b'));
    expect(stampBits(A, ID, nonce)).toBeGreaterThanOrEqual(12);
    const forB = stampBits(B, ID, nonce);
    expect(forB).toBeLessThan(12);
    expect(codeOf(() => checkStamp(B, ID, nonce, 12))).toBe('POW_INSUFFICIENT');
    const forID2 = stampBits(A, ID2, nonce);
    expect(forID2).toBeLessThan(12);
    expect(codeOf(() => checkStamp(A, ID2, nonce, 12))).toBe('POW_INSUFFICIENT');
  });

  test('no stamp: POW_MISSING when bits are owed, fine when none are', () => {
    expect(codeOf(() => checkStamp(A, ID, undefined, 1))).toBe('POW_MISSING');
    expect(codeOf(() => checkStamp(A, ID, undefined, 0))).toBe('ok');
    expect(codeOf(() => checkStamp(A, ID, undefined, -1))).toBe('ok');
  });

  test('mint with 0 bits returns the random start as it is', () => {
    const start = fromHex('0102030405060708');
    expect(toHex(mintStamp(A, ID, 0, () => start.slice()))).toBe('0102030405060708');
  });

  test('the nonce is a 64-bit little-endian counter from a random start (carry into the high word)', () => {
    // Find an id for which the start nonce has no zero bit and its successor has one: then
    // mint(1 bit) must return exactly the successor, proving the carry.
    const start = fromHex('ffffffff00000000');
    const next = fromHex('0000000001000000');
    let id: Uint8Array | undefined;
    for (let i = 0; !id; i++) {
      const cand = sha(`carry ${i}`);
      if (stampBits(A, cand, start) === 0 && stampBits(A, cand, next) >= 1) id = cand;
    }
    const fixed: RandomSource = () => start.slice();
    expect(toHex(mintStamp(A, id, 1, fixed))).toBe(toHex(next));
  });

  test('bits outside 0..32 are INVALID_ARGUMENT', () => {
    expect(MAX_POW_BITS).toBe(32);
    for (const bits of [-1, 33, 1.5, NaN]) {
      expect(codeOf(() => mintStamp(A, ID, bits, seededRandom('x'))), String(bits)).toBe('INVALID_ARGUMENT');
    }
  });
});
