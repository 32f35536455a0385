/**
 * The canonical msgpack codec: every byte form other than the one canonical encoding is
 * refused, with the code the registry names for it. Hand-written hex is used so the tests
 * do not depend on what msgpackr happens to emit.
 */
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { decode, encode, LIMITS } from '../src/wire/index.js';
import * as S from '../src/wire/schema.js';
import { bool, bytes, list, struct, text, uint, type FieldType, type StructT } from '../src/wire/codec.js';
import { fromHex, toHex, utf8 } from '../src/bytes/index.js';
import { codeOf } from './helpers.js';

const h = (...parts: string[]) => fromHex(parts.join(''));
const hexOf = (s: string) => toHex(utf8(s));

// StoreEntry {1: priority 10, 2: url "https://a.example"} — canonical form, written by hand.
const URL_HEX = hexOf('https://a.example'); // 17 bytes
const ENTRY = h('82', '01', '0a', '02', 'b1', URL_HEX);
// Stanza {1: tag (16 zero bytes), 2: wrapped (48 zero bytes)}.
const TAG16 = '00'.repeat(16);
const W48 = '00'.repeat(48);
const STANZA = h('82', '01', 'c4', '10', TAG16, '02', 'c4', '30', W48);

describe('canonical form is accepted', () => {
  test('hand-written canonical StoreEntry decodes and matches the encoder byte for byte', () => {
    expect(decode(S.StoreEntry, ENTRY)).toEqual({ priority: 10, url: 'https://a.example' });
    expect(toHex(encode(S.StoreEntry, { priority: 10, url: 'https://a.example' }))).toBe(toHex(ENTRY));
  });

  test('hand-written canonical Stanza and StoresContent decode', () => {
    const s = decode(S.Stanza, STANZA);
    expect(s.tag).toEqual(new Uint8Array(16));
    expect(s.wrapped).toEqual(new Uint8Array(48));
    const sc = decode(S.StoresContent, h('81', '01', '91', toHex(ENTRY)));
    expect(sc.stores).toEqual([{ priority: 10, url: 'https://a.example' }]);
  });

  test('header size boundaries are encoded in their shortest form and round-trip', () => {
    const U = struct('U', 64, { n: [1, uint(0xffff_ffff)] });
    const cases: [number, string][] = [
      [0, '810100'],
      [127, '81017f'],
      [128, '8101cc80'],
      [255, '8101ccff'],
      [256, '8101cd0100'],
      [65535, '8101cdffff'],
      [65536, '8101ce00010000'],
      [0xffff_ffff, '8101ceffffffff'],
    ];
    for (const [n, hex] of cases) {
      expect(toHex(encode(U, { n }))).toBe(hex);
      expect(decode(U, fromHex(hex))).toEqual({ n });
    }
    const T = struct('T', 1 << 17, { s: [1, text(70_000)] });
    // Shortest string headers whatever the mix of 1..4-byte UTF-8 characters.
    const headerLen = (n: number) => (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5);
    for (const ch of ['a', 'é', '€', '😀']) {
      for (let k = 0; k < 300; k++) {
        const s = ch.repeat(k);
        const n = utf8(s).length;
        const e = encode(T, { s });
        expect(e.length - 2 - n).toBe(headerLen(n));
        expect(decode(T, e).s).toBe(s);
      }
    }
    for (const n of [65535, 65536]) {
      const e = encode(T, { s: 'a'.repeat(n) });
      expect(toHex(e.subarray(0, 3))).toBe(n === 65535 ? '8101da' : '8101db');
    }
    const B = struct('B', 1 << 17, { b: [1, bytes(0, 70_000)] });
    for (const [n, hdr] of [[0, 'c400'], [255, 'c4ff'], [256, 'c50100'], [65535, 'c5ffff'], [65536, 'c600010000']] as const) {
      const e = encode(B, { b: new Uint8Array(n) });
      expect(toHex(e.subarray(2, 2 + hdr.length / 2))).toBe(hdr);
      expect(decode(B, e).b.length).toBe(n);
    }
    const L = struct('L', 1 << 18, { l: [1, list(uint(1), 70_000)] });
    for (const [n, hdr] of [[0, '90'], [15, '9f'], [16, 'dc0010'], [65535, 'dcffff'], [65536, 'dd00010000']] as const) {
      const e = encode(L, { l: new Array<number>(n).fill(1) });
      expect(toHex(e.subarray(2, 2 + hdr.length / 2))).toBe(hdr);
      expect(decode(L, e).l.length).toBe(n);
    }
  });

  test('booleans are c2/c3 and nothing else', () => {
    const Bo = struct('Bo', 16, { b: [1, bool()] });
    expect(toHex(encode(Bo, { b: false }))).toBe('8101c2');
    expect(toHex(encode(Bo, { b: true }))).toBe('8101c3');
    expect(decode(Bo, h('8101c3'))).toEqual({ b: true });
    expect(codeOf(() => decode(Bo, h('810101')))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => decode(Bo, h('810100')))).toBe('WIRE_BAD_TYPE');
  });

  test('optional fields: absent and undefined encode the same; present ones round-trip', () => {
    const a = encode(S.SealedHint, {});
    expect(toHex(a)).toBe('80');
    expect(toHex(encode(S.SealedHint, { subject: undefined }))).toBe('80');
    expect(decode(S.SealedHint, a)).toEqual({});
    expect(decode(S.SealedHint, h('8101a3', hexOf('abc')))).toEqual({ subject: 'abc' });
  });

  test('property: decode(encode(v)) == v and encode(decode(b)) == b for generated values', () => {
    const Item = struct('Item', 4096, { n: [1, uint(0xffff_ffff)], t: [2, text(2000)], b: [3, bytes(0, 40)], f: [4, bool(), 'optional'] });
    const Top = struct('Top', 65536, { items: [1, list(Item, 10)], tag: [2, bytes(8)], note: [3, text(4000), 'optional'] });
    const itemArb = fc.record(
      {
        n: fc.integer({ min: 0, max: 0xffff_ffff }),
        t: fc.string({ unit: 'grapheme', maxLength: 10 }),
        b: fc.uint8Array({ maxLength: 40 }),
        f: fc.boolean(),
      },
      { requiredKeys: ['n', 't', 'b'] },
    );
    const topArb = fc.record(
      { items: fc.array(itemArb, { maxLength: 10 }), tag: fc.uint8Array({ minLength: 8, maxLength: 8 }), note: fc.string({ unit: 'grapheme', maxLength: 25 }) },
      { requiredKeys: ['items', 'tag'] },
    );
    fc.assert(
      fc.property(topArb, (v) => {
        const e = encode(Top, v);
        const d = decode(Top, e);
        expect(d).toEqual(v);
        expect(toHex(encode(Top, d))).toBe(toHex(e));
      }),
      { numRuns: 500, seed: 42 },
    );
  });
});

describe('non-canonical byte forms are refused with WIRE_NONCANONICAL', () => {
  test('unsorted keys', () => {
    expect(codeOf(() => decode(S.StoreEntry, h('82', '02', 'b1', URL_HEX, '01', '0a')))).toBe('WIRE_NONCANONICAL');
    expect(codeOf(() => decode(S.Stanza, h('82', '02', 'c4', '30', W48, '01', 'c4', '10', TAG16)))).toBe('WIRE_NONCANONICAL');
  });

  test('duplicate keys (same and different values)', () => {
    expect(codeOf(() => decode(S.StoreEntry, h('83', '01', '0a', '01', '0a', '02', 'b1', URL_HEX)))).toBe('WIRE_NONCANONICAL');
    expect(codeOf(() => decode(S.StoreEntry, h('83', '01', '0b', '01', '0a', '02', 'b1', URL_HEX)))).toBe('WIRE_NONCANONICAL');
    expect(codeOf(() => decode(S.StoreEntry, h('83', '01', '0a', '02', 'b1', URL_HEX, '02', 'b1', URL_HEX)))).toBe('WIRE_NONCANONICAL');
  });

  test('long-form integer headers', () => {
    for (const int of ['cc0a', 'cd000a', 'ce0000000a']) {
      expect(codeOf(() => decode(S.StoreEntry, h('82', '01', int, '02', 'b1', URL_HEX))), int).toBe('WIRE_NONCANONICAL');
    }
    // uint64 and the signed forms are outside the data model altogether, whatever their value.
    for (const int of ['cf000000000000000a', 'd00a', 'd1000a', 'd20000000a', 'd3000000000000000a']) {
      expect(codeOf(() => decode(S.StoreEntry, h('82', '01', int, '02', 'b1', URL_HEX))), int).toBe('WIRE_BAD_TYPE');
    }
    // A map key in long form.
    expect(codeOf(() => decode(S.StoreEntry, h('82', 'cc01', '0a', '02', 'b1', URL_HEX)))).toBe('WIRE_NONCANONICAL');
  });

  test('long-form string headers', () => {
    for (const hdr of ['d911', 'da0011', 'db00000011']) {
      expect(codeOf(() => decode(S.StoreEntry, h('82', '01', '0a', '02', hdr, URL_HEX))), hdr).toBe('WIRE_NONCANONICAL');
    }
  });

  test('long-form binary headers', () => {
    for (const hdr of ['c50010', 'c600000010']) {
      expect(codeOf(() => decode(S.Stanza, h('82', '01', hdr, TAG16, '02', 'c4', '30', W48))), hdr).toBe('WIRE_NONCANONICAL');
    }
  });

  test('long-form array headers', () => {
    for (const hdr of ['dc0001', 'dd00000001']) {
      expect(codeOf(() => decode(S.StoresContent, h('81', '01', hdr, toHex(ENTRY)))), hdr).toBe('WIRE_NONCANONICAL');
    }
  });

  test('long-form map headers (outer and nested)', () => {
    for (const hdr of ['de0002', 'df00000002']) {
      expect(codeOf(() => decode(S.StoreEntry, h(hdr, '01', '0a', '02', 'b1', URL_HEX))), hdr).toBe('WIRE_NONCANONICAL');
    }
    expect(codeOf(() => decode(S.StoresContent, h('81', '01', '91', 'de0002', '01', '0a', '02', 'b1', URL_HEX)))).toBe('WIRE_NONCANONICAL');
  });

  test('a float holding an integer value is a float all the same: WIRE_BAD_TYPE', () => {
    // 10.0 as float64 and float32: the type byte decides, not what a parser makes of the value.
    expect(codeOf(() => decode(S.StoreEntry, h('82', '01', 'cb4024000000000000', '02', 'b1', URL_HEX)))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => decode(S.StoreEntry, h('82', '01', 'ca41200000', '02', 'b1', URL_HEX)))).toBe('WIRE_BAD_TYPE');
  });

  test('invalid UTF-8 in a string', () => {
    for (const bad of ['a1ff', 'a2c080' /* overlong NUL */, 'a3eda080' /* encoded surrogate */, 'a1c3' /* cut sequence */, 'a4f4908080' /* > U+10FFFF */]) {
      expect(codeOf(() => decode(S.SealedHint, h('8101', bad))), bad).toBe('WIRE_NONCANONICAL');
    }
  });
});

describe('other malformed input', () => {
  test('floats with a fraction, nil, negative integers are WIRE_BAD_TYPE', () => {
    const withPriority = (x: string) => h('82', '01', x, '02', 'b1', URL_HEX);
    expect(codeOf(() => decode(S.StoreEntry, withPriority('cb3ff8000000000000')))).toBe('WIRE_BAD_TYPE'); // 1.5
    expect(codeOf(() => decode(S.StoreEntry, withPriority('ca3fc00000')))).toBe('WIRE_BAD_TYPE'); // 1.5f
    expect(codeOf(() => decode(S.StoreEntry, withPriority('c0')))).toBe('WIRE_BAD_TYPE'); // nil
    expect(codeOf(() => decode(S.StoreEntry, withPriority('ff')))).toBe('WIRE_BAD_TYPE'); // -1
    expect(codeOf(() => decode(S.StoreEntry, withPriority('d0ff')))).toBe('WIRE_BAD_TYPE'); // -1 as int8
    expect(codeOf(() => decode(S.StoreEntry, withPriority('d3ffffffffffffffff')))).toBe('WIRE_BAD_TYPE');
    // nil for an optional field is not "absent".
    expect(codeOf(() => decode(S.SealedHint, h('8101c0')))).toBe('WIRE_BAD_TYPE');
    // nil or a non-map at the top.
    expect(codeOf(() => decode(S.SealedHint, h('c0')))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => decode(S.SealedHint, h('90')))).toBe('WIRE_BAD_TYPE');
  });

  test('extension types and the unused byte 0xc1 are outside the data model: WIRE_BAD_TYPE', () => {
    expect(codeOf(() => decode(S.SealedHint, h('d40100')))).toBe('WIRE_BAD_TYPE'); // fixext1, type 1
    expect(codeOf(() => decode(S.SealedHint, h('8101d40100')))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => decode(S.SealedHint, h('8101c70101ff')))).toBe('WIRE_BAD_TYPE'); // ext8
    expect(codeOf(() => decode(S.SealedHint, h('8101d6ff00000000')))).toBe('WIRE_BAD_TYPE'); // timestamp
    expect(codeOf(() => decode(S.SealedHint, h('8101c1')))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => decode(S.SealedHint, h('c1')))).toBe('WIRE_BAD_TYPE');
    // A truncated input is malformed, whatever type it starts with.
    expect(codeOf(() => decode(S.SealedHint, h('8101c4')))).toBe('WIRE_MALFORMED');
    expect(codeOf(() => decode(S.SealedHint, h('dd0000ffff')))).toBe('WIRE_MALFORMED');
  });

  test('wrong types for each kind of field', () => {
    expect(codeOf(() => decode(S.StoreEntry, h('82', '01', 'a1', '31', '02', 'b1', URL_HEX)))).toBe('WIRE_BAD_TYPE'); // text for uint
    expect(codeOf(() => decode(S.StoreEntry, h('82', '01', '0a', '02', 'c4', '11', URL_HEX)))).toBe('WIRE_BAD_TYPE'); // bin for text
    expect(codeOf(() => decode(S.Stanza, h('82', '01', 'b0', TAG16, '02', 'c4', '30', W48)))).toBe('WIRE_BAD_TYPE'); // str for bin
    expect(codeOf(() => decode(S.StoresContent, h('81', '01', toHex(ENTRY))))).toBe('WIRE_BAD_TYPE'); // map for array
    expect(codeOf(() => decode(S.StoresContent, h('81', '01', '91', '0a')))).toBe('WIRE_BAD_TYPE'); // int for struct
    expect(codeOf(() => decode(S.StoreEntry, h('82', '01', 'c3', '02', 'b1', URL_HEX)))).toBe('WIRE_BAD_TYPE'); // bool for uint
  });

  test('values outside a field range', () => {
    // SubkeyEntry.purpose is 1..255.
    const entry = (purpose: string) => h('83', '01', purpose, '02', 'c4', '20', '00'.repeat(32), '03', '00');
    expect(decode(S.SubkeyEntry, entry('01')).purpose).toBe(1);
    expect(codeOf(() => decode(S.SubkeyEntry, entry('00')))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => decode(S.SubkeyEntry, entry('cd0100')))).toBe('WIRE_BAD_TYPE');
    // StoreEntry.priority is 0..65535.
    expect(codeOf(() => decode(S.StoreEntry, h('82', '01', 'ce00010000', '02', 'b1', URL_HEX)))).toBe('WIRE_BAD_TYPE');
  });

  test('unknown keys (integer and string) are WIRE_UNKNOWN_FIELD', () => {
    expect(codeOf(() => decode(S.StoreEntry, h('83', '01', '0a', '02', 'b1', URL_HEX, '03', '00')))).toBe('WIRE_UNKNOWN_FIELD');
    expect(codeOf(() => decode(S.StoreEntry, h('83', '00', '00', '01', '0a', '02', 'b1', URL_HEX)))).toBe('WIRE_UNKNOWN_FIELD');
    expect(codeOf(() => decode(S.SealedHint, h('81', 'a131', 'a0')))).toBe('WIRE_UNKNOWN_FIELD');
    expect(codeOf(() => decode(S.SealedHint, h('81', '7f', 'a0')))).toBe('WIRE_UNKNOWN_FIELD');
    // A negative key is outside the data model before it is an unknown key.
    expect(codeOf(() => decode(S.SealedHint, h('81', 'ff', 'a0')))).toBe('WIRE_BAD_TYPE');
    // Also inside a nested struct.
    expect(codeOf(() => decode(S.StoresContent, h('81', '01', '91', '83', '01', '0a', '02', 'b1', URL_HEX, '09', '00')))).toBe('WIRE_UNKNOWN_FIELD');
  });

  test('missing required fields are WIRE_MISSING_FIELD', () => {
    expect(codeOf(() => decode(S.StoreEntry, h('81', '01', '0a')))).toBe('WIRE_MISSING_FIELD');
    expect(codeOf(() => decode(S.StoreEntry, h('81', '02', 'b1', URL_HEX)))).toBe('WIRE_MISSING_FIELD');
    expect(codeOf(() => decode(S.StoreEntry, h('80')))).toBe('WIRE_MISSING_FIELD');
    expect(codeOf(() => decode(S.StoresContent, h('81', '01', '91', '81', '01', '0a')))).toBe('WIRE_MISSING_FIELD');
  });

  test('trailing bytes are WIRE_MALFORMED', () => {
    for (const tail of ['00', 'c0', '80', toHex(ENTRY)]) {
      expect(codeOf(() => decode(S.StoreEntry, h(toHex(ENTRY), tail))), tail).toBe('WIRE_MALFORMED');
    }
  });

  test('every proper prefix of a valid encoding is WIRE_MALFORMED', () => {
    const samples: [StructT<any>, Uint8Array][] = [
      [S.StoreEntry, ENTRY],
      [S.Stanza, STANZA],
      [S.StoresContent, h('81', '01', '92', toHex(ENTRY), toHex(ENTRY).replace(/^82010a/, '82010b'))],
      [S.PolicyContent, encode(S.PolicyContent, { powBits: 20, powUnit: 100_000, maxSize: 5_000_000 })],
    ];
    for (const [t, full] of samples) {
      expect(() => decode(t, full)).not.toThrow();
      for (let i = 0; i < full.length; i++) {
        expect(codeOf(() => decode(t, full.subarray(0, i))), `${t.name} prefix ${i}`).toBe('WIRE_MALFORMED');
      }
    }
  });

  test('a whole input over the struct limit is WIRE_TOO_LARGE before any decoding', () => {
    // 0xc1 bytes are not msgpack at all: only a size check made before decoding can say TOO_LARGE.
    for (const t of [S.StoreEntry, S.Stanza, S.SealedHint, S.NameContent] as StructT<any>[]) {
      const junk = new Uint8Array(t.maxSize + 1).fill(0xc1);
      expect(codeOf(() => decode(t, junk)), t.name).toBe('WIRE_TOO_LARGE');
      // One byte less is decoded (and refused for what it is).
      expect(codeOf(() => decode(t, junk.subarray(1))), t.name).not.toBe('WIRE_TOO_LARGE');
    }
  });

  test('oversized and undersized fields', () => {
    // NameContent.name is at most 254 bytes and at least 3.
    const name = (n: number) => h('81', '01', n < 32 ? (0xa0 | n).toString(16) : 'd9' + n.toString(16).padStart(2, '0'), '61'.repeat(n));
    expect(decode(S.NameContent, name(254)).name.length).toBe(254);
    expect(codeOf(() => decode(S.NameContent, name(255)))).toBe('WIRE_TOO_LARGE');
    expect(decode(S.NameContent, name(3)).name).toBe('aaa');
    expect(codeOf(() => decode(S.NameContent, name(2)))).toBe('WIRE_BAD_TYPE');
    // Stanza.tag is exactly 16 bytes.
    expect(codeOf(() => decode(S.Stanza, h('82', '01', 'c4', '11', TAG16, '00', '02', 'c4', '30', W48)))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => decode(S.Stanza, h('82', '01', 'c4', '0f', '00'.repeat(15), '02', 'c4', '30', W48)))).toBe('WIRE_BAD_TYPE');
  });

  test('lists: too long is WIRE_TOO_LARGE, too short WIRE_BAD_TYPE', () => {
    const stores = (n: number) => h('81', '01', (0x90 | n).toString(16), toHex(ENTRY).repeat(n));
    expect(decode(S.StoresContent, stores(LIMITS.STORES)).stores.length).toBe(LIMITS.STORES);
    expect(codeOf(() => decode(S.StoresContent, stores(LIMITS.STORES + 1)))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => decode(S.StoresContent, stores(0)))).toBe('WIRE_BAD_TYPE');
  });

  test('non-bytes input is INVALID_ARGUMENT', () => {
    expect(codeOf(() => decode(S.StoreEntry, 'x' as unknown as Uint8Array))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => decode(S.StoreEntry, [0x80] as unknown as Uint8Array))).toBe('INVALID_ARGUMENT');
  });
});

describe('the encoder refuses what the decoder would refuse', () => {
  const entry = { priority: 10, url: 'https://a.example' };
  test('unknown, missing and wrongly typed fields', () => {
    expect(codeOf(() => encode(S.StoreEntry, { ...entry, extra: 1 } as never))).toBe('WIRE_UNKNOWN_FIELD');
    expect(codeOf(() => encode(S.StoreEntry, { priority: 1 } as never))).toBe('WIRE_MISSING_FIELD');
    expect(codeOf(() => encode(S.StoreEntry, { ...entry, priority: '1' } as never))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => encode(S.StoreEntry, { ...entry, priority: null } as never))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => encode(S.SealedHint, { subject: null } as never))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => encode(S.Stanza, { tag: Array(16).fill(0), wrapped: new Uint8Array(48) } as never))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => encode(S.StoreEntry, null as never))).toBe('WIRE_BAD_TYPE');
  });

  test('negative, fractional, non-finite and out-of-range integers', () => {
    for (const p of [-1, 1.5, NaN, Infinity, -0.5, 65536, 2 ** 53]) {
      expect(codeOf(() => encode(S.StoreEntry, { ...entry, priority: p })), String(p)).toBe('WIRE_BAD_TYPE');
    }
  });

  test('lone surrogates in text', () => {
    for (const s of ['\ud800', 'abc\udfff', '\udc00\ud800', 'x\ud83d']) {
      expect(codeOf(() => encode(S.SealedHint, { subject: s })), JSON.stringify(s)).toBe('WIRE_BAD_TYPE');
    }
    // A proper pair is fine.
    expect(decode(S.SealedHint, encode(S.SealedHint, { subject: '\ud83d\ude00' })).subject).toBe('😀');
  });

  test('text limits count UTF-8 bytes, not characters', () => {
    expect(encode(S.SealedHint, { subject: "€".repeat(40) }).length).toBe(4 + 120);
    expect(codeOf(() => encode(S.SealedHint, { subject: '€'.repeat(40) + 'a' }))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => encode(S.SealedHint, { subject: '😀'.repeat(30) + 'a' }))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => encode(S.SealedHint, { subject: 'a'.repeat(121) }))).toBe('WIRE_TOO_LARGE');
    // Minimums too: NameContent.name is at least 3 bytes — two characters can be enough.
    expect(decode(S.NameContent, encode(S.NameContent, { name: 'éa' })).name).toBe('éa');
    expect(decode(S.NameContent, encode(S.NameContent, { name: '€' })).name).toBe('€');
    expect(codeOf(() => encode(S.NameContent, { name: 'é' }))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => encode(S.NameContent, { name: 'ab' }))).toBe('WIRE_BAD_TYPE');
  });

  test('too long lists and bytes, too short lists', () => {
    expect(codeOf(() => encode(S.StoresContent, { stores: Array(LIMITS.STORES + 1).fill(entry) }))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => encode(S.StoresContent, { stores: [] }))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => encode(S.Stanza, { tag: new Uint8Array(17), wrapped: new Uint8Array(48) }))).toBe('WIRE_TOO_LARGE');
  });

  test('a whole encoding over the struct limit', () => {
    const Tiny = struct('Tiny', 8, { b: [1, bytes(0, 100)] });
    expect(encode(Tiny, { b: new Uint8Array(4) }).length).toBe(8);
    expect(codeOf(() => encode(Tiny, { b: new Uint8Array(5) }))).toBe('WIRE_TOO_LARGE');
  });

  test('struct definitions with duplicate keys are a programming error', () => {
    expect(() => struct('Dup', 10, { a: [1, uint()], b: [1, uint()] })).toThrow(/duplicate key/);
  });
});

describe('decoded values own their memory', () => {
  test('mutating the input after decoding does not change the decoded bytes', () => {
    const input = STANZA.slice();
    const s = decode(S.Stanza, input);
    input.fill(0xee);
    expect(s.tag).toEqual(new Uint8Array(16));
    expect(s.wrapped).toEqual(new Uint8Array(48));
    expect(s.tag.buffer).not.toBe(input.buffer);
  });

  test('decoded bytes in lists and nested structs are copies too', () => {
    const env = encode(S.EnvelopeHeader, {
      version: 1,
      ephemeral: new Uint8Array(32).fill(1),
      stanzas: [{ tag: new Uint8Array(16).fill(2), wrapped: new Uint8Array(48).fill(3) }],
      commitment: new Uint8Array(32).fill(4),
    });
    const d = decode(S.EnvelopeHeader, env);
    env.fill(0);
    expect(d.ephemeral).toEqual(new Uint8Array(32).fill(1));
    expect(d.stanzas[0]!.tag).toEqual(new Uint8Array(16).fill(2));
    expect(d.stanzas[0]!.wrapped).toEqual(new Uint8Array(48).fill(3));
    expect(d.commitment).toEqual(new Uint8Array(32).fill(4));
  });

  test('encode returns a fresh array that callers may modify', () => {
    const a = encode(S.StoreEntry, { priority: 10, url: 'https://a.example' });
    a[0] = 0;
    expect(toHex(encode(S.StoreEntry, { priority: 10, url: 'https://a.example' }))).toBe(toHex(ENTRY));
  });
});

describe('the schema itself', () => {
  // msgpackr writes safe integers above 2^32-1 as float64 (0xcb), which the canonical rules
  // forbid. No schema field may allow such values.
  test('no uint field allows values above 2^32-1', () => {
    const seen = new Set<unknown>();
    const walk = (t: FieldType<any>, path: string): void => {
      if (seen.has(t)) return;
      seen.add(t);
      if (t.kind === 'uint') expect(t.max, path).toBeLessThanOrEqual(0xffff_ffff);
      else if (t.kind === 'list') walk(t.of, `${path}[]`);
      else if (t.kind === 'struct') for (const f of t.fields) walk(f.type, `${path}.${f.name}`);
    };
    let n = 0;
    for (const [name, v] of Object.entries(S)) {
      if (v && typeof v === 'object' && (v as { kind?: string }).kind === 'struct') {
        walk(v as StructT<unknown>, name);
        n++;
      }
    }
    expect(n).toBeGreaterThan(20);
  });

  test('every struct has unique ascending keys and a size limit', () => {
    for (const [name, v] of Object.entries(S)) {
      if (!v || typeof v !== 'object' || (v as { kind?: string }).kind !== 'struct') continue;
      const t = v as StructT<unknown>;
      const keys = t.fields.map((f) => f.key);
      expect([...keys].sort((a, b) => a - b), name).toEqual(keys);
      expect(new Set(keys).size, name).toBe(keys.length);
      expect(t.maxSize, name).toBeGreaterThan(0);
    }
  });
});

describe('invalid UTF-8 near a size limit', () => {
  test('is WIRE_NONCANONICAL, not WIRE_TOO_LARGE, even when U+FFFD substitution would overflow the limit', () => {
    // SealedHint.subject allows 120 bytes: 119 ASCII bytes and one lone 0xff.
    const s = new Uint8Array(120).fill(0x61);
    s[60] = 0xff;
    const input = h('81', '01', 'd9', '78', Buffer.from(s).toString('hex'));
    expect(codeOf(() => decode(S.SealedHint, input))).toBe('WIRE_NONCANONICAL');
  });
});

describe('decode leaves its input alone', () => {
  test('no property is attached to the caller’s bytes', () => {
    const input = encode(S.StoreEntry, { priority: 1, url: 'https://a.example' });
    const before = Object.getOwnPropertyNames(input).length;
    decode(S.StoreEntry, input);
    expect(Object.getOwnPropertyNames(input).length).toBe(before);
    expect((input as unknown as { dataView?: unknown }).dataView).toBeUndefined();
  });
});
