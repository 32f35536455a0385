/**
 * The canonical msgpack engine. A schema (see schema.ts) lists each structure's integer
 * keys, types and limits; this file turns values into bytes and back.
 *
 * Canonical means: maps have unsigned integer keys in ascending order, no duplicates;
 * every integer, string, binary, array and map header uses its shortest form; only the
 * types a schema names appear (no floats, nil, extensions). The reference decoder first
 * scans the raw bytes (type bytes, lengths, UTF-8), then validates against the schema and
 * re-encodes: input that is not byte-for-byte the canonical encoding of what it decoded
 * to is refused. That comparison catches unsorted or duplicate keys, long-form headers
 * and anything else that would give one value two encodings, so a signature can never
 * be replayed under another byte form. `decode` first tries a single walk that accepts
 * only such canonical bytes (canonical.ts) and leaves every refusal, and so every error
 * code, to the reference.
 */
import { isUtf8 } from 'node:buffer';
// Not 'msgpackr': its Node entry loads msgpackr-extract, which package.json replaces with an
// empty stub, and then installs `undefined` as its native string extractor, so every string
// read throws and catches a TypeError (decoding about 3x slower). These entries skip that.
import { Packr } from 'msgpackr/pack';
import { Unpackr } from 'msgpackr/unpack';
import { KeypostError } from '../errors.js';
import { equal } from '../bytes/index.js';
import { decodeCanonical } from './canonical.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true, moreTypes: false, bundleStrings: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: 'number', moreTypes: false, bundleStrings: false });

const UTF8 = new TextEncoder();
/** Integers are unsigned 32-bit: times are Unix seconds (good to 2106), sizes < 4 GiB. */
export const MAX_UINT = 0xffff_ffff;

// ---- field types -------------------------------------------------------------------

interface Base<V> {
  readonly kind: string;
  /** Phantom: the TypeScript type of a decoded value. */
  readonly _v?: V;
}
export interface UintT extends Base<number> { kind: 'uint'; min: number; max: number }
export interface BytesT extends Base<Uint8Array> { kind: 'bytes'; min: number; max: number }
export interface TextT extends Base<string> { kind: 'text'; min: number; max: number }
export interface BoolT extends Base<boolean> { kind: 'bool' }
export interface ListT<V> extends Base<V[]> { kind: 'list'; of: FieldType<V>; min: number; max: number }
export interface StructT<O> extends Base<O> { kind: 'struct'; name: string; fields: readonly FieldDef[]; maxSize: number }
export type FieldType<V> = (UintT | BytesT | TextT | BoolT | ListT<any> | StructT<any>) & Base<V>;

interface FieldDef {
  readonly key: number;
  readonly name: string;
  readonly type: FieldType<any>;
  readonly optional: boolean;
}

export const uint = (max = MAX_UINT, min = 0): UintT => ({ kind: 'uint', min, max });
/** `bytes(32)` is exactly 32 bytes; `bytes(0, 1024)` is 0..1024. */
export const bytes = (minOrLen: number, max?: number): BytesT => ({ kind: 'bytes', min: minOrLen, max: max ?? minOrLen });
/** Text limits are in UTF-8 bytes. */
export const text = (max: number, min = 0): TextT => ({ kind: 'text', min, max });
export const bool = (): BoolT => ({ kind: 'bool' });
export const list = <V>(of: FieldType<V>, max: number, min = 0): ListT<V> => ({ kind: 'list', of, min, max });

type Spec = Record<string, readonly [number, FieldType<any>] | readonly [number, FieldType<any>, 'optional']>;
type ValueOf<F> = F extends Base<infer V> ? V : never;
type RequiredKeys<S extends Spec> = { [K in keyof S]: S[K] extends readonly [number, any, 'optional'] ? never : K }[keyof S];
type OptionalKeys<S extends Spec> = Exclude<keyof S, RequiredKeys<S>>;
export type Infer<S extends Spec> = { -readonly [K in RequiredKeys<S>]: ValueOf<S[K][1]> } & {
  -readonly [K in OptionalKeys<S>]?: ValueOf<S[K][1]>;
};
export type Decoded<T> = T extends StructT<infer O> ? O : never;

/** Define a structure. `maxSize` bounds its whole encoding, checked before decoding starts. */
export function struct<S extends Spec>(name: string, maxSize: number, spec: S): StructT<Infer<S>> {
  const fields = Object.entries(spec)
    .map(([n, d]) => ({ key: d[0], name: n, type: d[1], optional: d[2] === 'optional' }))
    .sort((a, b) => a.key - b.key);
  for (let i = 1; i < fields.length; i++) {
    if (fields[i]!.key === fields[i - 1]!.key) throw new Error(`${name}: duplicate key ${fields[i]!.key}`);
  }
  return { kind: 'struct', name, fields, maxSize };
}

// ---- conversion: value <-> msgpack data model, with validation -----------------------

const err = (code: 'WIRE_BAD_TYPE' | 'WIRE_TOO_LARGE' | 'WIRE_MISSING_FIELD' | 'WIRE_UNKNOWN_FIELD', path: string, what: string) =>
  new KeypostError(code, `${path}: ${what}`);

function checkLength(n: number, t: { min: number; max: number }, path: string, unit: string) {
  if (n > t.max) throw err('WIRE_TOO_LARGE', path, `${n} ${unit} > ${t.max}`);
  if (n < t.min) throw err('WIRE_BAD_TYPE', path, `${n} ${unit} < ${t.min}`);
}

/**
 * Validate `v` against `t`. `toWire` converts objects to Maps (for encoding);
 * otherwise Maps become objects and Buffers plain Uint8Arrays (for decoding).
 */
function convert(t: FieldType<any>, v: unknown, path: string, toWire: boolean): unknown {
  switch (t.kind) {
    case 'uint':
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw err('WIRE_BAD_TYPE', path, 'expected unsigned integer');
      if (v > t.max || v < t.min) throw err('WIRE_BAD_TYPE', path, `${v} outside ${t.min}..${t.max}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw err('WIRE_BAD_TYPE', path, 'expected boolean');
      return v;
    case 'bytes':
      if (!(v instanceof Uint8Array)) throw err('WIRE_BAD_TYPE', path, 'expected binary');
      checkLength(v.length, t, path, 'bytes');
      // Decoded Buffers are views into the input; copy so callers own what they get.
      return toWire ? v : new Uint8Array(v);
    case 'text': {
      if (typeof v !== 'string') throw err('WIRE_BAD_TYPE', path, 'expected text');
      // UTF-8 needs one to three bytes per UTF-16 unit: count bytes only when the bounds can't decide.
      if (v.length > t.max) throw err('WIRE_TOO_LARGE', path, `text longer than ${t.max} bytes`);
      if (v.length * 3 > t.max || v.length < t.min) checkLength(UTF8.encode(v).length, t, path, 'bytes');
      if (toWire && !v.isWellFormed()) throw err('WIRE_BAD_TYPE', path, 'text is not well-formed Unicode');
      return v;
    }
    case 'list': {
      if (!Array.isArray(v)) throw err('WIRE_BAD_TYPE', path, 'expected array');
      checkLength(v.length, t, path, 'items');
      return v.map((x, i) => convert(t.of, x, `${path}[${i}]`, toWire));
    }
    case 'struct':
      return toWire ? structToMap(t, v, path) : mapToStruct(t, v, path);
  }
}

function structToMap(t: StructT<any>, v: unknown, path: string): Map<number, unknown> {
  if (typeof v !== 'object' || v === null) throw err('WIRE_BAD_TYPE', path, `expected ${t.name}`);
  const o = v as Record<string, unknown>;
  const m = new Map<number, unknown>();
  for (const f of t.fields) {
    const x = o[f.name];
    if (x === undefined) {
      if (!f.optional) throw err('WIRE_MISSING_FIELD', `${path}.${f.name}`, 'required');
      continue;
    }
    m.set(f.key, convert(f.type, x, `${path}.${f.name}`, true));
  }
  for (const k of Object.keys(o)) {
    if (o[k] !== undefined && !t.fields.some((f) => f.name === k)) throw err('WIRE_UNKNOWN_FIELD', path, `no field ${k} in ${t.name}`);
  }
  return m;
}

function mapToStruct(t: StructT<any>, v: unknown, path: string): Record<string, unknown> {
  if (!(v instanceof Map)) throw err('WIRE_BAD_TYPE', path, `expected map for ${t.name}`);
  const out: Record<string, unknown> = {};
  for (const k of v.keys()) {
    if (!t.fields.some((f) => f.key === k)) throw err('WIRE_UNKNOWN_FIELD', path, `unknown key ${String(k)} in ${t.name}`);
  }
  for (const f of t.fields) {
    if (!v.has(f.key)) {
      if (!f.optional) throw err('WIRE_MISSING_FIELD', `${path}.${f.name}`, 'required');
      continue;
    }
    out[f.name] = convert(f.type, v.get(f.key), `${path}.${f.name}`, false);
  }
  return out;
}

// ---- the type scan: one pass over the raw bytes, before any parser sees them -------------

/**
 * keypost's data model has unsigned integers, booleans, strings, binaries, arrays and
 * maps: nothing else. Scanning the raw bytes for the type bytes outside that model makes
 * the error for a float, nil, negative integer or extension WIRE_BAD_TYPE by definition,
 * whatever a msgpack library would have turned it into; and truncation or trailing bytes
 * WIRE_MALFORMED. Binary and string payloads are skipped, so the cost is per item, not per byte.
 */
function scanTypes(b: Uint8Array, name: string): void {
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  let pos = 0;
  let pending = 1; // items still to read
  const need = (n: number) => {
    if (pos + n > b.length) throw new KeypostError('WIRE_MALFORMED', `${name}: truncated`);
  };
  while (pending > 0) {
    pending--;
    need(1);
    const t = b[pos++]!;
    let skip = 0;
    let str = false;
    if (t <= 0x7f || t === 0xc2 || t === 0xc3) skip = 0;
    else if (t <= 0x8f) pending += 2 * (t & 0x0f);
    else if (t <= 0x9f) pending += t & 0x0f;
    else if (t <= 0xbf) (skip = t & 0x1f), (str = true);
    else if (t === 0xcc) skip = 1;
    else if (t === 0xcd) skip = 2;
    else if (t === 0xce) skip = 4;
    else if (t === 0xc4 || t === 0xd9) (need(1), (skip = b[pos]!), (pos += 1), (str = t === 0xd9));
    else if (t === 0xc5 || t === 0xda) (need(2), (skip = view.getUint16(pos)), (pos += 2), (str = t === 0xda));
    else if (t === 0xc6 || t === 0xdb) (need(4), (skip = view.getUint32(pos)), (pos += 4), (str = t === 0xdb));
    else if (t === 0xdc) (need(2), (pending += view.getUint16(pos)), (pos += 2));
    else if (t === 0xdd) (need(4), (pending += view.getUint32(pos)), (pos += 4));
    else if (t === 0xde) (need(2), (pending += 2 * view.getUint16(pos)), (pos += 2));
    else if (t === 0xdf) (need(4), (pending += 2 * view.getUint32(pos)), (pos += 4));
    else throw new KeypostError('WIRE_BAD_TYPE', `${name}: type byte 0x${t.toString(16)} at ${pos - 1} is outside keypost's data model`);
    need(skip);
    // Invalid UTF-8 cannot be the canonical encoding of any string; refusing it here, before a
    // parser substitutes U+FFFD, keeps the code independent of length limits and libraries.
    if (str && !isUtf8(b.subarray(pos, pos + skip))) throw new KeypostError('WIRE_NONCANONICAL', `${name}: invalid UTF-8 at ${pos}`);
    pos += skip;
    // Every item takes at least one byte: a count beyond what is left is a truncation.
    if (pending > b.length - pos) throw new KeypostError('WIRE_MALFORMED', `${name}: truncated`);
  }
  if (pos !== b.length) throw new KeypostError('WIRE_MALFORMED', `${name}: ${b.length - pos} trailing bytes`);
}

// ---- public entry points -------------------------------------------------------------

/** Encode a value as the canonical bytes of structure `t`. Refuses values the schema refuses. */
export function encode<O>(t: StructT<O>, value: O): Uint8Array {
  const m = structToMap(t, value, t.name);
  const b = packr.pack(m);
  if (b.length > t.maxSize) throw new KeypostError('WIRE_TOO_LARGE', `${t.name}: ${b.length} bytes > ${t.maxSize}`);
  return new Uint8Array(b.buffer, b.byteOffset, b.length).slice();
}

/**
 * Decode canonical bytes of structure `t`. Throws KeypostError with a WIRE_* code for
 * anything oversized, malformed, truncated, trailing, unknown or non-canonical: the code
 * decodeReference gives, which is the one that decides every refusal.
 */
export function decode<O>(t: StructT<O>, input: Uint8Array): O {
  if (input instanceof Uint8Array) {
    const v = decodeCanonical(t, input);
    if (v !== undefined) return v;
  }
  return decodeReference(t, input);
}

/**
 * The specification of decode, and its error codes. Steps, in order: total size
 * (WIRE_TOO_LARGE); type scan (WIRE_MALFORMED, WIRE_BAD_TYPE, and WIRE_NONCANONICAL for
 * invalid UTF-8); parse (WIRE_MALFORMED); schema (WIRE_UNKNOWN_FIELD, WIRE_MISSING_FIELD,
 * WIRE_BAD_TYPE, WIRE_TOO_LARGE); re-encode and compare (WIRE_NONCANONICAL).
 */
export function decodeReference<O>(t: StructT<O>, input: Uint8Array): O {
  if (!(input instanceof Uint8Array)) throw new KeypostError('INVALID_ARGUMENT', `${t.name}: expected bytes`);
  if (input.length > t.maxSize) throw new KeypostError('WIRE_TOO_LARGE', `${t.name}: ${input.length} bytes > ${t.maxSize}`);
  scanTypes(input, t.name);
  let raw: unknown;
  try {
    // A fresh view: msgpackr caches a DataView on the object it is given; the caller's stays untouched.
    raw = unpackr.unpack(new Uint8Array(input.buffer, input.byteOffset, input.length));
  } catch (e) {
    throw new KeypostError('WIRE_MALFORMED', `${t.name}: ${(e as Error).message}`);
  }
  const value = mapToStruct(t, raw, t.name) as O;
  if (!equal(encode(t, value), input)) throw new KeypostError('WIRE_NONCANONICAL', `${t.name}: not the canonical encoding`);
  return value;
}
