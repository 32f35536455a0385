/**
 * Shared machinery of the property tests (test/property.*.test.ts): the outcome check
 * every decoder and verifier must pass, schema-driven arbitraries of valid values, an
 * independent msgpack model with a reference encoder (shortest or deliberately widened
 * forms), an independent validity oracle for that model, and byte-level mutations.
 *
 * This file is a test file only so that it can live under the test/property.* names;
 * the tests at its end check the machinery itself and run only when this file is the
 * one vitest is running (importing it from another file registers nothing).
 */
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { ERROR_CODES, KeypostError, type ErrorCode } from '../src/errors.js';
import { encode, type FieldType, type StructT } from '../src/wire/codec.js';
import { labelled, LABELS, PURPOSE, type Label } from '../src/protocol/index.js';
import { makeUser, type User } from './helpers.js';
import * as schema from '../src/wire/schema.js';

/** Every property runs this many cases (CI runs them all). */
export const RUNS = 10_000;
/** "Nothing hangs": one call on one small input taking longer than this fails the property. */
export const SLOW_CALL_MS = 2_000;

export type AnyStruct = StructT<any>;
export type AnyField = FieldType<any>;

// ---- the outcome every decoder and verifier must have --------------------------------

export type Outcome<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; error: KeypostError };

/**
 * Run `f`; return its value or its KeypostError. Anything else thrown (TypeError,
 * RangeError, a KeypostError with a code outside ERROR_CODES) and any call slower than
 * SLOW_CALL_MS fails the property with a description of what happened.
 */
export function attempt<T>(what: string | (() => string), f: () => T): Outcome<T> {
  const name = () => (typeof what === 'string' ? what : what());
  const t0 = performance.now();
  let r: Outcome<T>;
  // Most calls refuse their input: skip capturing a stack trace for each expected KeypostError.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    r = { ok: true, value: f() };
  } catch (e) {
    Error.stackTraceLimit = limit;
    if (!(e instanceof KeypostError)) {
      // Run it again (the functions under test are deterministic) to report a stack trace.
      let again: unknown = e;
      try {
        f();
      } catch (e2) {
        again = e2;
      }
      const d = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
      throw new Error(`${name()} threw ${d} instead of a KeypostError`, { cause: again });
    }
    if (!Object.prototype.hasOwnProperty.call(ERROR_CODES, e.code)) throw new Error(`${name()} threw unregistered code ${String(e.code)}`);
    r = { ok: false, code: e.code, error: e };
  } finally {
    Error.stackTraceLimit = limit;
  }
  const ms = performance.now() - t0;
  if (ms > SLOW_CALL_MS) throw new Error(`${name()} took ${ms.toFixed(0)} ms on one input`);
  return r;
}

export function check(cond: unknown, msg: string | (() => string)): asserts cond {
  if (!cond) throw new Error(typeof msg === 'string' ? msg : msg());
}

export const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
export const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
/**
 * Structural equality of decoded values: byte strings by content (msgpackr caches a
 * `dataView` property on every Uint8Array it reads, so byte strings that have been
 * decoded from carry an extra own property), arrays by element, plain objects by their
 * own keys, everything else with Object.is.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Object.getPrototypeOf(a) === Object.getPrototypeOf(b) && same(a, b);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual((a as never)[k], (b as never)[k]));
  }
  return Object.is(a, b);
}
export const concatBytes = (...p: Uint8Array[]) => new Uint8Array(Buffer.concat(p));
export const utf8Length = (s: string) => Buffer.byteLength(s, 'utf8');

// ---- the schema ----------------------------------------------------------------------

const isStruct = (v: unknown): v is AnyStruct => typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'struct';

/** Every structure schema.ts exports, by export name. */
export const STRUCTS: ReadonlyArray<readonly [string, AnyStruct]> = Object.entries(schema)
  .filter((e): e is [string, AnyStruct] => isStruct(e[1]))
  .sort((a, b) => a[0].localeCompare(b[0]));

/** Exports of schema.ts that are not structures (checked below so a new struct is never missed). */
export const NON_STRUCT_EXPORTS = Object.keys(schema).filter((k) => !isStruct((schema as Record<string, unknown>)[k]));

// ---- arbitraries of valid values, driven by the field definitions ------------------------

/** Cheap deterministic filler: large byte strings without generating each byte through fast-check. */
export function fill(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  if (seed === 0) return b;
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const uniq = <T>(xs: T[]) => [...new Set(xs)];

/** Lengths in min..max (capped), biased to both ends. */
export function lengthArb(min: number, max: number, cap: number): fc.Arbitrary<number> {
  const hi = Math.min(max, Math.max(min, cap));
  return fc.oneof(
    { arbitrary: fc.constantFrom(...uniq([min, hi, Math.min(hi, min + 1), Math.max(min, hi - 1)])), weight: 2 },
    { arbitrary: fc.integer({ min, max: Math.min(hi, min + 48) }), weight: 6 },
    { arbitrary: fc.integer({ min, max: hi }), weight: 1 },
  );
}

export function bytesArb(min: number, max: number, cap = 4096): fc.Arbitrary<Uint8Array> {
  return fc.tuple(lengthArb(min, max, cap), fc.oneof({ arbitrary: fc.integer(), weight: 9 }, fc.constant(0))).map(([n, s]) => fill(n, s));
}

export function uintArb(min: number, max: number): fc.Arbitrary<number> {
  const edges = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
  const special = uniq([min, max, min + 1, max - 1, ...edges]).filter((x) => x >= min && x <= max);
  return fc.oneof(
    fc.constantFrom(...special),
    fc.integer({ min, max: Math.min(max, min + 300) }),
    fc.maxSafeNat().map((x) => min + (x % (max - min + 1))),
  );
}

const codePoint = fc.oneof(
  { arbitrary: fc.integer({ min: 0x20, max: 0x7e }), weight: 8 },
  { arbitrary: fc.integer({ min: 0, max: 0x7f }), weight: 1 },
  { arbitrary: fc.integer({ min: 0x80, max: 0x7ff }), weight: 1 },
  { arbitrary: fc.integer({ min: 0x800, max: 0xffff }).filter((c) => c < 0xd800 || c > 0xdfff), weight: 1 },
  { arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }), weight: 1 },
);

/** Trim (by code points) to at most `max` UTF-8 bytes, then pad with 'a' to at least `min`. */
export function fitText(s: string, min: number, max: number): string {
  if (utf8Length(s) > max) {
    const cps = Array.from(s);
    let n = utf8Length(s);
    while (n > max) n -= utf8Length(cps.pop()!);
    s = cps.join('');
  }
  const n = utf8Length(s);
  return n < min ? s + 'a'.repeat(min - n) : s;
}

export function textArb(min: number, max: number, cap = 400): fc.Arbitrary<string> {
  const hi = Math.min(max, Math.max(min, cap));
  return fc.oneof(
    { arbitrary: fc.array(codePoint, { maxLength: Math.min(hi, 64) }).map((cps) => fitText(String.fromCodePoint(...cps), min, hi)), weight: 6 },
    // At the limit, in one-, two-, three- and four-byte characters (the last may be short of it).
    { arbitrary: fc.constantFrom('a', 'é', '€', '😀').map((c) => fitText(c.repeat(hi), min, hi)), weight: 1 },
    { arbitrary: lengthArb(min, hi, hi).map((n) => 'x'.repeat(n)), weight: 1 },
  );
}

const arbCache = new Map<AnyField, fc.Arbitrary<unknown>>();

/** Encodings of valid values (the rare value over the whole-structure limit is dropped). */
export function validEncodingArb(s: AnyStruct): fc.Arbitrary<Uint8Array> {
  return validArb(s)
    .map((v) => {
      const r = attempt(`encode ${s.name}`, () => encode(s, v));
      return r.ok ? r.value : null;
    })
    .filter((b): b is Uint8Array => b !== null);
}

/** Random valid values of a field type (lists and byte strings kept small unless the limit is small). */
export function validArb(t: AnyField): fc.Arbitrary<any> {
  let a = arbCache.get(t);
  if (a) return a;
  switch (t.kind) {
    case 'uint':
      a = uintArb(t.min, t.max);
      break;
    case 'bool':
      a = fc.boolean();
      break;
    case 'bytes':
      a = bytesArb(t.min, t.max);
      break;
    case 'text':
      a = textArb(t.min, t.max);
      break;
    case 'list': {
      const cap = t.max <= 32 ? t.max : 4;
      a = fc.oneof(
        { arbitrary: fc.array(validArb(t.of), { minLength: t.min, maxLength: Math.max(t.min, Math.min(cap, 4)) }), weight: 6 },
        { arbitrary: fc.array(validArb(t.of), { minLength: Math.max(t.min, cap), maxLength: Math.max(t.min, cap) }), weight: 1 },
      );
      break;
    }
    case 'struct': {
      const rec: Record<string, fc.Arbitrary<unknown>> = {};
      const required: string[] = [];
      for (const f of t.fields) {
        rec[f.name] = validArb(f.type);
        if (!f.optional) required.push(f.name);
      }
      a = fc.record(rec, { requiredKeys: required }).map((o) => ({ ...o }));
      break;
    }
  }
  arbCache.set(t, a);
  return a;
}

// ---- an independent msgpack model and reference encoder ------------------------------------

/** A msgpack value as it sits on the wire: the node type says which family of headers encodes it. */
export type M =
  | { t: 'int'; v: number }
  | { t: 'big'; v: bigint }
  | { t: 'float'; v: number; f32: boolean }
  | { t: 'str'; v: string }
  | { t: 'rawstr'; v: Uint8Array }
  | { t: 'bin'; v: Uint8Array }
  | { t: 'arr'; v: M[] }
  | { t: 'map'; v: [M, M][] }
  | { t: 'bool'; v: boolean }
  | { t: 'nil' }
  | { t: 'ext'; type: number; data: Uint8Array };

export const mInt = (v: number): M => ({ t: 'int', v });
export const mBin = (v: Uint8Array): M => ({ t: 'bin', v });
export const mStr = (v: string): M => ({ t: 'str', v });

/** The model of a valid value of `t` (maps with keys in ascending order, as the codec writes them). */
export function toModel(t: AnyField, v: any): M {
  switch (t.kind) {
    case 'uint':
      return mInt(v);
    case 'bool':
      return { t: 'bool', v };
    case 'bytes':
      return mBin(v);
    case 'text':
      return mStr(v);
    case 'list':
      return { t: 'arr', v: (v as unknown[]).map((x) => toModel(t.of, x)) };
    case 'struct':
      return { t: 'map', v: t.fields.filter((f) => v[f.name] !== undefined).map((f) => [mInt(f.key), toModel(f.type, v[f.name])] as [M, M]) };
  }
}

export interface Encoded {
  bytes: Uint8Array;
  /** True when some header was written in a longer form than needed: not canonical. */
  widened: boolean;
}

/**
 * Encode a model. `forms` null writes every header in its shortest form (the canonical
 * encoding); otherwise each header takes candidate `forms[i] % n` in turn, where
 * candidate 0 is the shortest and the others are longer or signed forms of the same value.
 */
export function encodeModel(m: M, forms: readonly number[] | null = null): Encoded {
  const out = new Writer();
  let fi = 0;
  let widened = false;
  const choose = (n: number): number => {
    if (!forms || forms.length === 0 || n <= 1) return 0;
    const c = forms[fi++ % forms.length]! % n;
    if (c !== 0) widened = true;
    return c;
  };
  const header = (cands: Array<[number, number]>, n: number) => {
    // cands: [first byte, width of the length/value that follows (0: packed into the first byte)]
    const [b, w] = cands[choose(cands.length)]!;
    out.u8(w === 0 ? b | n : b);
    if (w) out.uint(n, w);
  };
  const lenCands = (n: number, fix: number | null, fixMax: number, b8: number | null, b16: number, b32: number) => {
    const c: Array<[number, number]> = [];
    if (fix !== null && n <= fixMax) c.push([fix, 0]);
    if (b8 !== null && n <= 0xff) c.push([b8, 1]);
    if (n <= 0xffff) c.push([b16, 2]);
    c.push([b32, 4]);
    return c;
  };
  const walk = (m: M): void => {
    switch (m.t) {
      case 'int': {
        const v = m.v;
        const c: Array<[number, number]> = [];
        if (v >= 0) {
          if (v <= 0x7f) c.push([0x00, 0]);
          if (v <= 0xff) c.push([0xcc, 1]);
          if (v <= 0xffff) c.push([0xcd, 2]);
          if (v <= 0xffffffff) c.push([0xce, 4]);
          c.push([0xcf, 8]);
          if (v <= 0x7f) c.push([0xd0, 1]);
          if (v <= 0x7fff) c.push([0xd1, 2]);
          if (v <= 0x7fffffff) c.push([0xd2, 4]);
          c.push([0xd3, 8]);
        } else {
          if (v >= -32) c.push([0xe0, -1]);
          if (v >= -0x80) c.push([0xd0, 1]);
          if (v >= -0x8000) c.push([0xd1, 2]);
          if (v >= -0x80000000) c.push([0xd2, 4]);
          c.push([0xd3, 8]);
        }
        const [b, w] = c[choose(c.length)]!;
        if (w === 0) out.u8(v);
        else if (w === -1) out.u8(v & 0xff);
        else {
          out.u8(b);
          out.int(BigInt(v), w);
        }
        return;
      }
      case 'big':
        out.u8(m.v >= 0n ? 0xcf : 0xd3);
        out.int(m.v, 8);
        return;
      case 'float':
        if (m.f32) {
          out.u8(0xca);
          out.f32(m.v);
        } else {
          out.u8(0xcb);
          out.f64(m.v);
        }
        return;
      case 'str':
      case 'rawstr': {
        const b = m.t === 'str' ? Buffer.from(m.v, 'utf8') : m.v;
        header(lenCands(b.length, 0xa0, 31, 0xd9, 0xda, 0xdb), b.length);
        out.bytes(b);
        return;
      }
      case 'bin':
        header(lenCands(m.v.length, null, 0, 0xc4, 0xc5, 0xc6), m.v.length);
        out.bytes(m.v);
        return;
      case 'arr':
        header(lenCands(m.v.length, 0x90, 15, null, 0xdc, 0xdd), m.v.length);
        m.v.forEach(walk);
        return;
      case 'map':
        header(lenCands(m.v.length, 0x80, 15, null, 0xde, 0xdf), m.v.length);
        for (const [k, v] of m.v) {
          walk(k);
          walk(v);
        }
        return;
      case 'bool':
        out.u8(m.v ? 0xc3 : 0xc2);
        return;
      case 'nil':
        out.u8(0xc0);
        return;
      case 'ext': {
        const n = m.data.length;
        const fixed = [1, 2, 4, 8, 16].indexOf(n);
        if (fixed >= 0) out.u8(0xd4 + fixed);
        else if (n <= 0xff) out.u8(0xc7), out.u8(n);
        else if (n <= 0xffff) out.u8(0xc8), out.uint(n, 2);
        else out.u8(0xc9), out.uint(n, 4);
        out.u8(m.type & 0xff);
        out.bytes(m.data);
        return;
      }
    }
  };
  walk(m);
  return { bytes: out.done(), widened };
}

class Writer {
  private buf = new Uint8Array(256);
  private n = 0;
  private room(k: number) {
    if (this.n + k <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    b.set(this.buf.subarray(0, this.n));
    this.buf = b;
  }
  u8(x: number) {
    this.room(1);
    this.buf[this.n++] = x & 0xff;
  }
  uint(x: number, w: number) {
    this.int(BigInt(x), w);
  }
  int(x: bigint, w: number) {
    this.room(w);
    let v = BigInt.asUintN(w * 8, x);
    for (let i = w - 1; i >= 0; i--) {
      this.buf[this.n + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    this.n += w;
  }
  f32(x: number) {
    this.room(4);
    new DataView(this.buf.buffer).setFloat32(this.n, x);
    this.n += 4;
  }
  f64(x: number) {
    this.room(8);
    new DataView(this.buf.buffer).setFloat64(this.n, x);
    this.n += 8;
  }
  bytes(b: Uint8Array) {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  done() {
    return this.buf.slice(0, this.n);
  }
}

// ---- the validity oracle -----------------------------------------------------------------

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type Verdict = { ok: true; value: any } | { ok: false; why: string };
const no = (why: string): Verdict => ({ ok: false, why });

/**
 * What a decoder of `t` must make of model `m`, written independently of codec.ts from
 * the field definitions and the spec's rules: the value, or why it must be refused.
 * (Canonical header forms and the whole-input size limit are the caller's part.)
 */
export function judge(t: AnyField, m: M, path = '$'): Verdict {
  switch (t.kind) {
    case 'uint':
      if (m.t !== 'int') return no(`${path}: ${m.t} where an integer belongs`);
      return m.v >= t.min && m.v <= t.max ? { ok: true, value: m.v } : no(`${path}: ${m.v} outside ${t.min}..${t.max}`);
    case 'bool':
      return m.t === 'bool' ? { ok: true, value: m.v } : no(`${path}: ${m.t} where a boolean belongs`);
    case 'bytes':
      if (m.t !== 'bin') return no(`${path}: ${m.t} where binary belongs`);
      return m.v.length >= t.min && m.v.length <= t.max ? { ok: true, value: new Uint8Array(m.v) } : no(`${path}: ${m.v.length} bytes`);
    case 'text': {
      let s: string;
      if (m.t === 'str') s = m.v;
      else if (m.t === 'rawstr') {
        try {
          s = strictUtf8.decode(m.v);
        } catch {
          return no(`${path}: invalid UTF-8`);
        }
        if (!same(Buffer.from(s, 'utf8'), m.v)) return no(`${path}: UTF-8 that does not round-trip`);
      } else return no(`${path}: ${m.t} where text belongs`);
      const n = utf8Length(s);
      return n >= t.min && n <= t.max ? { ok: true, value: s } : no(`${path}: ${n} UTF-8 bytes`);
    }
    case 'list': {
      if (m.t !== 'arr') return no(`${path}: ${m.t} where an array belongs`);
      if (m.v.length < t.min || m.v.length > t.max) return no(`${path}: ${m.v.length} items`);
      const out: unknown[] = [];
      for (let i = 0; i < m.v.length; i++) {
        const r = judge(t.of, m.v[i]!, `${path}[${i}]`);
        if (!r.ok) return r;
        out.push(r.value);
      }
      return { ok: true, value: out };
    }
    case 'struct': {
      if (m.t !== 'map') return no(`${path}: ${m.t} where a map belongs`);
      const out: Record<string, unknown> = {};
      let last = -1;
      for (const [k, v] of m.v) {
        if (k.t !== 'int' || k.v < 0) return no(`${path}: key of type ${k.t}`);
        if (k.v <= last) return no(`${path}: keys not strictly ascending`);
        last = k.v;
        const f = t.fields.find((x) => x.key === k.v);
        if (!f) return no(`${path}: unknown key ${k.v}`);
        const r = judge(f.type, v, `${path}.${f.name}`);
        if (!r.ok) return r;
        out[f.name] = r.value;
      }
      for (const f of t.fields) if (!f.optional && !(f.name in out)) return no(`${path}.${f.name}: missing`);
      // Same field order as a decoder builds (schema order), for strict deep equality.
      const ordered: Record<string, unknown> = {};
      for (const f of t.fields) if (f.name in out) ordered[f.name] = out[f.name];
      return { ok: true, value: ordered };
    }
  }
}

/** The full verdict on encoded input: accepted exactly when valid, canonical and within the size limit. */
export function expectedDecode(s: AnyStruct, m: M, enc: Encoded): Verdict {
  if (enc.bytes.length > s.maxSize) return no('over maxSize');
  if (enc.widened) return no('non-canonical header');
  return judge(s, m);
}

/**
 * An independent msgpack reader: the model of `b`, or null if `b` is not exactly one
 * msgpack item (truncated, trailing bytes, the never-used byte 0xc1). Integers that fit
 * a double exactly become 'int' nodes whatever their encoding, strings keep their raw
 * bytes ('rawstr'), so that re-encoding the model in shortest form says whether `b` was canonical.
 */
export function parseModel(b: Uint8Array): M | null {
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  let pos = 0;
  const need = (n: number) => {
    if (n > b.length - pos) throw TRUNCATED;
  };
  const uint = (w: number): number => {
    need(w);
    const v = w === 1 ? dv.getUint8(pos) : w === 2 ? dv.getUint16(pos) : dv.getUint32(pos);
    pos += w;
    return v;
  };
  const take = (n: number) => {
    need(n);
    pos += n;
    return b.subarray(pos - n, pos);
  };
  const int64 = (signed: boolean): M => {
    need(8);
    const v = signed ? dv.getBigInt64(pos) : dv.getBigUint64(pos);
    pos += 8;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? mInt(Number(v)) : { t: 'big', v };
  };
  const items = (n: number): M[] => {
    need(n); // every item takes at least one byte
    const out: M[] = [];
    for (let i = 0; i < n; i++) out.push(item());
    return out;
  };
  const pairs = (n: number): [M, M][] => {
    need(2 * n);
    const out: [M, M][] = [];
    for (let i = 0; i < n; i++) out.push([item(), item()]);
    return out;
  };
  const ext = (n: number): M => {
    need(1 + n);
    const type = dv.getInt8(pos++);
    return { t: 'ext', type, data: take(n) };
  };
  function item(): M {
    need(1);
    const t = b[pos++]!;
    if (t <= 0x7f) return mInt(t);
    if (t >= 0xe0) return mInt(t - 0x100);
    if (t <= 0x8f) return { t: 'map', v: pairs(t & 0x0f) };
    if (t <= 0x9f) return { t: 'arr', v: items(t & 0x0f) };
    if (t <= 0xbf) return { t: 'rawstr', v: take(t & 0x1f) };
    switch (t) {
      case 0xc0:
        return { t: 'nil' };
      case 0xc2:
      case 0xc3:
        return { t: 'bool', v: t === 0xc3 };
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return mBin(take(uint(1 << (t - 0xc4))));
      case 0xc7:
      case 0xc8:
      case 0xc9:
        return ext(uint(1 << (t - 0xc7)));
      case 0xca: {
        need(4);
        const v = dv.getFloat32(pos);
        pos += 4;
        return { t: 'float', v, f32: true };
      }
      case 0xcb: {
        need(8);
        const v = dv.getFloat64(pos);
        pos += 8;
        return { t: 'float', v, f32: false };
      }
      case 0xcc:
      case 0xcd:
      case 0xce:
        return mInt(uint(1 << (t - 0xcc)));
      case 0xcf:
        return int64(false);
      case 0xd0:
        need(1);
        return mInt(dv.getInt8(pos++));
      case 0xd1:
        need(2);
        return mInt(dv.getInt16((pos += 2) - 2));
      case 0xd2:
        need(4);
        return mInt(dv.getInt32((pos += 4) - 4));
      case 0xd3:
        return int64(true);
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        return ext(1 << (t - 0xd4));
      case 0xd9:
      case 0xda:
      case 0xdb:
        return { t: 'rawstr', v: take(uint(1 << (t - 0xd9))) };
      case 0xdc:
      case 0xdd:
        return { t: 'arr', v: items(uint(t === 0xdc ? 2 : 4)) };
      case 0xde:
      case 0xdf:
        return { t: 'map', v: pairs(uint(t === 0xde ? 2 : 4)) };
      default: // 0xc1: never used
        throw TRUNCATED;
    }
  }
  try {
    const m = item();
    return pos === b.length ? m : null;
  } catch (e) {
    if (e === TRUNCATED) return null;
    throw e;
  }
}
/** Thrown (not an Error: no stack to capture) by parseModel on input that is not one msgpack item. */
const TRUNCATED = Symbol('not msgpack');

/**
 * The verdict of the spec on any input bytes for structure `s`: within the size limit,
 * exactly one msgpack item, valid per the schema, and written in shortest forms.
 */
export function oracleDecode(s: AnyStruct, bytes: Uint8Array): Verdict {
  if (bytes.length > s.maxSize) return no('over maxSize');
  const m = parseModel(bytes);
  if (!m) return no('not one msgpack item');
  const r = judge(s, m);
  if (!r.ok) return r;
  return same(encodeModel(m).bytes, bytes) ? r : no('not in shortest forms');
}

// ---- arbitrary msgpack models, and perturbations of valid ones -----------------------------

const intEdges = [0, 1, -1, -32, -33, 127, 128, -128, -129, 255, 256, 65535, 65536, -32768, -32769, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40, -(2 ** 40), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];

export const intNode: fc.Arbitrary<M> = fc
  .oneof(fc.integer({ min: -40, max: 300 }), fc.constantFrom(...intEdges), fc.maxSafeInteger())
  .map(mInt);
const bigNode: fc.Arbitrary<M> = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }).map((v) => ({ t: 'big', v }) as M);
const floatNode: fc.Arbitrary<M> = fc
  .tuple(fc.oneof(fc.double(), fc.constantFrom(0, -0, 1, 5, 2 ** 32, 0.5, NaN, Infinity)), fc.boolean())
  .map(([v, f32]) => ({ t: 'float', v, f32 }) as M);
const strNode: fc.Arbitrary<M> = textArb(0, 300, 300).map(mStr);
/** Invalid UTF-8 of the usual kinds: stray continuation, overlong, surrogate, truncated, out of range. */
const badUtf8 = fc.constantFrom(
  [0x80],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xed, 0xbf, 0xbf],
  [0xf0, 0x80, 0x80, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80],
  [0xe2, 0x82],
  [0xff],
  [0xfe],
  [0xef, 0xbb, 0xbf], // a BOM: valid, but decoders may strip it
);
const rawstrNode: fc.Arbitrary<M> = fc
  .tuple(fc.string({ maxLength: 40 }), badUtf8, fc.nat(), fc.string({ maxLength: 40 }))
  .map(([a, bad, _n, b]) => ({ t: 'rawstr', v: concatBytes(Buffer.from(a), Uint8Array.from(bad), Buffer.from(b)) }) as M);
const binNode: fc.Arbitrary<M> = bytesArb(0, 300, 300).map(mBin);
const extNode: fc.Arbitrary<M> = fc
  .tuple(fc.integer({ min: -128, max: 127 }), fc.oneof(fc.constantFrom(1, 2, 4, 8, 12, 16), fc.nat(20)), fc.integer())
  .map(([type, n, s]) => ({ t: 'ext', type, data: fill(n, s) }) as M);
const keyNode: fc.Arbitrary<M> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 12 }).map(mInt), weight: 8 },
  { arbitrary: intNode, weight: 1 },
  { arbitrary: fc.constantFrom('1', '2', 'body', '').map(mStr), weight: 1 },
  { arbitrary: fc.constantFrom<M>({ t: 'nil' }, { t: 'bool', v: true }, { t: 'float', v: 1, f32: false }), weight: 1 },
);

/** Any msgpack value: the building block of hostile structure. */
export const anyNode: fc.Arbitrary<M> = fc.letrec<{ node: M }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    { arbitrary: intNode, weight: 4 },
    { arbitrary: bigNode, weight: 1 },
    { arbitrary: floatNode, weight: 1 },
    { arbitrary: strNode, weight: 2 },
    { arbitrary: rawstrNode, weight: 1 },
    { arbitrary: binNode, weight: 3 },
    { arbitrary: fc.boolean().map((v) => ({ t: 'bool', v }) as M), weight: 1 },
    { arbitrary: fc.constant<M>({ t: 'nil' }), weight: 1 },
    { arbitrary: extNode, weight: 1 },
    { arbitrary: fc.array(tie('node'), { maxLength: 5 }).map((v) => ({ t: 'arr', v }) as M), weight: 2 },
    { arbitrary: fc.array(fc.tuple(keyNode, tie('node')), { maxLength: 6 }).map((v) => ({ t: 'map', v }) as M), weight: 3 },
  ),
})).node;

interface Site {
  node: M;
  type: AnyField | undefined;
  set(m: M): void;
}

function sitesOf(root: { m: M }, t: AnyField | undefined): Site[] {
  const out: Site[] = [];
  const walk = (m: M, t: AnyField | undefined, set: (x: M) => void) => {
    out.push({ node: m, type: t, set });
    if (m.t === 'map') {
      m.v.forEach((e, i) => {
        const k = e[0];
        const f = t?.kind === 'struct' && k.t === 'int' ? t.fields.find((x) => x.key === k.v) : undefined;
        walk(e[1], f?.type, (x) => (m.v[i] = [k, x]));
      });
    } else if (m.t === 'arr') {
      m.v.forEach((x, i) => walk(x, t?.kind === 'list' ? t.of : undefined, (y) => (m.v[i] = y)));
    }
  };
  walk(root.m, t, (x) => (root.m = x));
  return out;
}

/** A value of the right msgpack family that breaks one limit or rule of `t`. */
function violation(t: AnyField, node: M, k: number): M {
  const pick = <T>(xs: T[]) => xs[k % xs.length]!;
  switch (t.kind) {
    case 'uint': {
      const v = node.t === 'int' ? node.v : t.min;
      return pick<M>([
        mInt(t.max + 1),
        mInt(t.min - 1),
        { t: 'float', v, f32: false },
        { t: 'float', v, f32: true },
        { t: 'big', v: BigInt(v) },
        { t: 'float', v: v + 0.5, f32: false },
        mStr(String(v)),
        { t: 'bool', v: v !== 0 },
        mInt(-v - 1),
      ]);
    }
    case 'bool':
      return pick<M>([mInt(1), mInt(0), { t: 'nil' }, mStr('true')]);
    case 'bytes': {
      const src = node.t === 'bin' ? node.v : new Uint8Array(t.min);
      const cands: M[] = [mStr(Buffer.from(src).toString('latin1')), { t: 'arr', v: Array.from(src.subarray(0, 8), mInt) }, { t: 'ext', type: 1, data: src }];
      if (t.max <= 8192) cands.push(mBin(fill(t.max + 1, k + 1)));
      if (t.min > 0) cands.push(mBin(src.subarray(0, t.min - 1)));
      return pick(cands);
    }
    case 'text': {
      const s = node.t === 'str' ? node.v : 'x'.repeat(t.min);
      const cands: M[] = [
        mBin(Buffer.from(s)),
        { t: 'rawstr', v: concatBytes(Buffer.from(s), Uint8Array.of(0xff)) },
        { t: 'rawstr', v: concatBytes(Uint8Array.of(0xed, 0xa0, 0x80), Buffer.from(s)) },
        { t: 'rawstr', v: concatBytes(Buffer.from(s), Uint8Array.of(0xc0, 0x80)) },
      ];
      // One byte over the limit in one-, two-, three- and four-byte characters (UTF-16 length differs each time).
      if (t.max <= 8192) cands.push(...['y', 'é', '€', '😀'].map((c) => mStr(fitText(c.repeat(t.max), 0, t.max) + c)));
      if (t.min > 0) cands.push(mStr('z'.repeat(t.min - 1)));
      return pick(cands);
    }
    case 'list': {
      const items = node.t === 'arr' ? node.v : [];
      const cands: M[] = [{ t: 'map', v: items.map((x, i) => [mInt(i), x] as [M, M]) }, mBin(new Uint8Array(items.length))];
      if (t.max <= 64 && items.length > 0) cands.push({ t: 'arr', v: Array.from({ length: t.max + 1 }, (_, i) => items[i % items.length]!) });
      if (t.min > 0) cands.push({ t: 'arr', v: items.slice(0, t.min - 1) });
      return pick(cands);
    }
    case 'struct': {
      const entries = node.t === 'map' ? node.v : [];
      return pick<M>([{ t: 'arr', v: entries.map((e) => e[1]) }, { t: 'map', v: entries.map(([kk, v]) => [kk.t === 'int' ? mInt(kk.v + 1) : kk, v]) }, { t: 'nil' }]);
    }
  }
}

export interface Perturbation {
  site: number;
  op: number;
  k: number;
  alt: M;
}

export const perturbationArb: fc.Arbitrary<Perturbation> = fc.record({ site: fc.nat(), op: fc.nat(7), k: fc.nat(), alt: anyNode });

/** Apply perturbations to a model (in place on a fresh model; valid values are not touched). */
export function perturb(m: M, t: AnyField, ps: readonly Perturbation[]): M {
  const root = { m };
  for (const p of ps) {
    const sites = sitesOf(root, t);
    const s = sites[p.site % sites.length]!;
    const n = s.node;
    switch (p.op) {
      case 0: // replace by anything
        s.set(p.alt);
        break;
      case 1:
      case 2: // break one rule of the schema type at this place
        s.set(s.type ? violation(s.type, n, p.k) : p.alt);
        break;
      case 3: // map surgery: drop, add unknown or duplicate key, swap, string key
        if (n.t === 'map' && n.v.length > 0) {
          const i = p.k % n.v.length;
          const j = (p.k >> 4) % n.v.length;
          const kk = [
            () => n.v.splice(i, 1),
            () => n.v.splice(i, 0, [mInt((p.k >> 8) % 16), p.alt]),
            () => n.v.splice(i, 0, [n.v[i]![0], n.v[i]![1]]),
            () => ([n.v[i], n.v[j]] = [n.v[j]!, n.v[i]!]),
            () => (n.v[i] = [n.v[i]![0].t === 'int' ? mStr(String(n.v[i]![0].v)) : n.v[i]![0], n.v[i]![1]]),
            () => n.v.push([mInt(20 + (p.k % 100)), p.alt]),
          ];
          kk[(p.k >> 12) % kk.length]!();
        } else if (n.t === 'arr' && n.v.length > 0) {
          // array surgery: swap, duplicate or drop items (order and uniqueness rules live here)
          const i = p.k % n.v.length;
          const j = (p.k >> 4) % n.v.length;
          const kk = [() => ([n.v[i], n.v[j]] = [n.v[j]!, n.v[i]!]), () => n.v.splice(i, 0, n.v[i]!), () => n.v.splice(i, 1), () => n.v.reverse()];
          kk[(p.k >> 12) % kk.length]!();
        } else s.set(p.alt);
        break;
      case 4: // same number, other family (float, 64-bit)
        if (n.t === 'int') s.set(p.k % 2 ? { t: 'big', v: BigInt(n.v) } : { t: 'float', v: n.v, f32: p.k % 4 === 0 });
        else s.set(s.type ? violation(s.type, n, p.k) : p.alt);
        break;
      case 5: // wrap or empty
        s.set(p.k % 2 ? { t: 'arr', v: [n] } : n.t === 'arr' ? { t: 'arr', v: [] } : n.t === 'map' ? { t: 'map', v: [] } : { t: 'nil' });
        break;
      default: // 6, 7: leave this one out (more runs with few perturbations)
        break;
    }
  }
  return root.m;
}

/** Header forms: mostly canonical, sometimes some headers widened. */
export const formsArb: fc.Arbitrary<number[] | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 4 },
  { arbitrary: fc.array(fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.nat(8)), { minLength: 1, maxLength: 9 }), weight: 1 },
);

export interface Plausible {
  /** The model; when `byMsgpackr`, only approximately what `enc.bytes` holds. */
  m: M;
  enc: Encoded;
  byMsgpackr: boolean;
}

/** Structurally plausible encodings of `t`: a valid value's model, perturbed 0..3 times, encoded in some forms. */
export function plausibleArb(t: AnyStruct, values: fc.Arbitrary<any> = validArb(t)): fc.Arbitrary<Plausible> {
  return fc
    .tuple(
      fc.oneof({ arbitrary: values.map((v) => toModel(t, v)), weight: 9 }, { arbitrary: anyNode, weight: 1 }),
      fc.array(perturbationArb, { maxLength: 3 }),
      formsArb,
      fc.oneof({ weight: 3, arbitrary: fc.constant(-1) }, fc.nat(PACKERS.length - 1)),
    )
    .map(([m0, ps, forms, packer]) => {
      const m = perturb(structuredCloneModel(m0), t, ps);
      if (packer < 0) return { m, enc: encodeModel(m, forms), byMsgpackr: false };
      // Packed by msgpackr itself: its choices (an integral float packed as an integer, say)
      // decide what the input is, so only oracleDecode on the bytes can judge it.
      const bytes = packWithMsgpackr(PACKERS[packer]!, m);
      return { m, enc: { bytes, widened: !same(bytes, encodeModel(m).bytes) }, byMsgpackr: true };
    });
}

/** msgpackr packers: the codec's own options, always-16-bit map headers, and 32-bit floats. */
const PACKERS = [
  new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true, moreTypes: false, bundleStrings: false }),
  new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: false, moreTypes: false, bundleStrings: false }),
  new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true, useFloat32: 1, moreTypes: false, bundleStrings: false }),
];

/** The JS value msgpackr is given for a model (strings that are not UTF-8 are given as decoded with U+FFFD). */
function toJs(m: M): unknown {
  switch (m.t) {
    case 'int':
    case 'str':
    case 'bool':
    case 'float':
      return m.v;
    case 'big':
      return m.v;
    case 'rawstr':
      return new TextDecoder().decode(m.v);
    case 'bin':
      return m.v;
    case 'arr':
      return m.v.map(toJs);
    case 'map':
      return new Map(m.v.map(([k, v]) => [toJs(k), toJs(v)]));
    case 'nil':
    case 'ext':
      return null;
  }
}

function packWithMsgpackr(p: Packr, m: M): Uint8Array {
  const b = p.pack(toJs(m));
  return new Uint8Array(b.buffer, b.byteOffset, b.length).slice();
}

/** Copy the tree (not the byte strings, which nothing mutates). */
export function structuredCloneModel(m: M): M {
  if (m.t === 'arr') return { t: 'arr', v: m.v.map(structuredCloneModel) };
  if (m.t === 'map') return { t: 'map', v: m.v.map(([k, v]) => [structuredCloneModel(k), structuredCloneModel(v)] as [M, M]) };
  return m;
}

// ---- byte-level mutations ----------------------------------------------------------------

export interface Mutation {
  op: number;
  pos: number;
  pos2: number;
  val: number;
  junk: Uint8Array;
  partner: number;
}

const MAGIC = [0x00, 0x01, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd4, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff];

export const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.nat(9),
  pos: fc.nat(),
  pos2: fc.nat(),
  val: fc.nat(255),
  junk: fc.uint8Array({ minLength: 1, maxLength: 12 }),
  partner: fc.nat(),
});

/** 1..4 mutations (bit flip, byte replacement, truncation, insertion, appending, deletion, splicing). */
export const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

/** Apply mutations; `partners` are other valid encodings to splice with. */
export function mutate(input: Uint8Array, ms: readonly Mutation[], partners: readonly Uint8Array[] = []): Uint8Array {
  let b = input.slice();
  for (const m of ms) {
    const n = b.length;
    const at = n === 0 ? 0 : m.pos % n;
    switch (m.op) {
      case 0:
      case 1: // bit flip
        if (n) b[at] = b[at]! ^ (1 << (m.val & 7));
        break;
      case 2: // byte replacement
        if (n) b[at] = m.val;
        break;
      case 3: // msgpack-significant byte
        if (n) b[at] = MAGIC[m.val % MAGIC.length]!;
        break;
      case 4: // truncation at any point
        b = b.slice(0, n === 0 ? 0 : m.pos % n);
        break;
      case 5: // insertion
        b = concatBytes(b.subarray(0, m.pos % (n + 1)), m.junk, b.subarray(m.pos % (n + 1)));
        break;
      case 6: // appended garbage
        b = concatBytes(b, m.junk);
        break;
      case 7: // deletion of a short run
        b = concatBytes(b.subarray(0, at), b.subarray(Math.min(n, at + 1 + (m.val % 8))));
        break;
      case 8:
      case 9: {
        // splice: a prefix of this one and a suffix of another valid one (or itself)
        const other = partners.length ? partners[m.partner % partners.length]! : b;
        b = concatBytes(b.subarray(0, m.pos % (n + 1)), other.subarray(m.pos2 % (other.length + 1)));
        break;
      }
    }
  }
  return b;
}

// ---- signed objects: fixtures, signer choices, containers ---------------------------------

/** The people of the property tests (deterministic keys, certificates valid around NOW). */
export const USERS: readonly User[] = [makeUser('prop-alice'), makeUser('prop-bob')];
export type KeyKind = 'identity' | 'device' | 'delegate';
export const KIND_PURPOSE = { device: PURPOSE.device, delegate: PURPOSE.storeDelegate } as const;

export const keyOf = (u: User, kind: KeyKind) => (kind === 'identity' ? u.identity : kind === 'device' ? u.device.key : u.delegate.key);
export const certOf = (u: User, kind: KeyKind) => (kind === 'identity' ? undefined : kind === 'device' ? u.device.cert! : u.delegate.cert!);
/** Every certificate of the fixtures, for swapping in where it does not belong. */
export const ALL_CERTS: readonly Uint8Array[] = USERS.flatMap((u) => [u.device.cert!, u.delegate.cert!]);

/**
 * Who signs a generated object, and how: the key of one of USERS, the certificate
 * attached (its own, none, or some other one), the label (right or wrong), or no real
 * signature at all.
 */
export interface SignerChoice {
  owner: number;
  kind: KeyKind;
  cert: 'own' | 'none' | 'other';
  otherCert: number;
  wrongLabel: boolean;
  randomSig: boolean;
}

const anyChoiceArb: fc.Arbitrary<SignerChoice> = fc.record({
  owner: fc.nat(USERS.length - 1),
  kind: fc.constantFrom<KeyKind>('identity', 'device', 'delegate'),
  cert: fc.constantFrom<SignerChoice['cert']>('own', 'own', 'none', 'other'),
  otherCert: fc.nat(ALL_CERTS.length - 1),
  wrongLabel: fc.boolean(),
  randomSig: fc.boolean(),
});

/** Signers for an object claiming to be from USERS[who]: mostly one allowed to sign it, sometimes anything. */
export function signerChoiceArb(allowed: readonly KeyKind[]): fc.Arbitrary<{ pick: (who: number) => SignerChoice }> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.constantFrom(...allowed).map((kind) => ({
        pick: (who: number): SignerChoice => ({ owner: who, kind, cert: 'own', otherCert: 0, wrongLabel: false, randomSig: false }),
      })),
    },
    { weight: 1, arbitrary: anyChoiceArb.map((c) => ({ pick: (_who: number) => c })) },
  );
}

export function attachedCert(c: SignerChoice): Uint8Array | undefined {
  if (c.cert === 'none') return undefined;
  if (c.cert === 'other') return ALL_CERTS[c.otherCert];
  return certOf(USERS[c.owner]!, c.kind);
}

/**
 * May an object claiming identity `claimed` (typed key) and signed per `c` verify?
 * Only when the claimed identity's own key made a real signature under the right label
 * with no certificate, or a subkey of an allowed kind did with its own certificate.
 */
export function authorized(c: SignerChoice, claimed: Uint8Array, allowed: readonly KeyKind[]): boolean {
  if (c.randomSig || c.wrongLabel) return false;
  const u = USERS[c.owner]!;
  if (!same(u.identity.typedKey, claimed)) return false;
  const cert = attachedCert(c);
  if (c.kind === 'identity') return cert === undefined && allowed.includes('identity');
  return cert !== undefined && same(cert, certOf(u, c.kind)!) && allowed.includes(c.kind);
}

const OTHER_LABEL: Record<string, Label> = { [LABELS.notification]: LABELS.receipt };
/** Sign `body` as `c` says: the signature the container should carry (`extra` as signBytes takes it). */
export function signAs(c: SignerChoice, label: Label, body: Uint8Array, extra: Uint8Array[] = []): Uint8Array {
  if (c.randomSig) return fill(64, body.length + 1);
  const l = c.wrongLabel ? (OTHER_LABEL[label] ?? LABELS.notification) : label;
  return keyOf(USERS[c.owner]!, c.kind).sign(labelled(l, ...extra, body));
}

/** The model of a signed container {1: body, 2: sig, 3?: cert}. */
export function containerModel(body: Uint8Array, sig: Uint8Array, cert: Uint8Array | undefined): M {
  const v: [M, M][] = [
    [mInt(1), mBin(body)],
    [mInt(2), mBin(sig)],
  ];
  if (cert) v.push([mInt(3), mBin(cert)]);
  return { t: 'map', v };
}

/** Mostly none, sometimes one or two perturbations (deep inputs need mostly intact structure). */
export const fewPerturbationsArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Perturbation[]>([]) },
  { weight: 1, arbitrary: fc.array(perturbationArb, { minLength: 1, maxLength: 2 }) },
);

/** Header forms for deep inputs: mostly canonical. */
export const fewFormsArb: fc.Arbitrary<number[] | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 9 },
  { arbitrary: fc.array(fc.oneof({ arbitrary: fc.constant(0), weight: 5 }, fc.nat(8)), { minLength: 1, maxLength: 9 }), weight: 1 },
);

/** A body given as a value, perturbed and encoded: its bytes, and whether it is still the intact canonical value. */
export function encodeBody(t: AnyStruct, v: unknown, ps: readonly Perturbation[], forms: number[] | null): { bytes: Uint8Array; intact: boolean } {
  const m0 = toModel(t, v);
  const active = ps.filter((p) => p.op < 6);
  const m = active.length ? perturb(structuredCloneModel(m0), t, active) : m0;
  const enc = encodeModel(m, forms);
  return { bytes: enc.bytes, intact: active.length === 0 && !enc.widened };
}

/** Byte strings that are valid Ed25519 / X25519 public keys, and a few that are not. */
export const SIGNING_KEYS: readonly Uint8Array[] = USERS.flatMap((u) => [u.identity.publicKey, u.device.key.publicKey, u.delegate.key.publicKey]);
export const ENCRYPTION_KEYS: readonly Uint8Array[] = USERS.map((u) => u.enc.publicKey);

// ---- the machinery's own checks --------------------------------------------------------------

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number', moreTypes: false, bundleStrings: false });

/** What msgpackr should decode a model to (only for the families with one obvious JS value). */
function plain(m: M): unknown {
  switch (m.t) {
    case 'int':
    case 'str':
    case 'bool':
      return m.v;
    case 'big':
      return Number(m.v);
    case 'float':
      return m.f32 ? Math.fround(m.v) : m.v;
    case 'bin':
      return Buffer.from(m.v);
    case 'nil':
      return null;
    case 'arr':
      return m.v.map(plain);
    case 'map': {
      const out = new Map();
      for (const [k, v] of m.v) out.set(plain(k), plain(v));
      return out;
    }
    default:
      return undefined;
  }
}
const hasOpaque = (m: M): boolean =>
  m.t === 'rawstr' || m.t === 'ext' || (m.t === 'arr' && m.v.some(hasOpaque)) || (m.t === 'map' && m.v.some(([k, v]) => hasOpaque(k) || hasOpaque(v)));

if (expect.getState().testPath === fileURLToPath(import.meta.url)) {
  describe('property machinery', () => {
    test('every export of schema.ts is a structure the property tests walk, or LIMITS', () => {
      expect(NON_STRUCT_EXPORTS).toEqual(['LIMITS']);
      expect(STRUCTS.length).toBeGreaterThanOrEqual(30);
    });

    test(`the reference encoder writes msgpack that msgpackr reads back as the model (${RUNS} runs)`, () => {
      fc.assert(
        fc.property(anyNode, formsArb, (m, forms) => {
          fc.pre(!hasOpaque(m));
          const { bytes } = encodeModel(m, forms);
          const got = unpackr.unpack(Buffer.from(bytes));
          check(isDeepStrictEqual(got, plain(m)), () => `model ${JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
        }),
        { numRuns: RUNS },
      );
    });

    test(`the reader parses what the reference encoder writes, and both oracles agree (${RUNS} runs)`, () => {
      const arb = fc.constantFrom(...STRUCTS).chain(([name, s]) => plausibleArb(s).map((p) => [name, s, p] as const));
      fc.assert(
        fc.property(arb, ([name, s, { m, enc, byMsgpackr }]) => {
          fc.pre(!byMsgpackr);
          const a = expectedDecode(s, m, enc);
          const b = oracleDecode(s, enc.bytes);
          check(a.ok === b.ok && (!a.ok || isDeepStrictEqual(a.value, (b as typeof a).value)), () => `${name}: oracles disagree on ${hex(enc.bytes)} (${a.ok ? 'ok' : a.why} / ${b.ok ? 'ok' : b.why})`);
        }),
        { numRuns: RUNS },
      );
    });

    test(`the oracle accepts every value the valid arbitraries make, as that value (${RUNS} runs)`, () => {
      const arb = fc.constantFrom(...STRUCTS).chain(([name, s]) => validArb(s).map((v) => [name, s, v] as const));
      fc.assert(
        fc.property(arb, ([name, s, v]) => {
          const r = judge(s, toModel(s, v));
          check(r.ok && isDeepStrictEqual(r.value, v), () => `${name}: oracle refuses a valid value (${r.ok ? 'differs' : r.why})`);
        }),
        { numRuns: RUNS },
      );
    });
  });
}
