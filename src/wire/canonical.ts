/**
 * The fast path of decode: one walk over the bytes, driven by the schema, that accepts
 * exactly the canonical encodings of valid values (what encode writes) and builds the
 * value as it goes. It never says why it refuses: it returns undefined and codec.ts runs
 * the reference decoder (scan, msgpackr, schema, re-encode and compare), so every error
 * code and message stays the reference's. test/wire.canonical.test.ts checks that both
 * accept exactly the same inputs, as the same values.
 *
 * Canonical here, as msgpackr writes it: every header in its shortest form; maps with
 * unsigned integer keys, strictly ascending, each a field of the struct, every required
 * field present; lengths and values within the schema's limits; valid UTF-8; nothing after
 * the value. Nesting is bounded by the schema, which cannot refer to itself.
 */
import { isUtf8 } from 'node:buffer';
import type { FieldType, StructT } from './codec.js';

type Reader = () => unknown;

// The input being walked. decode is synchronous and calls no user code, so one set suffices.
const EMPTY = new Uint8Array(0);
let src: Uint8Array = EMPTY;
let pos = 0;
let end = 0;

const REFUSED = Symbol('refused');
/** Leave the walk: the reference decoder will find out what is wrong. */
const refuse = (): never => {
  throw REFUSED;
};

// ignoreBOM: a leading U+FEFF is part of the string, as msgpackr decodes it.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** A header's length field, big-endian, `n` bytes at pos + 1. */
function lengthField(n: 1 | 2 | 4): number {
  if (pos + n >= end) refuse();
  const b = src;
  const p = pos + 1;
  pos += n + 1;
  if (n === 1) return b[p]!;
  if (n === 2) return (b[p]! << 8) | b[p + 1]!;
  return b[p]! * 0x100_0000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

function readUint(): number {
  if (pos >= end) refuse();
  const h = src[pos]!;
  if (h < 0x80) {
    pos++;
    return h;
  }
  let v: number;
  if (h === 0xcc) (v = lengthField(1)), v < 0x80 && refuse();
  else if (h === 0xcd) (v = lengthField(2)), v < 0x100 && refuse();
  else if (h === 0xce) (v = lengthField(4)), v < 0x1_0000 && refuse();
  else return refuse();
  return v;
}

/** Length of a str (`fix` = 0xa0, 5-bit) or bin (`fix` = 0) item, shortest form only. */
function readLength(fix: number, h8: number): number {
  if (pos >= end) refuse();
  const h = src[pos]!;
  let n: number;
  if (fix !== 0 && (h & 0xe0) === fix) (n = h & 0x1f), pos++;
  else if (h === h8) (n = lengthField(1)), fix !== 0 && n < 0x20 && refuse();
  else if (h === h8 + 1) (n = lengthField(2)), n < 0x100 && refuse();
  else if (h === h8 + 2) (n = lengthField(4)), n < 0x1_0000 && refuse();
  else return refuse();
  if (n > end - pos) refuse();
  return n;
}

/** Entries of a map (`fix` = 0x80, h16 = 0xde) or items of an array (0x90, 0xdc). */
function readCount(fix: number, h16: number): number {
  if (pos >= end) refuse();
  const h = src[pos]!;
  let n: number;
  if ((h & 0xf0) === fix) (n = h & 0x0f), pos++;
  else if (h === h16) (n = lengthField(2)), n < 0x10 && refuse();
  else if (h === h16 + 1) (n = lengthField(4)), n < 0x1_0000 && refuse();
  else return refuse();
  // Every item takes at least one byte.
  if (n > end - pos) refuse();
  return n;
}

function within(n: number, t: { min: number; max: number }): void {
  if (n < t.min || n > t.max) refuse();
}

function compile(t: FieldType<any>): Reader {
  switch (t.kind) {
    case 'uint':
      return () => {
        const v = readUint();
        within(v, t);
        return v;
      };
    case 'bool':
      return () => {
        const h = pos < end ? src[pos] : 0;
        if (h !== 0xc2 && h !== 0xc3) refuse();
        pos++;
        return h === 0xc3;
      };
    case 'bytes':
      return () => {
        const n = readLength(0, 0xc4);
        within(n, t);
        // A copy: callers own what they get, as from the reference decoder.
        return src.slice(pos, (pos += n));
      };
    case 'text':
      return () => {
        const n = readLength(0xa0, 0xd9);
        within(n, t);
        const s = src.subarray(pos, (pos += n));
        // ASCII is valid UTF-8: a short all-ASCII string (a store URL) skips the validation call.
        let high = n > 64 ? 0x80 : 0;
        for (let i = 0; i < n && high < 0x80; i++) high |= s[i]!;
        if (high >= 0x80 && !isUtf8(s)) refuse();
        return utf8.decode(s);
      };
    case 'list': {
      const item = compile(t.of);
      return () => {
        const n = readCount(0x90, 0xdc);
        within(n, t);
        const out: unknown[] = [];
        for (let i = 0; i < n; i++) out.push(item());
        return out;
      };
    }
    case 'struct': {
      const keys = t.fields.map((f) => f.key);
      const names = t.fields.map((f) => f.name);
      const optional = t.fields.map((f) => f.optional);
      const readers = t.fields.map((f) => compile(f.type));
      const nf = keys.length;
      return () => {
        let n = readCount(0x80, 0xde);
        const out: Record<string, unknown> = {};
        let fi = 0;
        for (; n > 0; n--) {
          const k = readUint();
          // Keys ascend strictly: skipped fields must be optional, a repeated or unknown key finds no match.
          while (fi < nf && keys[fi]! < k) if (!optional[fi++]) refuse();
          if (fi === nf || keys[fi] !== k) refuse();
          out[names[fi]!] = readers[fi]!();
          fi++;
        }
        for (; fi < nf; fi++) if (!optional[fi]) refuse();
        return out;
      };
    }
  }
}

const compiled = new WeakMap<StructT<any>, Reader>();

/** The decoded value if `input` is canonical bytes of `t`, else undefined (the caller finds out why). */
export function decodeCanonical<O>(t: StructT<O>, input: Uint8Array): O | undefined {
  let read = compiled.get(t);
  if (!read) compiled.set(t, (read = compile(t)));
  try {
    if (input.length > t.maxSize) return undefined;
    // Always a fresh plain view: slices of a Buffer are plain copies too, and no getter or
    // proxy trap of the caller's object runs during the walk (the state above is shared).
    src = new Uint8Array(input.buffer, input.byteOffset, input.length);
    pos = 0;
    end = src.length;
    const v = read();
    return pos === end ? (v as O) : undefined;
  } catch {
    // Refused, or an odd input (a detached buffer, say): either way the reference decides.
    return undefined;
  } finally {
    src = EMPTY; // do not keep the caller's bytes alive
  }
}
