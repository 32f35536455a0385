/**
 * Generates the keypost test vectors: one JSON file per area in vectors/, each a list of
 * cases with one scenario each. vectors/README.md defines the format.
 *
 * Deterministic: all randomness comes from seededRandom() with a fixed label per use,
 * Ed25519 signing is deterministic, the clock is the constant NOW, and JSON keys are
 * written in construction order. Running this twice gives byte-identical files; CI
 * regenerates them and fails on any difference.
 *
 * Expected outputs of valid cases are written from what the generator put in, not by
 * running the verifiers, so test/vectors.test.ts checks the implementation against an
 * independent statement of the result.
 *
 * Run with `npm run vectors`.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Point } from '@noble/ed25519';
import { concat, toHex, u32be, utf8 } from '../src/bytes/index.js';
import { crypto, seededRandom, type RandomSource } from '../src/crypto/index.js';
import { isErrorCode } from '../src/errors.js';
import { addressOf, addressToText, EncryptionKey, SigningKey } from '../src/identity/index.js';
import {
  ASSERTION_TYPE,
  certifySubkey,
  identitySigner,
  LABELS,
  labelled,
  leadingZeroBits,
  makeAssertion,
  makeFetchRequest,
  makeNotification,
  makeReceipt,
  makeRetraction,
  mintStamp,
  PURPOSE,
  requiredBits,
  revokeKey,
  sealEnvelope,
  subkeySigner,
  type AssertionContent,
  type Draft,
  type Label,
  type Signer,
} from '../src/protocol/index.js';
import { signBytes } from '../src/protocol/signed.js';
import { decode, encode, LIMITS, type StructT } from '../src/wire/index.js';
import * as S from '../src/wire/schema.js';

// ---- constants -----------------------------------------------------------------------

/** The fixed "current time" of every vector: 2026-09-21T14:13:20Z. */
const NOW = 1_790_000_000;
const SKEW = 300;
const DAY = 86_400;
/** Freshness window of receipts and fetch requests (src/protocol/delivery.ts FRESHNESS). */
const FRESHNESS = 600;
const STORE = 'https://store.example';
const OUT_DIR = dirname(fileURLToPath(import.meta.url));

const hx = (b: Uint8Array): string => toHex(b);
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const sha256 = (b: Uint8Array): Uint8Array => crypto().sha256(b);
/** The replay-cache key of a signed object: SHA-256 of its signed body bytes (not of the unsigned cert). */
const bodyHash = (t: StructT<S.Signed>, bytes: Uint8Array): Uint8Array => sha256(decode(t, bytes).body);
const rng = (label: string): RandomSource => seededRandom(`keypost vectors: ${label}`);

// Ed25519 public keys refused as small-order (the whole point has small order, or it has
// a small-order component), and encodings that are not canonical points at all.
const ED_IDENTITY_POINT = unhex('0100000000000000000000000000000000000000000000000000000000000000'); // order 1
const ED_ORDER_2 = unhex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'); // y = -1
const ED_ORDER_8 = unhex('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a');
const ED_Y_EQUALS_P = unhex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'); // y = p, not reduced
const ED_NEGATIVE_ZERO_X = unhex('0100000000000000000000000000000000000000000000000000000000000080'); // x = 0 with sign bit
const ED_NOT_ON_CURVE = unhex('0200000000000000000000000000000000000000000000000000000000000000'); // y = 2 has no x
// X25519 public keys of small order (u = 0, u = 1, a point of order 8, u = p which reduces to 0).
const X_ZERO = new Uint8Array(32);
const X_ONE = unhex('0100000000000000000000000000000000000000000000000000000000000000');
const X_ORDER_8 = unhex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');
const X_U_EQUALS_P = unhex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f');

// ---- a hand-written msgpack writer, for canonical and deliberately non-canonical bytes --

function be(n: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let v = BigInt(n);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
const B = (...xs: (number | Uint8Array)[]): Uint8Array => concat(...xs.map((x) => (typeof x === 'number' ? Uint8Array.of(x) : x)));

type IntWidth = 8 | 16 | 32 | 64;
/** Unsigned integer; shortest form unless `w` forces a wider one. */
function mpUint(n: number, w?: IntWidth): Uint8Array {
  if (w === undefined) {
    if (n < 0x80) return Uint8Array.of(n);
    w = n < 0x100 ? 8 : n < 0x10000 ? 16 : n < 2 ** 32 ? 32 : 64;
  }
  const tag = { 8: 0xcc, 16: 0xcd, 32: 0xce, 64: 0xcf }[w];
  return B(tag, be(n, w / 8));
}
type LenWidth = 'fix' | 8 | 16 | 32;
function mpStr(s: string | Uint8Array, w?: LenWidth): Uint8Array {
  const b = typeof s === 'string' ? utf8(s) : s;
  w ??= b.length < 32 ? 'fix' : b.length < 0x100 ? 8 : b.length < 0x10000 ? 16 : 32;
  if (w === 'fix') return B(0xa0 | b.length, b);
  return B({ 8: 0xd9, 16: 0xda, 32: 0xdb }[w], be(b.length, w / 8), b);
}
function mpBin(b: Uint8Array, w?: 8 | 16 | 32): Uint8Array {
  w ??= b.length < 0x100 ? 8 : b.length < 0x10000 ? 16 : 32;
  return B({ 8: 0xc4, 16: 0xc5, 32: 0xc6 }[w], be(b.length, w / 8), b);
}
type Key = number | Uint8Array;
function mpMap(pairs: [Key, Uint8Array][], w: 'fix' | 16 | 32 = pairs.length < 16 ? 'fix' : 16): Uint8Array {
  const head = w === 'fix' ? Uint8Array.of(0x80 | pairs.length) : B(w === 16 ? 0xde : 0xdf, be(pairs.length, w / 8));
  return concat(head, ...pairs.flatMap(([k, v]) => [typeof k === 'number' ? mpUint(k) : k, v]));
}
function mpArr(items: Uint8Array[], w: 'fix' | 16 | 32 = items.length < 16 ? 'fix' : 16): Uint8Array {
  const head = w === 'fix' ? Uint8Array.of(0x90 | items.length) : B(w === 16 ? 0xdc : 0xdd, be(items.length, w / 8));
  return concat(head, ...items);
}
/** A map with integer keys in ascending order (JS orders integer-like keys ascending). */
const mpStruct = (fields: Record<number, Uint8Array>): Uint8Array => mpMap(Object.entries(fields).map(([k, v]) => [Number(k), v]));

// ---- vector files --------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json | undefined };
interface Case {
  id: string;
  description: string;
  [field: string]: Json | undefined;
}

class Area {
  readonly cases: Case[] = [];
  constructor(
    readonly name: string,
    readonly description: string,
  ) {}
  add(short: string, description: string, inputs: Record<string, Json | undefined>, expect: string, result?: Json): void {
    if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(short)) throw new Error(`bad case name ${short}`);
    if (expect !== 'ok' && !isErrorCode(expect)) throw new Error(`${short}: unknown code ${expect}`);
    if ((expect === 'ok') !== (result !== undefined)) throw new Error(`${short}: ok cases have a result, error cases none`);
    if (!/^[A-Z0-9].*\.$/.test(description)) throw new Error(`${short}: a description is one sentence`);
    for (const k of ['id', 'description', 'expect', 'result']) if (k in inputs) throw new Error(`${short}: input named ${k}`);
    const id = `${this.name}-${String(this.cases.length + 1).padStart(3, '0')}-${short}`;
    const c: Case = { id, description, ...inputs, expect };
    if (result !== undefined) c.result = result;
    this.cases.push(c);
  }
  write(): void {
    const file = { area: this.name, description: this.description, cases: this.cases };
    writeFileSync(join(OUT_DIR, `${this.name}.json`), JSON.stringify(file, null, 2) + '\n');
  }
}

// ---- fixtures ------------------------------------------------------------------------

interface User {
  name: string;
  identity: SigningKey;
  typed: Uint8Array;
  address: Uint8Array;
  text: string;
  enc: EncryptionKey;
  dev: SigningKey;
  del: SigningKey;
  devCert: Uint8Array;
  delCert: Uint8Array;
  /** The identity signing for itself. */
  signer: Signer;
  /** A device key with a purpose-1 certificate valid from NOW-30d to NOW+365d. */
  device: Signer;
  /** A store-delegate key with a purpose-3 certificate, same window. */
  delegate: Signer;
}

function makeUser(name: string): User {
  const r = rng(`user ${name}`);
  const identity = SigningKey.generate(r);
  const enc = EncryptionKey.generate(r);
  const dev = SigningKey.generate(r);
  const del = SigningKey.generate(r);
  const cert = (subkey: Uint8Array, purpose: 1 | 3) =>
    certifySubkey({ identity, purpose, subkey, notBefore: NOW - 30 * DAY, notAfter: NOW + 365 * DAY });
  const devCert = cert(dev.publicKey, PURPOSE.device);
  const delCert = cert(del.publicKey, PURPOSE.storeDelegate);
  const address = addressOf(identity.typedKey);
  return {
    name,
    identity,
    typed: identity.typedKey,
    address,
    text: addressToText(address),
    enc,
    dev,
    del,
    devCert,
    delCert,
    signer: identitySigner(identity),
    device: subkeySigner(identity.typedKey, dev, devCert),
    delegate: subkeySigner(identity.typedKey, del, delCert),
  };
}

const alice = makeUser('alice');
const bob = makeUser('bob');
const carol = makeUser('carol');
const mallory = makeUser('mallory');

type SignerKind = 'identity' | 'device' | 'store-delegate';
const delegates = new Set<Signer>([alice, bob, carol, mallory].map((u) => u.delegate));
const kindOf = (s: Signer): SignerKind => (s.cert === undefined ? 'identity' : delegates.has(s) ? 'store-delegate' : 'device');
const signerInfo = (s: Signer) => ({ signer: kindOf(s), signingKey: hx(s.key.publicKey) });

/** A signer that claims `identity` but signs with `key`, attaching `cert`. */
const forged = (identity: Uint8Array, key: SigningKey, cert?: Uint8Array): Signer => (cert ? { identity, key, cert } : { identity, key });

/** Re-encode a signed container after changing it. */
function mutateSigned(t: StructT<S.Signed>, bytes: Uint8Array, f: (c: S.Signed) => void): Uint8Array {
  const c = decode(t, bytes);
  f(c);
  return encode(t, c);
}
const flipBit = (b: Uint8Array, byte: number, bit = 0): Uint8Array => {
  const out = b.slice();
  out[byte] = out[byte]! ^ (1 << bit);
  return out;
};

// ---- addresses -----------------------------------------------------------------------

function addresses(): Area {
  const a = new Area(
    'addresses',
    'Addresses: SHA-256 over the label "keypost/v1/address", a zero byte and the typed public key (algorithm byte 0x01 then the 32-byte Ed25519 key), written as bech32m with human-readable part "kp"; and parsing of address text.',
  );
  const of = (u: User) => ({ address: hx(u.address), text: u.text });
  a.add('alice', 'The address of a valid Ed25519 identity key.', { operation: 'address-of', key: hx(alice.typed) }, 'ok', of(alice));
  a.add('bob', 'The address of a second valid Ed25519 identity key.', { operation: 'address-of', key: hx(bob.typed) }, 'ok', of(bob));
  const typed = (pk: Uint8Array, alg = 1) => hx(concat(Uint8Array.of(alg), pk));
  a.add('identity-point', 'The identity point (order 1) as a key is refused as small-order.', { operation: 'address-of', key: typed(ED_IDENTITY_POINT) }, 'KEY_SMALL_ORDER');
  a.add('order-2-point', 'The point of order 2 (y = -1) as a key is refused as small-order.', { operation: 'address-of', key: typed(ED_ORDER_2) }, 'KEY_SMALL_ORDER');
  a.add('order-8-point', 'A point of order 8 as a key is refused as small-order.', { operation: 'address-of', key: typed(ED_ORDER_8) }, 'KEY_SMALL_ORDER');
  const mixed = Point.fromBytes(alice.identity.publicKey, false).add(Point.fromBytes(ED_ORDER_8, false)).toBytes();
  a.add('mixed-order-point', 'A valid key plus a point of order 8 (a torsion component) is refused as small-order.', { operation: 'address-of', key: typed(mixed) }, 'KEY_SMALL_ORDER');
  a.add('y-not-reduced', 'A key encoding y = p (not reduced modulo p) is not a canonical encoding.', { operation: 'address-of', key: typed(ED_Y_EQUALS_P) }, 'KEY_INVALID');
  a.add('negative-zero-x', 'A key encoding x = 0 with the sign bit set is not a canonical encoding.', { operation: 'address-of', key: typed(ED_NEGATIVE_ZERO_X) }, 'KEY_INVALID');
  a.add('not-on-curve', 'A key whose y coordinate (y = 2) has no matching x is not a curve point.', { operation: 'address-of', key: typed(ED_NOT_ON_CURVE) }, 'KEY_INVALID');
  a.add('untyped-key', 'A bare 32-byte key without its algorithm byte is refused.', { operation: 'address-of', key: hx(alice.identity.publicKey) }, 'KEY_INVALID');
  a.add('algorithm-2', 'A typed key with algorithm byte 0x02 names an unsupported algorithm.', { operation: 'address-of', key: typed(alice.identity.publicKey, 2) }, 'KEY_UNSUPPORTED');
  a.add('algorithm-0', 'A typed key with algorithm byte 0x00 names an unsupported algorithm.', { operation: 'address-of', key: typed(alice.identity.publicKey, 0) }, 'KEY_UNSUPPORTED');

  const parse = (text: string) => ({ operation: 'parse', text });
  a.add('parse-lowercase', 'A lowercase address text parses to its 32 bytes.', parse(alice.text), 'ok', of(alice));
  a.add('parse-uppercase', 'Address text is case-insensitive: the upper-case form parses to the same address.', parse(alice.text.toUpperCase()), 'ok', of(alice));
  const mixedCase = bob.text.slice(0, 30) + bob.text.slice(30).toUpperCase();
  a.add('parse-mixed-case', 'Address text in mixed case parses too (keypost folds case before decoding).', parse(mixedCase), 'ok', of(bob));
  const typo = (s: string, i: number) => s.slice(0, i) + (s[i] === 'q' ? 'p' : 'q') + s.slice(i + 1);
  a.add('typo-one-char', 'One mistyped character in the data part fails the checksum.', parse(typo(alice.text, 20)), 'ADDRESS_CHECKSUM');
  a.add('typo-last-char', 'One mistyped character in the checksum part fails the checksum.', parse(typo(alice.text, 60)), 'ADDRESS_CHECKSUM');
  const swap = (s: string, i: number) => s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2);
  let sw = 10;
  while (alice.text[sw] === alice.text[sw + 1]) sw++;
  a.add('swapped-chars', 'Two adjacent characters swapped fail the checksum.', parse(swap(alice.text, sw)), 'ADDRESS_CHECKSUM');
  const bech32Plain = bech32Encode('kp', alice.address, 1);
  a.add('bech32-not-bech32m', 'The same 32 bytes with a bech32 (not bech32m) checksum are refused.', parse(bech32Plain), 'ADDRESS_CHECKSUM');
  a.add('too-short', 'An address text of 60 characters is malformed.', parse(alice.text.slice(0, 60)), 'ADDRESS_MALFORMED');
  a.add('too-long', 'An address text of 62 characters is malformed.', parse(alice.text + 'q'), 'ADDRESS_MALFORMED');
  a.add('empty', 'The empty string is not an address.', parse(''), 'ADDRESS_MALFORMED');
  a.add('wrong-prefix', 'A 61-character bech32m text with human-readable part "kq" is not an address.', parse(bech32Encode('kq', alice.address, 0x2bc830a3)), 'ADDRESS_MALFORMED');
  a.add('bad-character', 'The letter "b" is outside the bech32 alphabet.', parse(alice.text.slice(0, 20) + 'b' + alice.text.slice(21)), 'ADDRESS_MALFORMED');
  a.add('surrounding-space', 'Leading whitespace makes the text the wrong length.', parse(' ' + alice.text), 'ADDRESS_MALFORMED');
  // 52 five-bit groups carry 260 bits: the last 4 must be zero padding.
  a.add('nonzero-padding', 'A text with a valid bech32m checksum whose 4 padding bits are not zero is malformed.', parse(bech32Encode('kp', alice.address, 0x2bc830a3, 1)), 'ADDRESS_MALFORMED');
  return a;
}

/** bech32 / bech32m (BIP 173 / BIP 350) encoder with control over the padding bits. */
function bech32Encode(hrp: string, data: Uint8Array, constant: number, pad = 0): string {
  const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
  const words: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const byte of data) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      words.push((acc >> bits) & 31);
    }
  }
  if (bits > 0) words.push(((acc << (5 - bits)) & 31) | pad);
  const polymod = (values: number[]) => {
    const G = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let chk = 1;
    for (const v of values) {
      const b = chk >> 25;
      chk = ((chk & 0x1ffffff) << 5) ^ v;
      for (let i = 0; i < 5; i++) if ((b >> i) & 1) chk ^= G[i]!;
    }
    return chk;
  };
  const hrpExpand = [...hrp].map((c) => c.charCodeAt(0) >> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
  const mod = polymod([...hrpExpand, ...words, 0, 0, 0, 0, 0, 0]) ^ constant;
  const checksum = [0, 1, 2, 3, 4, 5].map((i) => (mod >> (5 * (5 - i))) & 31);
  return hrp + '1' + [...words, ...checksum].map((w) => CHARSET[w]).join('');
}

// ---- wire ----------------------------------------------------------------------------

function wire(): Area {
  const a = new Area(
    'wire',
    'Canonical msgpack decoding against one named structure of docs/spec.md: integer map keys in ascending order, shortest headers, only the types the structure names, every length and value within its limits, nothing unknown, missing, truncated or trailing.',
  );
  const dec = (structure: string, input: Uint8Array) => ({ operation: 'decode', structure, input: hx(input) });
  const url = 'https://store.example';
  const entry = (priority: Uint8Array, u: Uint8Array = mpStr(url)) => mpStruct({ 1: priority, 2: u });
  const policy = (bits: Uint8Array, unit: Uint8Array, max: Uint8Array) => mpStruct({ 1: bits, 2: unit, 3: max });
  const key32 = sha256(utf8('wire key'));
  const rcptTyped = alice.typed;
  const id = sha256(utf8('wire id'));

  // valid
  a.add('policy', 'A policy with three unsigned integers in shortest form decodes.', dec('PolicyContent', policy(mpUint(20), mpUint(65536), mpUint(10 * 1024 * 1024))), 'ok', {
    value: { powBits: 20, powUnit: 65536, maxSize: 10 * 1024 * 1024 },
  });
  a.add('store-entry', 'A store entry with a fixint priority and a fixstr URL decodes.', dec('StoreEntry', entry(mpUint(10))), 'ok', { value: { priority: 10, url } });
  a.add('uint-127-fixint', 'The integer 127 is a positive fixint, its shortest form.', dec('StoreEntry', entry(mpUint(127))), 'ok', { value: { priority: 127, url } });
  a.add('uint-128-uint8', 'The integer 128 needs the uint8 form (0xcc).', dec('StoreEntry', entry(mpUint(128))), 'ok', { value: { priority: 128, url } });
  a.add('uint-65535-uint16', 'The integer 65535, the largest priority, uses the uint16 form (0xcd).', dec('StoreEntry', entry(mpUint(65535))), 'ok', { value: { priority: 65535, url } });
  a.add('uint32-max', 'The time 2^32-1 (the largest allowed) uses the uint32 form (0xce).', dec('ReceiptBody', mpStruct({ 1: mpBin(rcptTyped), 2: mpBin(id), 3: mpUint(0xffffffff) })), 'ok', {
    value: { recipient: hx(rcptTyped), id: hx(id), time: 0xffffffff },
  });
  const url32 = 'https://' + 'a'.repeat(20) + '.test'; // 33 bytes: str8
  a.add('str8', 'A 33-byte string uses the str8 form (0xd9), its shortest.', dec('StoreEntry', entry(mpUint(1), mpStr(url32))), 'ok', { value: { priority: 1, url: url32 } });
  const url200 = 'https://' + 'b'.repeat(187) + '.test';
  a.add('text-at-limit', 'A URL of exactly 200 bytes (the limit) decodes.', dec('StoreEntry', entry(mpUint(1), mpStr(url200))), 'ok', { value: { priority: 1, url: url200 } });
  a.add('optional-absent', 'A structure whose only field is optional decodes from the empty map.', dec('SealedHint', mpMap([])), 'ok', { value: {} });
  a.add('utf8-text', 'Multi-byte UTF-8 text decodes; its limit counts bytes.', dec('SealedHint', mpStruct({ 1: mpStr('Grüße, 世界 🌍') })), 'ok', { value: { subject: 'Grüße, 世界 🌍' } });
  a.add('empty-text', 'An empty string is a valid subject.', dec('SealedHint', mpStruct({ 1: mpStr('') })), 'ok', { value: { subject: '' } });
  a.add('subkey-entry', 'A structure with an exactly-32-byte binary field decodes.', dec('SubkeyEntry', mpStruct({ 1: mpUint(2), 2: mpBin(key32), 3: mpUint(NOW) })), 'ok', {
    value: { purpose: 2, key: hx(key32), notAfter: NOW },
  });
  a.add('nested-list', 'A list of two nested structures decodes.', dec('StoresContent', mpStruct({ 1: mpArr([entry(mpUint(10)), entry(mpUint(20), mpStr('https://b.example'))]) })), 'ok', {
    value: { stores: [{ priority: 10, url }, { priority: 20, url: 'https://b.example' }] },
  });
  const box16 = new Uint8Array(16).fill(7);
  a.add('bin-at-minimum', 'A binary field of its minimum length (16 bytes) decodes.', dec('Sealed', mpStruct({ 1: mpBin(key32), 2: mpBin(box16) })), 'ok', { value: { ephemeral: hx(key32), box: hx(box16) } });

  // not canonical
  a.add('keys-unsorted', 'Map keys out of ascending order are not canonical.', dec('StoreEntry', mpMap([[2, mpStr(url)], [1, mpUint(10)]])), 'WIRE_NONCANONICAL');
  a.add('key-duplicate', 'A key that appears twice is not canonical.', dec('StoreEntry', mpMap([[1, mpUint(10)], [1, mpUint(10)], [2, mpStr(url)]])), 'WIRE_NONCANONICAL');
  a.add('int-long-form-uint8', 'The integer 10 written as uint8 (0xcc 0x0a) instead of a fixint is not canonical.', dec('StoreEntry', entry(mpUint(10, 8))), 'WIRE_NONCANONICAL');
  a.add('int-long-form-uint16', 'The integer 200 written as uint16 instead of uint8 is not canonical.', dec('StoreEntry', entry(mpUint(200, 16))), 'WIRE_NONCANONICAL');
  a.add('int-uint64', 'The integer 10 written as uint64: the uint64 type is outside keypost\'s data model (integers are 32-bit).', dec('StoreEntry', entry(mpUint(10, 64))), 'WIRE_BAD_TYPE');
  a.add('key-long-form', 'A map key written as uint8 instead of a fixint is not canonical.', dec('StoreEntry', mpMap([[mpUint(1, 8), mpUint(10)], [2, mpStr(url)]])), 'WIRE_NONCANONICAL');
  a.add('str-long-form-str8', 'A 21-byte string written with a str8 header instead of fixstr is not canonical.', dec('StoreEntry', entry(mpUint(10), mpStr(url, 8))), 'WIRE_NONCANONICAL');
  a.add('str-long-form-str16', 'A 33-byte string written with a str16 header is not canonical.', dec('StoreEntry', entry(mpUint(10), mpStr(url32, 16))), 'WIRE_NONCANONICAL');
  a.add('bin-long-form', 'A 32-byte binary written with a bin16 header instead of bin8 is not canonical.', dec('SubkeyEntry', mpStruct({ 1: mpUint(2), 2: mpBin(key32, 16), 3: mpUint(NOW) })), 'WIRE_NONCANONICAL');
  a.add('map-long-form', 'A 2-entry map written with a map16 header is not canonical.', dec('StoreEntry', mpMap([[1, mpUint(10)], [2, mpStr(url)]], 16)), 'WIRE_NONCANONICAL');
  a.add('array-long-form', 'A 1-item array written with an array16 header is not canonical.', dec('StoresContent', mpStruct({ 1: mpArr([entry(mpUint(10))], 16) })), 'WIRE_NONCANONICAL');
  a.add('nested-noncanonical', 'A long-form integer inside a nested structure is not canonical.', dec('StoresContent', mpStruct({ 1: mpArr([entry(mpUint(10, 16))]) })), 'WIRE_NONCANONICAL');
  a.add('float-integral', 'The integer 10 written as a float64 (10.0): floats are outside keypost\'s data model.', dec('StoreEntry', entry(B(0xcb, unhex('4024000000000000')))), 'WIRE_BAD_TYPE');
  a.add('float32-integral', 'The integer 1 written as a float32 (1.0): floats are outside keypost\'s data model.', dec('StoreEntry', entry(B(0xca, unhex('3f800000')))), 'WIRE_BAD_TYPE');
  a.add('utf8-invalid', 'A string holding the invalid UTF-8 sequence c3 28 is not canonical.', dec('SealedHint', mpStruct({ 1: mpStr(unhex('c328')) })), 'WIRE_NONCANONICAL');
  a.add('utf8-overlong', 'A string holding the overlong UTF-8 encoding c0 af of "/" is not canonical.', dec('SealedHint', mpStruct({ 1: mpStr(unhex('c0af')) })), 'WIRE_NONCANONICAL');
  a.add('utf8-surrogate', 'A string holding an encoded UTF-16 surrogate (ed a0 80) is not canonical.', dec('SealedHint', mpStruct({ 1: mpStr(unhex('eda080')) })), 'WIRE_NONCANONICAL');

  // wrong types and values
  a.add('float-fraction', 'A priority of 10.5 (float64) is not an unsigned integer.', dec('StoreEntry', entry(B(0xcb, unhex('4025000000000000')))), 'WIRE_BAD_TYPE');
  a.add('nil-required', 'A nil in place of a required integer is the wrong type.', dec('StoreEntry', entry(Uint8Array.of(0xc0))), 'WIRE_BAD_TYPE');
  a.add('nil-optional', 'A nil in place of an optional string is the wrong type (an absent field is written by leaving its key out).', dec('SealedHint', mpStruct({ 1: Uint8Array.of(0xc0) })), 'WIRE_BAD_TYPE');
  a.add('bool-for-uint', 'The boolean true in place of an integer is the wrong type.', dec('StoreEntry', entry(Uint8Array.of(0xc3))), 'WIRE_BAD_TYPE');
  a.add('negative-int', 'The negative fixint -1 is not an unsigned integer.', dec('StoreEntry', entry(Uint8Array.of(0xff))), 'WIRE_BAD_TYPE');
  a.add('ext-timestamp', 'A msgpack timestamp extension (type -1) in place of an integer is the wrong type.', dec('StoreEntry', entry(B(0xd6, 0xff, be(NOW, 4)))), 'WIRE_BAD_TYPE');
  a.add('string-for-uint', 'A string in place of an integer is the wrong type.', dec('StoreEntry', entry(mpStr('10'))), 'WIRE_BAD_TYPE');
  a.add('bin-for-text', 'A binary in place of a string is the wrong type.', dec('StoreEntry', entry(mpUint(10), mpBin(utf8(url)))), 'WIRE_BAD_TYPE');
  a.add('text-for-bin', 'A string in place of a binary is the wrong type.', dec('SubkeyEntry', mpStruct({ 1: mpUint(2), 2: mpStr('k'.repeat(32)), 3: mpUint(NOW) })), 'WIRE_BAD_TYPE');
  a.add('array-for-map', 'An array where a structure (map) is expected is the wrong type.', dec('StoreEntry', mpArr([mpUint(10), mpStr(url)])), 'WIRE_BAD_TYPE');
  a.add('scalar-for-map', 'A bare integer where a structure is expected is the wrong type.', dec('StoreEntry', mpUint(10)), 'WIRE_BAD_TYPE');
  a.add('reserved-byte', 'The never-used msgpack byte 0xc1 in place of an integer is the wrong type.', dec('StoreEntry', entry(Uint8Array.of(0xc1))), 'WIRE_BAD_TYPE');
  a.add('uint-above-max', 'A priority of 65536 is above its maximum of 65535.', dec('StoreEntry', entry(mpUint(65536))), 'WIRE_BAD_TYPE');
  a.add('uint-below-min', 'A powUnit of 1023 is below its minimum of 1024.', dec('PolicyContent', policy(mpUint(20), mpUint(1023), mpUint(1 << 20))), 'WIRE_BAD_TYPE');
  a.add('pow-bits-above-max', 'A powBits of 33 is above its maximum of 32.', dec('PolicyContent', policy(mpUint(33), mpUint(1024), mpUint(1 << 20))), 'WIRE_BAD_TYPE');
  a.add('bin-too-short', 'A 31-byte key where exactly 32 bytes are required is the wrong type.', dec('SubkeyEntry', mpStruct({ 1: mpUint(2), 2: mpBin(key32.subarray(0, 31)), 3: mpUint(NOW) })), 'WIRE_BAD_TYPE');
  a.add('text-too-short', 'A 7-byte URL is below the minimum of 8 bytes.', dec('StoreEntry', entry(mpUint(1), mpStr('https:/'))), 'WIRE_BAD_TYPE');
  a.add('list-too-short', 'An empty store list is below the minimum of one entry.', dec('StoresContent', mpStruct({ 1: mpArr([]) })), 'WIRE_BAD_TYPE');

  // too large
  a.add('bin-too-long', 'A 33-byte key where exactly 32 bytes are allowed is too large.', dec('SubkeyEntry', mpStruct({ 1: mpUint(2), 2: mpBin(concat(key32, Uint8Array.of(0))), 3: mpUint(NOW) })), 'WIRE_TOO_LARGE');
  const url201 = 'https://' + 'b'.repeat(188) + '.test';
  a.add('text-too-long', 'A URL of 201 bytes is over its limit of 200.', dec('StoreEntry', entry(mpUint(1), mpStr(url201))), 'WIRE_TOO_LARGE');
  a.add('text-too-long-utf8', 'A subject of 41 three-byte characters (123 bytes) is over its limit of 120 bytes though only 41 characters long.', dec('SealedHint', mpStruct({ 1: mpStr('€'.repeat(41)) })), 'WIRE_TOO_LARGE');
  const nine = Array.from({ length: 9 }, (_, i) => entry(mpUint(i)));
  a.add('list-too-long', 'Nine stores are over the limit of eight.', dec('StoresContent', mpStruct({ 1: mpArr(nine) })), 'WIRE_TOO_LARGE');
  const smallPolicy = policy(mpUint(20), mpUint(65536), mpUint(1 << 20));
  const bigPolicy = concat(smallPolicy, new Uint8Array(65 - smallPolicy.length));
  a.add('total-too-large', 'A PolicyContent input of 65 bytes exceeds the structure limit of 64 bytes and is refused before parsing.', dec('PolicyContent', bigPolicy), 'WIRE_TOO_LARGE');

  // unknown and missing
  a.add('unknown-key', 'A key (4) the structure does not define is refused.', dec('PolicyContent', mpStruct({ 1: mpUint(20), 2: mpUint(65536), 3: mpUint(1 << 20), 4: mpUint(0) })), 'WIRE_UNKNOWN_FIELD');
  a.add('key-zero', 'Key 0 is not defined by any structure.', dec('StoreEntry', mpMap([[0, mpUint(0)], [1, mpUint(10)], [2, mpStr(url)]])), 'WIRE_UNKNOWN_FIELD');
  a.add('string-key', 'A string map key ("priority") is not a field key.', dec('StoreEntry', mpMap([[mpStr('priority'), mpUint(10)], [2, mpStr(url)]])), 'WIRE_UNKNOWN_FIELD');
  a.add('nested-unknown-key', 'An unknown key inside a nested structure is refused.', dec('StoresContent', mpStruct({ 1: mpArr([mpStruct({ 1: mpUint(10), 2: mpStr(url), 3: mpUint(0) })]) })), 'WIRE_UNKNOWN_FIELD');
  a.add('missing-required', 'A structure without its required key 2 is incomplete.', dec('StoreEntry', mpStruct({ 1: mpUint(10) })), 'WIRE_MISSING_FIELD');
  a.add('empty-map-required', 'The empty map lacks every required field.', dec('PolicyContent', mpMap([])), 'WIRE_MISSING_FIELD');

  // malformed
  const good = entry(mpUint(10));
  a.add('empty-input', 'Zero bytes are not a msgpack value.', dec('StoreEntry', new Uint8Array(0)), 'WIRE_MALFORMED');
  a.add('truncated', 'Input cut inside a string is truncated.', dec('StoreEntry', good.subarray(0, good.length - 5)), 'WIRE_MALFORMED');
  a.add('truncated-header', 'Input cut inside a uint16 integer is truncated.', dec('StoreEntry', mpMap([[1, mpUint(300, 16).subarray(0, 2)]])), 'WIRE_MALFORMED');
  a.add('trailing-byte', 'One byte after a complete value is trailing garbage.', dec('StoreEntry', concat(good, Uint8Array.of(0))), 'WIRE_MALFORMED');
  a.add('two-values', 'Two complete values back to back are trailing garbage.', dec('StoreEntry', concat(good, good)), 'WIRE_MALFORMED');
  a.add('ext-unknown', 'An extension of application type 1 is outside keypost\'s data model.', dec('StoreEntry', entry(B(0xd4, 0x01, 0x00))), 'WIRE_BAD_TYPE');

  // Invalid UTF-8 is refused by the type scan (spec §5.3 step 2), before the schema's
  // length limits (step 4): the code does not depend on how a parser would replace it.
  const textWithFF = (n: number) => {
    const t = utf8('s'.repeat(n));
    t[n >> 1] = 0xff;
    return t;
  };
  a.add('utf8-invalid-at-limit', 'A subject of exactly 120 bytes (the limit) holding one 0xff byte is not canonical, though replacing that byte with U+FFFD would have made it 122 bytes.', dec('SealedHint', mpStruct({ 1: mpStr(textWithFF(120)) })), 'WIRE_NONCANONICAL');
  a.add('utf8-invalid-over-limit', 'A subject of 121 bytes (over the limit) holding one 0xff byte is not canonical: the type scan meets the invalid UTF-8 before the schema measures the text.', dec('SealedHint', mpStruct({ 1: mpStr(textWithFF(121)) })), 'WIRE_NONCANONICAL');
  a.add('utf8-invalid-oversized-input', 'A SealedHint input of 161 bytes whose subject holds invalid UTF-8 is too large: the total size is checked before the type scan.', dec('SealedHint', mpStruct({ 1: mpStr(textWithFF(157)) })), 'WIRE_TOO_LARGE');
  a.add('utf8-invalid-url-at-limit', 'A store URL of exactly 200 bytes (the limit) holding one 0xff byte is not canonical.', dec('StoreEntry', entry(mpUint(1), mpStr(utf8(url200).map((x, i) => (i === 100 ? 0xff : x))))), 'WIRE_NONCANONICAL');
  a.add('utf8-invalid-string-key', 'A string map key holding invalid UTF-8 is not canonical: the type scan reads every string, keys included, before the schema sees an unknown key.', dec('StoreEntry', mpMap([[mpStr(unhex('c328')), mpUint(10)], [2, mpStr(url)]])), 'WIRE_NONCANONICAL');
  return a;
}

// ---- certificates and revocations ----------------------------------------------------

interface CertFields {
  identity: Uint8Array;
  purpose: number;
  subkey: Uint8Array;
  notBefore: number;
  notAfter: number;
}
const certJson = (b: CertFields) => ({ identity: hx(b.identity), purpose: b.purpose, subkey: hx(b.subkey), notBefore: b.notBefore, notAfter: b.notAfter });
function rawCert(b: CertFields, key: SigningKey, label: Label = LABELS.subkey): Uint8Array {
  return signBytes(S.SubkeyCert, label, encode(S.SubkeyCertBody, b), forged(b.identity, key));
}

function certs(): Area {
  const a = new Area(
    'certs',
    'Subkey certificates (the identity key certifies a device, encryption or store-delegate subkey for a time window) and revocations (the identity key revokes a subkey or itself).',
  );
  const v = (cert: Uint8Array, o: { now?: number; revoked?: Uint8Array[] } = {}) => ({
    operation: 'verify-cert',
    cert: hx(cert),
    now: o.now ?? NOW,
    skew: SKEW,
    ...(o.revoked ? { revoked: o.revoked.map(hx) } : {}),
  });
  const base = (o: Partial<CertFields> = {}): CertFields => ({
    identity: alice.typed,
    purpose: PURPOSE.device,
    subkey: alice.dev.publicKey,
    notBefore: NOW - DAY,
    notAfter: NOW + 30 * DAY,
    ...o,
  });
  const cert = (b: CertFields) => rawCert(b, alice.identity);

  const dev = base();
  a.add('device', 'A certificate for a device signing key verifies.', v(cert(dev)), 'ok', certJson(dev));
  const enc = base({ purpose: PURPOSE.encryption, subkey: alice.enc.publicKey });
  a.add('encryption', 'A certificate for an X25519 encryption key verifies.', v(cert(enc)), 'ok', certJson(enc));
  const del = base({ purpose: PURPOSE.storeDelegate, subkey: alice.del.publicKey });
  a.add('store-delegate', 'A certificate for a store-delegate signing key verifies.', v(cert(del)), 'ok', certJson(del));
  const viaApi = certifySubkey({ identity: bob.identity, purpose: PURPOSE.device, subkey: bob.dev.publicKey, notBefore: NOW, notAfter: NOW + 60 * DAY });
  a.add('bob-device', 'A certificate made by the library for another identity verifies.', v(viaApi), 'ok', certJson(base({ identity: bob.typed, subkey: bob.dev.publicKey, notBefore: NOW, notAfter: NOW + 60 * DAY })));

  const nb = base({ notBefore: NOW + SKEW });
  a.add('not-before-at-skew', 'A certificate starting exactly skew seconds in the future is accepted.', v(cert(nb)), 'ok', certJson(nb));
  a.add('not-before-beyond-skew', 'A certificate starting skew+1 seconds in the future is not valid yet.', v(cert(base({ notBefore: NOW + SKEW + 1 }))), 'NOT_YET_VALID');
  const na = base({ notBefore: NOW - 10 * DAY, notAfter: NOW - SKEW });
  a.add('not-after-at-skew', 'A certificate that ended exactly skew seconds ago is accepted.', v(cert(na)), 'ok', certJson(na));
  a.add('not-after-beyond-skew', 'A certificate that ended skew+1 seconds ago has expired.', v(cert(base({ notBefore: NOW - 10 * DAY, notAfter: NOW - SKEW - 1 }))), 'EXPIRED');
  a.add('expired-long-ago', 'A certificate that expired a year ago has expired.', v(cert(base({ notBefore: NOW - 400 * DAY, notAfter: NOW - 365 * DAY }))), 'EXPIRED');
  a.add('window-inverted', 'A certificate whose notAfter precedes its notBefore is malformed.', v(cert(base({ notBefore: NOW, notAfter: NOW - 1 }))), 'WIRE_BAD_TYPE');

  a.add('subkey-small-order-ed25519', 'A device certificate for a small-order Ed25519 key is refused.', v(cert(base({ subkey: ED_ORDER_8 }))), 'KEY_SMALL_ORDER');
  a.add('subkey-small-order-x25519', 'An encryption certificate for the X25519 point of order 8 is refused.', v(cert(base({ purpose: PURPOSE.encryption, subkey: X_ORDER_8 }))), 'KEY_SMALL_ORDER');
  a.add('subkey-x25519-zero', 'An encryption certificate for the all-zero X25519 key is refused.', v(cert(base({ purpose: PURPOSE.encryption, subkey: X_ZERO }))), 'KEY_SMALL_ORDER');
  a.add('subkey-noncanonical', 'A device certificate for a non-canonical Ed25519 encoding (y = p) is refused.', v(cert(base({ subkey: ED_Y_EQUALS_P }))), 'KEY_INVALID');
  a.add('purpose-unknown', 'A certificate with purpose 4 (undefined) is refused.', v(cert(base({ purpose: 4 }))), 'WIRE_BAD_TYPE');
  a.add('identity-small-order', 'A certificate claiming a small-order identity key is refused before its signature is checked.', v(rawCert(base({ identity: concat(Uint8Array.of(1), ED_IDENTITY_POINT) }), alice.identity)), 'KEY_SMALL_ORDER');
  a.add('identity-algorithm-2', 'A certificate whose identity key names algorithm 2 is refused.', v(rawCert(base({ identity: concat(Uint8Array.of(2), alice.identity.publicKey) }), alice.identity)), 'KEY_UNSUPPORTED');
  a.add('bad-signature', 'A certificate with one bit of its signature flipped is refused.', v(mutateSigned(S.SubkeyCert, cert(dev), (c) => (c.sig = flipBit(c.sig, 10)))), 'BAD_SIGNATURE');
  a.add('body-bit-flipped', 'A certificate whose notAfter was changed after signing is refused.', v(mutateSigned(S.SubkeyCert, cert(dev), (c) => (c.body = encode(S.SubkeyCertBody, { ...dev, notAfter: dev.notAfter + 1 })))), 'BAD_SIGNATURE');
  a.add('wrong-label', 'A signature over the same body under the assertion label is not a certificate signature.', v(rawCert(dev, alice.identity, LABELS.assertion)), 'BAD_SIGNATURE');
  a.add('self-signed', 'A certificate naming alice as identity but signed by the subkey itself is refused.', v(rawCert(dev, alice.dev)), 'BAD_SIGNATURE');
  a.add('signed-by-other-identity', 'A certificate naming alice as identity but signed by mallory is refused.', v(rawCert(dev, mallory.identity)), 'BAD_SIGNATURE');
  const good = cert(dev);
  a.add('truncated', 'A certificate cut short by one byte is malformed.', v(good.subarray(0, good.length - 1)), 'WIRE_MALFORMED');
  a.add('trailing-byte', 'A certificate followed by one extra byte is malformed.', v(concat(good, Uint8Array.of(0))), 'WIRE_MALFORMED');
  a.add('oversized', 'A certificate input of 257 bytes exceeds the 256-byte limit.', v(concat(good, new Uint8Array(257 - good.length))), 'WIRE_TOO_LARGE');
  a.add('body-noncanonical', 'A signed certificate body with its purpose in uint8 form instead of a fixint is not canonical.', v(signBytes(S.SubkeyCert, LABELS.subkey, mpStruct({ 1: mpBin(dev.identity), 2: mpUint(1, 8), 3: mpBin(dev.subkey), 4: mpUint(dev.notBefore), 5: mpUint(dev.notAfter) }), alice.signer)), 'WIRE_NONCANONICAL');

  // revocation checks (isRevoked): the identity before the signature, the subkey after it
  a.add('revoked-subkey', 'A device certificate whose subkey is known to be revoked is refused.', v(cert(dev), { revoked: [alice.dev.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-encryption-subkey', 'An encryption-key certificate whose X25519 key is known to be revoked is refused.', v(cert(enc), { revoked: [alice.enc.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-identity', 'A certificate made by an identity key that is known to be revoked is refused.', v(cert(dev), { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-identity-bad-signature', 'A certificate of a revoked identity with a flipped signature bit is refused as revoked: the identity is checked before the signature.', v(mutateSigned(S.SubkeyCert, cert(dev), (c) => (c.sig = flipBit(c.sig, 10))), { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-subkey-bad-signature', 'A certificate of a revoked subkey with a flipped signature bit is refused as a bad signature: the subkey is checked after the signature.', v(mutateSigned(S.SubkeyCert, cert(dev), (c) => (c.sig = flipBit(c.sig, 10))), { revoked: [alice.dev.publicKey] }), 'BAD_SIGNATURE');
  a.add('revoked-subkey-expired', 'An expired certificate of a revoked subkey is refused as expired: the window is checked before revocation.', v(cert(base({ notBefore: NOW - 400 * DAY, notAfter: NOW - 365 * DAY })), { revoked: [alice.dev.publicKey] }), 'EXPIRED');
  a.add('revoked-other-keys', 'A device certificate verifies when only other keys are revoked: a sibling subkey of the same identity and another identity.', v(cert(dev), { revoked: [alice.del.publicKey, bob.identity.publicKey] }), 'ok', certJson(dev));
  a.add('revoked-empty', 'An empty list of revoked keys revokes nothing.', v(cert(dev), { revoked: [] }), 'ok', certJson(dev));

  // revocations
  const rv = (r: Uint8Array) => ({ operation: 'verify-revocation', revocation: hx(r) });
  const rvJson = (identity: Uint8Array, revoked: Uint8Array, time: number, reason: number) => ({ identity: hx(identity), revoked: hx(revoked), time, reason });
  a.add('revoke-subkey', 'A revocation of a compromised device key verifies.', rv(revokeKey({ identity: alice.identity, revoked: alice.dev.publicKey, time: NOW, reason: 1 })), 'ok', rvJson(alice.typed, alice.dev.publicKey, NOW, 1));
  a.add('revoke-self', 'An identity revoking its own key (retirement) verifies.', rv(revokeKey({ identity: bob.identity, revoked: bob.identity.publicKey, time: NOW - DAY, reason: 3 })), 'ok', rvJson(bob.typed, bob.identity.publicKey, NOW - DAY, 3));
  a.add('revoke-old', 'A revocation has no expiry: one made ten years before NOW still verifies.', rv(revokeKey({ identity: alice.identity, revoked: alice.del.publicKey, time: NOW - 3650 * DAY, reason: 2 })), 'ok', rvJson(alice.typed, alice.del.publicKey, NOW - 3650 * DAY, 2));
  const rawRev = (reason: number, key: SigningKey, label: Label = LABELS.revocation) =>
    signBytes(S.Revocation, label, encode(S.RevocationBody, { identity: alice.typed, revoked: alice.dev.publicKey, time: NOW, reason }), forged(alice.typed, key));
  a.add('revoke-reason-unknown', 'A revocation with reason 4 (undefined) is refused.', rv(rawRev(4, alice.identity)), 'WIRE_BAD_TYPE');
  a.add('revoke-bad-signature', 'A revocation with a flipped signature bit is refused.', rv(mutateSigned(S.Revocation, rawRev(1, alice.identity), (c) => (c.sig = flipBit(c.sig, 40)))), 'BAD_SIGNATURE');
  a.add('revoke-wrong-label', 'A signature over the revocation body under the subkey-certificate label is not a revocation signature.', rv(rawRev(1, alice.identity, LABELS.subkey)), 'BAD_SIGNATURE');
  a.add('revoke-by-device', 'A revocation signed by the device key instead of the identity key is refused.', rv(rawRev(1, alice.dev)), 'BAD_SIGNATURE');
  return a;
}

// ---- assertions ----------------------------------------------------------------------

interface AssertionFields {
  subject: Uint8Array;
  type: number;
  seq: number;
  notBefore: number;
  notAfter: number;
  content: Uint8Array;
}
function rawAssertion(b: AssertionFields, key: SigningKey, label: Label = LABELS.assertion, cert?: Uint8Array): Uint8Array {
  return signBytes(S.Assertion, label, encode(S.AssertionBody, b), forged(b.subject, key, cert));
}
function contentJson(c: AssertionContent): Json {
  switch (c.type) {
    case 'stores':
      return { stores: c.stores.map((s) => ({ priority: s.priority, url: s.url })) };
    case 'keys':
      return { keys: c.keys.map((k) => ({ purpose: k.purpose, key: hx(k.key), notAfter: k.notAfter })) };
    case 'name':
      return { name: c.name };
    case 'policy':
      return { powBits: c.policy.powBits, powUnit: c.policy.powUnit, maxSize: c.policy.maxSize };
  }
}

function assertions(): Area {
  const a = new Area(
    'assertions',
    'Signed, expiring assertions about an address (stores, keys, name, policy), verified with a clock, a clock-skew allowance, an optional expected address and type, and the highest sequence number already seen.',
  );
  type Opt = { address?: string; type?: string; highestSeq?: number; now?: number; revoked?: Uint8Array[] };
  const v = (bytes: Uint8Array, o: Opt = {}) => ({
    operation: 'verify-assertion',
    assertion: hx(bytes),
    now: o.now ?? NOW,
    skew: SKEW,
    ...(o.address !== undefined ? { address: o.address } : {}),
    ...(o.type !== undefined ? { type: o.type } : {}),
    ...(o.highestSeq !== undefined ? { highestSeq: o.highestSeq } : {}),
    ...(o.revoked ? { revoked: o.revoked.map(hx) } : {}),
  });
  const stores: AssertionContent = { type: 'stores', stores: [{ priority: 10, url: 'https://a.example' }, { priority: 20, url: 'https://b.example:8443' }] };
  const keys: AssertionContent = {
    type: 'keys',
    keys: [
      { purpose: PURPOSE.encryption, key: alice.enc.publicKey, notAfter: NOW + 90 * DAY },
      { purpose: PURPOSE.device, key: alice.dev.publicKey, notAfter: NOW + 365 * DAY },
    ],
  };
  const name: AssertionContent = { type: 'name', name: 'alice@example.org' };
  const policy: AssertionContent = { type: 'policy', policy: { powBits: 18, powUnit: 65536, maxSize: 25 * 1024 * 1024 } };
  const make = (content: AssertionContent, o: { seq?: number; notBefore?: number; notAfter?: number; who?: User } = {}) => {
    const who = o.who ?? alice;
    const fields = { seq: o.seq ?? 7, notBefore: o.notBefore ?? NOW - DAY, notAfter: o.notAfter ?? NOW + 30 * DAY };
    const bytes = makeAssertion({ identity: who.identity, ...fields, content });
    const result = { subject: hx(who.typed), address: who.text, type: content.type, ...fields, content: contentJson(content) };
    return { bytes, result };
  };
  let m = make(stores);
  a.add('stores', 'A stores assertion naming two stores with priorities verifies.', v(m.bytes), 'ok', m.result);
  m = make(keys);
  a.add('keys', 'A keys assertion with an encryption key and a device key verifies.', v(m.bytes), 'ok', m.result);
  m = make(name);
  a.add('name', 'A name assertion binding a lowercase local@domain name verifies.', v(m.bytes), 'ok', m.result);
  m = make(policy);
  a.add('policy', 'A policy assertion demanding proof of work verifies.', v(m.bytes), 'ok', m.result);
  m = make({ type: 'stores', stores: [{ priority: 0, url: 'http://127.0.0.1:8080' }] }, { who: bob });
  a.add('stores-loopback-http', 'A plain-http store URL is allowed on a loopback address.', v(m.bytes), 'ok', m.result);
  m = make(stores);
  a.add('expected-address', 'An assertion verified against the address it is about verifies.', v(m.bytes, { address: alice.text, type: 'stores' }), 'ok', m.result);
  a.add('other-address', 'An assertion about alice presented for bob\'s address is refused.', v(m.bytes, { address: bob.text }), 'SUBJECT_MISMATCH');
  a.add('other-type', 'A stores assertion presented where a keys assertion was asked for is refused.', v(m.bytes, { type: 'keys' }), 'WRONG_TYPE');
  m = make(stores, { seq: 7 });
  a.add('seq-equal', 'A sequence number equal to the highest seen is accepted (the same assertion fetched again).', v(m.bytes, { highestSeq: 7 }), 'ok', m.result);
  a.add('seq-higher', 'A sequence number above the highest seen is accepted.', v(m.bytes, { highestSeq: 6 }), 'ok', m.result);
  a.add('seq-rollback', 'A sequence number below the highest seen is a rollback.', v(m.bytes, { highestSeq: 8 }), 'ROLLBACK');
  m = make(stores, { seq: 0 });
  a.add('seq-zero-fresh', 'Sequence number 0 is accepted when nothing was seen before.', v(m.bytes), 'ok', m.result);

  m = make(stores, { notBefore: NOW + SKEW });
  a.add('not-before-at-skew', 'An assertion starting exactly skew seconds in the future is accepted.', v(m.bytes), 'ok', m.result);
  a.add('not-before-beyond-skew', 'An assertion starting skew+1 seconds in the future is not valid yet.', v(make(stores, { notBefore: NOW + SKEW + 1 }).bytes), 'NOT_YET_VALID');
  m = make(stores, { notBefore: NOW - 30 * DAY, notAfter: NOW - SKEW });
  a.add('not-after-at-skew', 'An assertion that ended exactly skew seconds ago is accepted.', v(m.bytes), 'ok', m.result);
  a.add('not-after-beyond-skew', 'An assertion that ended skew+1 seconds ago has expired.', v(make(stores, { notBefore: NOW - 30 * DAY, notAfter: NOW - SKEW - 1 }).bytes), 'EXPIRED');
  m = make(stores);
  a.add('expired-later', 'A valid assertion checked 31 days after NOW has expired.', v(m.bytes, { now: NOW + 31 * DAY }), 'EXPIRED');
  const body = (o: Partial<AssertionFields> = {}): AssertionFields => ({
    subject: alice.typed,
    type: ASSERTION_TYPE.stores,
    seq: 1,
    notBefore: NOW - DAY,
    notAfter: NOW + DAY,
    content: encode(S.StoresContent, { stores: [{ priority: 10, url: 'https://a.example' }] }),
    ...o,
  });
  a.add('window-inverted', 'An assertion whose notAfter precedes its notBefore is malformed.', v(rawAssertion(body({ notBefore: NOW, notAfter: NOW - 1 }), alice.identity)), 'WIRE_BAD_TYPE');

  const keysContent = (purpose: number, key: Uint8Array) => encode(S.KeysContent, { keys: [{ purpose, key, notAfter: NOW + DAY }] });
  const keysBody = (purpose: number, key: Uint8Array) => body({ type: ASSERTION_TYPE.keys, content: keysContent(purpose, key) });
  a.add('keys-x25519-small-order', 'A keys assertion listing the X25519 point of order 8 as encryption key is refused.', v(rawAssertion(keysBody(PURPOSE.encryption, X_ORDER_8), alice.identity)), 'KEY_SMALL_ORDER');
  a.add('keys-x25519-one', 'A keys assertion listing u = 1 as encryption key is refused.', v(rawAssertion(keysBody(PURPOSE.encryption, X_ONE), alice.identity)), 'KEY_SMALL_ORDER');
  a.add('keys-x25519-u-equals-p', 'A keys assertion listing u = p (which reduces to 0) as encryption key is refused.', v(rawAssertion(keysBody(PURPOSE.encryption, X_U_EQUALS_P), alice.identity)), 'KEY_SMALL_ORDER');
  a.add('keys-ed25519-small-order', 'A keys assertion listing a small-order Ed25519 device key is refused.', v(rawAssertion(keysBody(PURPOSE.device, ED_ORDER_2), alice.identity)), 'KEY_SMALL_ORDER');
  a.add('keys-ed25519-noncanonical', 'A keys assertion listing a non-canonical Ed25519 device key is refused.', v(rawAssertion(keysBody(PURPOSE.device, ED_NEGATIVE_ZERO_X), alice.identity)), 'KEY_INVALID');
  a.add('keys-purpose-unknown', 'A keys assertion listing a key with purpose 9 is refused.', v(rawAssertion(keysBody(9, alice.enc.publicKey), alice.identity)), 'WIRE_BAD_TYPE');

  const sub = (pk: Uint8Array, alg = 1) => concat(Uint8Array.of(alg), pk);
  a.add('subject-small-order', 'An assertion whose subject is the identity point is refused.', v(rawAssertion(body({ subject: sub(ED_IDENTITY_POINT) }), alice.identity)), 'KEY_SMALL_ORDER');
  const mixed = Point.fromBytes(alice.identity.publicKey, false).add(Point.fromBytes(ED_ORDER_8, false)).toBytes();
  a.add('subject-mixed-order', 'An assertion whose subject key has a torsion component is refused.', v(rawAssertion(body({ subject: sub(mixed) }), alice.identity)), 'KEY_SMALL_ORDER');
  a.add('subject-noncanonical', 'An assertion whose subject key is the non-canonical encoding y = p is refused.', v(rawAssertion(body({ subject: sub(ED_Y_EQUALS_P) }), alice.identity)), 'KEY_INVALID');
  a.add('subject-algorithm-2', 'An assertion whose subject key names algorithm 2 is refused.', v(rawAssertion(body({ subject: sub(alice.identity.publicKey, 2) }), alice.identity)), 'KEY_UNSUPPORTED');

  const good = rawAssertion(body(), alice.identity);
  a.add('raw-ok', 'A hand-built stores assertion with one store verifies.', v(good), 'ok', {
    subject: hx(alice.typed),
    address: alice.text,
    type: 'stores',
    seq: 1,
    notBefore: NOW - DAY,
    notAfter: NOW + DAY,
    content: { stores: [{ priority: 10, url: 'https://a.example' }] },
  });
  a.add('bad-signature', 'An assertion with one bit of its signature flipped is refused.', v(mutateSigned(S.Assertion, good, (c) => (c.sig = flipBit(c.sig, 33)))), 'BAD_SIGNATURE');
  a.add('seq-changed', 'An assertion whose sequence number was raised after signing is refused.', v(mutateSigned(S.Assertion, good, (c) => (c.body = encode(S.AssertionBody, body({ seq: 2 }))))), 'BAD_SIGNATURE');
  a.add('wrong-label', 'A signature over the assertion body under the notification label is not an assertion signature.', v(rawAssertion(body(), alice.identity, LABELS.notification)), 'BAD_SIGNATURE');
  a.add('signed-by-other', 'An assertion about alice signed by mallory\'s identity key is refused.', v(rawAssertion(body(), mallory.identity)), 'BAD_SIGNATURE');
  a.add('signed-by-device', 'An assertion signed by a certified device key is refused: only the identity key signs assertions.', v(rawAssertion(body(), alice.dev, LABELS.assertion, alice.devCert)), 'CERT_PURPOSE');
  const storesBody = (url: string) => body({ content: encode(S.StoresContent, { stores: [{ priority: 1, url }] }) });
  a.add('store-http', 'A plain-http store URL on a public host is refused.', v(rawAssertion(storesBody('http://store.example'), alice.identity)), 'WIRE_BAD_TYPE');
  a.add('store-path', 'A store URL with a path (not a bare origin) is refused.', v(rawAssertion(storesBody('https://store.example/inbox'), alice.identity)), 'WIRE_BAD_TYPE');
  a.add('store-trailing-slash', 'A store URL with a trailing slash is not the origin\'s one spelling.', v(rawAssertion(storesBody('https://store.example/'), alice.identity)), 'WIRE_BAD_TYPE');
  const nameBody = (n: string) => body({ type: ASSERTION_TYPE.name, content: encode(S.NameContent, { name: n }) });
  a.add('name-uppercase', 'A legacy name with upper-case letters is refused (names have one spelling).', v(rawAssertion(nameBody('Alice@example.org'), alice.identity)), 'WIRE_BAD_TYPE');
  a.add('name-no-domain', 'A legacy name without a domain is refused.', v(rawAssertion(nameBody('alice'), alice.identity)), 'WIRE_BAD_TYPE');
  a.add('type-unknown', 'An assertion of type 5 (undefined) is refused.', v(rawAssertion(body({ type: 5 }), alice.identity)), 'WIRE_BAD_TYPE');
  a.add('content-type-mismatch', 'A policy-typed assertion whose content is a stores structure is refused (its key 1 holds a list, not powBits).', v(rawAssertion(body({ type: ASSERTION_TYPE.policy }), alice.identity)), 'WIRE_BAD_TYPE');
  a.add('policy-bits-too-high', 'A policy demanding 33 bits of proof of work is out of range.', v(rawAssertion(body({ type: ASSERTION_TYPE.policy, content: mpStruct({ 1: mpUint(33), 2: mpUint(1024), 3: mpUint(1 << 20) }) }), alice.identity)), 'WIRE_BAD_TYPE');
  a.add('content-noncanonical', 'Stores content with a long-form priority is not canonical, even though signed.', v(rawAssertion(body({ content: mpStruct({ 1: mpArr([mpStruct({ 1: mpUint(10, 8), 2: mpStr('https://a.example') })]) }) }), alice.identity)), 'WIRE_NONCANONICAL');
  const b = body();
  const nonCanonBody = mpStruct({ 1: mpBin(b.subject), 2: mpUint(b.type), 3: mpUint(b.seq, 32), 4: mpUint(b.notBefore), 5: mpUint(b.notAfter), 6: mpBin(b.content) });
  a.add('body-noncanonical', 'An assertion body with its sequence number in uint32 form is not canonical, even though signed.', v(signBytes(S.Assertion, LABELS.assertion, nonCanonBody, alice.signer)), 'WIRE_NONCANONICAL');
  a.add('stores-empty', 'A stores assertion with no store is refused.', v(rawAssertion(body({ content: mpStruct({ 1: mpArr([]) }) }), alice.identity)), 'WIRE_BAD_TYPE');
  a.add('oversized', 'An assertion input of 4097 bytes exceeds the 4096-byte limit.', v(concat(good, new Uint8Array(4097 - good.length))), 'WIRE_TOO_LARGE');
  a.add('truncated', 'An assertion cut in the middle of its signature is malformed.', v(good.subarray(0, good.length - 20)), 'WIRE_MALFORMED');
  a.add('container-unknown-field', 'A signed container with an extra key 4 is refused.', v(mpMap([[1, mpBin(encode(S.AssertionBody, b))], [2, mpBin(decode(S.Assertion, good).sig)], [4, mpUint(0)]])), 'WIRE_UNKNOWN_FIELD');
  a.add('container-missing-sig', 'A signed container without its signature is refused.', v(mpMap([[1, mpBin(encode(S.AssertionBody, b))]])), 'WIRE_MISSING_FIELD');

  // revocation (spec §7.3 step 10: after every other check, before the signature)
  const goodResult = { subject: hx(alice.typed), address: alice.text, type: 'stores', seq: 1, notBefore: NOW - DAY, notAfter: NOW + DAY, content: { stores: [{ priority: 10, url: 'https://a.example' }] } };
  a.add('revoked-identity', 'An assertion whose subject key is known to be revoked is refused.', v(good, { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-identity-bad-signature', 'An assertion of a revoked subject with a flipped signature bit is refused as revoked: revocation is checked before the signature.', v(mutateSigned(S.Assertion, good, (c) => (c.sig = flipBit(c.sig, 33))), { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-identity-rollback', 'A rolled-back assertion of a revoked subject is refused as a rollback: the sequence number is checked before revocation.', v(good, { highestSeq: 2, revoked: [alice.identity.publicKey] }), 'ROLLBACK');
  a.add('revoked-identity-expired', 'An expired assertion of a revoked subject is refused as expired: the window is checked before revocation.', v(good, { now: NOW + 2 * DAY, revoked: [alice.identity.publicKey] }), 'EXPIRED');
  a.add('revoked-subkey-only', 'An assertion signed by the identity key verifies when only one of its subkeys is revoked.', v(good, { revoked: [alice.dev.publicKey] }), 'ok', goodResult);
  a.add('revoked-other-identity', 'An assertion verifies when only another identity\'s key is revoked.', v(good, { revoked: [bob.identity.publicKey, mallory.identity.publicKey] }), 'ok', goodResult);
  return a;
}

// ---- envelopes -----------------------------------------------------------------------

const TAG = LIMITS.CHUNK + 16;
function chunkNonce(i: number, last: boolean): Uint8Array {
  const n = new Uint8Array(24);
  n.set(u32be(i), 19);
  n[23] = last ? 1 : 0;
  return n;
}
const hkdf = (ikm: Uint8Array, salt: Uint8Array, label: string, n: number) => crypto().hkdfSha256(ikm, salt, utf8(label), n);

interface RawSeal {
  recipients: Uint8Array[];
  random: RandomSource;
  version?: number;
  ephemeral?: Uint8Array;
  commitment?: Uint8Array;
  stanzas?: (s: { tag: Uint8Array; wrapped: Uint8Array }[]) => { tag: Uint8Array; wrapped: Uint8Array }[];
  /** The signed message (SignedMessage bytes), given the header hash it must bind. */
  plaintext: (headerHash: Uint8Array) => Uint8Array;
  /** Encrypted chunks, given the standard ones; default: as they are. */
  chunks?: (chunks: Uint8Array[], seal: (i: number, last: boolean, pt: Uint8Array) => Uint8Array, pt: Uint8Array) => Uint8Array[];
}

/**
 * The envelope construction of src/protocol/envelope.ts written out again, with hooks to
 * break each part. With no hooks it must give byte-for-byte what sealEnvelope gives.
 */
function rawSeal(o: RawSeal): Uint8Array {
  const contentKey = o.random(32);
  const eph = EncryptionKey.fromSecret(o.random(32));
  let stanzas: { tag: Uint8Array; wrapped: Uint8Array }[] = o.recipients.map((rk) => {
    const okm = hkdf(eph.sharedSecret(rk), concat(eph.publicKey, rk), LABELS.stanza, 48);
    return { tag: okm.slice(0, 16), wrapped: crypto().xchacha20poly1305Seal(okm.slice(16, 48), new Uint8Array(24), contentKey) };
  });
  stanzas.sort((x, y) => Buffer.compare(x.tag, y.tag));
  if (o.stanzas) stanzas = o.stanzas(stanzas);
  const header = encode(S.EnvelopeHeader, {
    version: o.version ?? 1,
    ephemeral: o.ephemeral ?? eph.publicKey,
    stanzas,
    commitment: o.commitment ?? hkdf(contentKey, new Uint8Array(0), LABELS.commitment, 32),
  });
  const headerHash = sha256(header);
  const pt = o.plaintext(headerHash);
  const key = hkdf(contentKey, headerHash, LABELS.payload, 32);
  const seal = (i: number, last: boolean, part: Uint8Array) => crypto().xchacha20poly1305Seal(key, chunkNonce(i, last), part);
  const count = Math.max(1, Math.ceil(pt.length / LIMITS.CHUNK));
  let chunks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) chunks.push(seal(i, i === count - 1, pt.subarray(i * LIMITS.CHUNK, (i + 1) * LIMITS.CHUNK)));
  if (o.chunks) chunks = o.chunks(chunks, seal, pt);
  return encode(S.Envelope, { header, payload: concat(...chunks) });
}

const signMessage = (author: Signer, draft: Draft, headerHash: Uint8Array, label: Label = LABELS.message, bind = true): Uint8Array =>
  signBytes(S.SignedMessage, label, encode(S.MessageBody, { ...draft, author: author.identity }), author, bind ? [headerHash] : []);

const messageJson = (author: Uint8Array, d: Draft) => ({
  author: hx(author),
  to: d.to.map(hx),
  cc: d.cc.map(hx),
  subject: d.subject,
  date: d.date,
  parents: d.parents.map(hx),
  body: d.body,
  attachments: d.attachments.map((x) => ({ name: x.name, type: x.type, data: hx(x.data) })),
});

function envelopes(): Area {
  const a = new Area(
    'envelopes',
    'Opening an envelope with a recipient\'s X25519 secret key: find the key stanza, unwrap the content key, check its commitment, decrypt the chunked payload, and verify the author\'s signature over the message and the header hash.',
  );
  const v = (env: Uint8Array, who: User | EncryptionKey, o: { expectedId?: Uint8Array; now?: number; revoked?: Uint8Array[] } = {}) => ({
    operation: 'open-envelope',
    envelope: hx(env),
    recipientSecretKey: hx((who instanceof EncryptionKey ? who : who.enc).exportSecret()),
    now: o.now ?? NOW,
    skew: SKEW,
    ...(o.expectedId ? { expectedId: hx(o.expectedId) } : {}),
    ...(o.revoked ? { revoked: o.revoked.map(hx) } : {}),
  });
  const draft = (o: Partial<Draft> = {}): Draft => ({ to: [bob.address], cc: [], subject: 'Lunch?', date: NOW - 60, parents: [], body: 'Noon at the usual place?', attachments: [], ...o });
  const result = (env: Uint8Array, author: Signer, d: Draft, who: User) => ({
    id: hx(sha256(env)),
    author: who.text,
    ...signerInfo(author),
    message: messageJson(who.typed, d),
  });
  const seal = (label: string, author: Signer, d: Draft, to: User[]) =>
    sealEnvelope({ author, draft: d, recipients: to.map((u) => ({ address: u.address, encryptionKey: u.enc.publicKey })), random: rng(`envelope ${label}`) });

  let d = draft();
  let s = seal('identity', alice.signer, d, [bob]);
  a.add('identity-author', 'A message signed by the author\'s identity key, opened by its one recipient.', v(s.envelope, bob), 'ok', result(s.envelope, alice.signer, d, alice));
  // The generator's own construction must agree with the library's byte for byte.
  const again = rawSeal({ recipients: [bob.enc.publicKey], random: rng('envelope identity'), plaintext: (hh) => signMessage(alice.signer, d, hh) });
  if (!Buffer.from(again).equals(Buffer.from(s.envelope))) throw new Error('rawSeal disagrees with sealEnvelope');
  a.add('expected-id', 'The same envelope opened with the id a notification named.', v(s.envelope, bob, { expectedId: s.id }), 'ok', result(s.envelope, alice.signer, d, alice));
  a.add('not-a-recipient', 'An envelope opened with the key of someone it was not sealed to.', v(s.envelope, carol), 'NOT_A_RECIPIENT');
  const other = seal('other', alice.signer, draft({ body: 'Something else.' }), [bob]);
  a.add('content-hash-mismatch', 'An envelope that does not hash to the id the notification named (content swapped after notifying).', v(other.envelope, bob, { expectedId: s.id }), 'CONTENT_HASH_MISMATCH');
  a.add('one-byte-changed-with-id', 'An envelope with its last byte changed, checked against the original id, fails the hash check first.', v(flipBit(s.envelope, s.envelope.length - 1), bob, { expectedId: s.id }), 'CONTENT_HASH_MISMATCH');
  a.add('truncated', 'An envelope cut short by one byte is malformed.', v(s.envelope.subarray(0, s.envelope.length - 1), bob), 'WIRE_MALFORMED');
  a.add('trailing-byte', 'An envelope followed by one extra byte is malformed.', v(concat(s.envelope, Uint8Array.of(0)), bob), 'WIRE_MALFORMED');

  d = draft({ to: [bob.address], cc: [carol.address], subject: 'Re: Plans', parents: [sha256(utf8('parent 1')), sha256(utf8('parent 2'))], body: 'Replying to both threads.' });
  s = seal('device-two', alice.device, d, [bob, carol]);
  a.add('device-author-first-recipient', 'A message signed by a certified device key, sent to two recipients, opened by the first.', v(s.envelope, bob), 'ok', result(s.envelope, alice.device, d, alice));
  a.add('device-author-second-recipient', 'The same two-recipient envelope opened by the second recipient gives the same message.', v(s.envelope, carol), 'ok', result(s.envelope, alice.device, d, alice));
  a.add('device-author-outsider', 'The same two-recipient envelope opened by a third party.', v(s.envelope, mallory), 'NOT_A_RECIPIENT');
  d = draft({ subject: 'Größe: 42 € 🎉', body: '', attachments: [{ name: 'notes.txt', type: 'text/plain', data: utf8('line one\nline two\n') }, { name: 'empty.bin', type: 'application/octet-stream', data: new Uint8Array(0) }] });
  s = seal('attachments', bob.signer, d, [alice]);
  a.add('attachments-unicode', 'A message with a Unicode subject, an empty body and two attachments.', v(s.envelope, alice), 'ok', result(s.envelope, bob.signer, d, bob));

  // Multi-chunk: a body longer than one 64 KiB chunk.
  const long = 'All work and no play makes a long message. '.repeat(1526); // 65,618 bytes
  d = draft({ subject: 'Long', body: long });
  const multi = (chunks?: RawSeal['chunks']) => rawSeal({ recipients: [bob.enc.publicKey], random: rng('envelope multi-chunk'), plaintext: (hh) => signMessage(alice.signer, d, hh), ...(chunks ? { chunks } : {}) });
  const mc = multi();
  if (decode(S.Envelope, mc).payload.length <= TAG) throw new Error('multi-chunk vector is not multi-chunk');
  a.add('multi-chunk', 'A message larger than one 64 KiB chunk is sealed as two chunks and opens whole.', v(mc, bob), 'ok', result(mc, alice.signer, d, alice));
  a.add('multi-chunk-tampered', 'One bit flipped inside the first payload chunk fails authentication.', v(multi((c) => [flipBit(c[0]!, 1000), ...c.slice(1)]), bob), 'DECRYPT_FAILED');
  a.add('multi-chunk-last-dropped', 'A payload with its last chunk dropped (truncation) fails: the remaining chunk is not marked last.', v(multi((c) => c.slice(0, -1)), bob), 'DECRYPT_FAILED');
  a.add('multi-chunk-reordered', 'A payload with its two chunks swapped fails authentication.', v(multi((c) => [c[1]!, c[0]!]), bob), 'DECRYPT_FAILED');
  a.add(
    'multi-chunk-empty-final',
    'A payload whose plaintext ends on a chunk boundary followed by an extra empty final chunk is refused (an empty chunk is only allowed as the sole chunk).',
    v(multi((_c, seal, pt) => [seal(0, false, pt.subarray(0, LIMITS.CHUNK)), seal(1, false, pt.subarray(LIMITS.CHUNK)), seal(2, true, new Uint8Array(0))]), bob),
    'DECRYPT_FAILED',
  );

  d = draft();
  const raw = (label: string, o: Partial<RawSeal>) =>
    rawSeal({ recipients: [bob.enc.publicKey], random: rng(`envelope ${label}`), plaintext: (hh) => signMessage(alice.signer, d, hh), ...o });
  a.add('version-2', 'An envelope whose header declares version 2 is refused before any decryption.', v(raw('v2', { version: 2 }), bob), 'WIRE_BAD_VERSION');
  a.add('version-0', 'An envelope whose header declares version 0 is refused.', v(raw('v0', { version: 0 }), bob), 'WIRE_BAD_VERSION');
  const two = (label: string, o: Partial<RawSeal>) => raw(label, { recipients: [bob.enc.publicKey, carol.enc.publicKey], ...o });
  a.add('stanzas-unsorted', 'A header whose key stanzas are not in ascending tag order is not canonical.', v(two('unsorted', { stanzas: (x) => [x[1]!, x[0]!] }), bob), 'WIRE_NONCANONICAL');
  a.add('stanza-duplicate', 'A header listing the same key stanza twice is not canonical.', v(raw('dup', { stanzas: (x) => [x[0]!, x[0]!] }), bob), 'WIRE_NONCANONICAL');
  a.add('ephemeral-small-order', 'A header whose ephemeral X25519 key has small order is refused.', v(raw('small-eph', { ephemeral: X_ORDER_8 }), bob), 'KEY_SMALL_ORDER');
  a.add('stanza-tampered', 'A key stanza whose wrapped key has one bit flipped fails to unwrap.', v(raw('stanza', { stanzas: (x) => [{ tag: x[0]!.tag, wrapped: flipBit(x[0]!.wrapped, 3) }] }), bob), 'DECRYPT_FAILED');
  a.add('commitment-mismatch', 'A header whose key commitment does not match the content key is refused.', v(raw('commit', { commitment: sha256(utf8('not the commitment')) }), bob), 'DECRYPT_FAILED');
  a.add('author-bad-signature', 'A message whose author signature has one bit flipped is refused after decryption.', v(raw('badsig', { plaintext: (hh) => mutateSigned(S.SignedMessage, signMessage(alice.signer, d, hh), (c) => (c.sig = flipBit(c.sig, 5))) }), bob), 'BAD_SIGNATURE');
  a.add('signature-not-bound-to-header', 'A message signed under the message label without the header hash is refused.', v(raw('unbound', { plaintext: (hh) => signMessage(alice.signer, d, hh, LABELS.message, false) }), bob), 'BAD_SIGNATURE');
  a.add('signature-wrong-label', 'A message signed over the header hash and body under the notification label is refused.', v(raw('label', { plaintext: (hh) => signMessage(alice.signer, d, hh, LABELS.notification) }), bob), 'BAD_SIGNATURE');
  // Bob takes a message alice sealed to him and re-seals it, signature intact, to carol.
  const toBob = raw('forward-original', {});
  const original = rawSeal({ recipients: [bob.enc.publicKey], random: rng('envelope forward-original'), plaintext: (hh) => signMessage(alice.signer, d, hh) });
  if (!Buffer.from(original).equals(Buffer.from(toBob))) throw new Error('raw seal is not deterministic');
  const origHeaderHash = sha256(decode(S.Envelope, original).header);
  const resealed = rawSeal({ recipients: [carol.enc.publicKey], random: rng('envelope forward-resealed'), plaintext: () => signMessage(alice.signer, d, origHeaderHash) });
  a.add('resealed-to-other', 'A recipient re-encrypting the author\'s signed message to a third party under a new header is detected: the signature covers the original header.', v(resealed, carol), 'BAD_SIGNATURE');
  a.add('author-delegate', 'A message signed by the author\'s store-delegate key is refused: delegates may not author mail.', v(raw('delegate', { plaintext: (hh) => signMessage(alice.delegate, d, hh) }), bob), 'CERT_PURPOSE');
  a.add('author-foreign-cert', 'A message naming alice as author, signed by bob\'s device with bob\'s certificate, is refused.', v(raw('foreign', { plaintext: (hh) => signMessage(forged(alice.typed, bob.dev, bob.devCert), d, hh) }), bob), 'CERT_INVALID');
  const expiredCert = certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: alice.dev.publicKey, notBefore: NOW - 400 * DAY, notAfter: NOW - 30 * DAY });
  a.add('author-cert-expired', 'A message signed by a device whose certificate expired 30 days ago is refused.', v(raw('expired-cert', { plaintext: (hh) => signMessage(forged(alice.typed, alice.dev, expiredCert), d, hh) }), bob), 'EXPIRED');
  a.add('author-small-order', 'A message whose author key is small-order is refused.', v(raw('small-author', { plaintext: (hh) => signMessage(forged(concat(Uint8Array.of(1), ED_ORDER_8), alice.identity), d, hh) }), bob), 'KEY_SMALL_ORDER');
  a.add('message-noncanonical', 'A signed message whose body has its empty cc list under an array16 header is not canonical.', v(raw('noncanon', {
    plaintext: (hh) => {
      const body = mpStruct({ 1: mpBin(alice.typed), 2: mpArr([mpBin(bob.address)]), 3: mpArr([], 16), 4: mpStr(d.subject), 5: mpUint(d.date), 6: mpArr([]), 7: mpStr(d.body), 8: mpArr([]) });
      return signBytes(S.SignedMessage, LABELS.message, body, alice.signer, [hh]);
    },
  }), bob), 'WIRE_NONCANONICAL');

  // revocation of the author (spec §9.3 step 12: only after decryption)
  d = draft({ subject: 'Revocation', body: 'Signed by a key that may be revoked.' });
  const byId = seal('revoked identity', alice.signer, d, [bob]);
  const byDev = seal('revoked device', alice.device, d, [bob, carol]);
  a.add('revoked-author-identity', 'A message signed by an author identity key that is known to be revoked is refused.', v(byId.envelope, bob, { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-author-device', 'A message signed by a device key the author has revoked is refused.', v(byDev.envelope, bob, { revoked: [alice.dev.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-author-identity-device', 'A message signed by a device of an author whose identity is revoked is refused, though the device key itself is not revoked.', v(byDev.envelope, carol, { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-author-not-a-recipient', 'An envelope from a revoked author opened by someone it was not sealed to is refused as not a recipient: revocation is checked only after decryption.', v(byId.envelope, mallory, { revoked: [alice.identity.publicKey] }), 'NOT_A_RECIPIENT');
  a.add('revoked-author-hash-mismatch', 'An envelope from a revoked author checked against another id fails the hash check first.', v(byId.envelope, bob, { expectedId: s.id, revoked: [alice.identity.publicKey] }), 'CONTENT_HASH_MISMATCH');
  a.add('revoked-other-keys', 'A message signed by the author\'s device opens when only unrelated keys are revoked: the recipient\'s identity and the author\'s store delegate.', v(byDev.envelope, bob, { revoked: [bob.identity.publicKey, alice.del.publicKey] }), 'ok', result(byDev.envelope, alice.device, d, alice));
  a.add('revoked-other-identity', 'A message signed by the author\'s identity key opens when only another identity is revoked.', v(byId.envelope, bob, { revoked: [mallory.identity.publicKey] }), 'ok', result(byId.envelope, alice.signer, d, alice));
  return a;
}

// ---- notifications -------------------------------------------------------------------

type NBody = S.NotificationBody;
const MSG_ID = sha256(utf8('keypost vectors: message'));
const notificationBodyJson = (b: NBody) => ({
  recipient: hx(b.recipient),
  sender: hx(b.sender),
  store: b.store,
  id: hx(b.id),
  size: b.size,
  time: b.time,
  expires: b.expires,
  ...(b.pow ? { pow: hx(b.pow) } : {}),
});
const stampHash = (recipient: Uint8Array, id: Uint8Array, nonce: Uint8Array) => sha256(labelled(LABELS.pow, recipient, id, nonce));

function notifications(): Area {
  const a = new Area(
    'notifications',
    'Verifying a notification at the recipient\'s store without decrypting anything (size, decoding, lifetime, time window, store URL, served recipient, replay, proof of work, signer, signature), then optionally opening the encrypted subject hint with the recipient\'s X25519 secret key.',
  );
  type Opt = { now?: number; served?: User[]; powBits?: number; seen?: Uint8Array[]; revoked?: Uint8Array[]; key?: EncryptionKey };
  const v = (n: Uint8Array, o: Opt = {}) => ({
    operation: 'verify-notification',
    notification: hx(n),
    now: o.now ?? NOW,
    skew: SKEW,
    served: (o.served ?? [bob]).map((u) => u.text),
    powBits: o.powBits ?? 0,
    ...(o.seen ? { seen: o.seen.map(hx) } : {}),
    ...(o.revoked ? { revoked: o.revoked.map(hx) } : {}),
    ...(o.key ? { recipientSecretKey: hx(o.key.exportSecret()) } : {}),
  });
  const base = (o: Partial<NBody> = {}): NBody => ({ recipient: bob.address, sender: alice.typed, store: STORE, id: MSG_ID, size: 4096, time: NOW, expires: NOW + DAY, ...o });
  const sign = (b: NBody, signer: Signer, label: Label = LABELS.notification) => signBytes(S.Notification, label, encode(S.NotificationBody, b), signer);
  const ok = (n: Uint8Array, b: NBody, signer: Signer, from: User, hint?: string | null) => ({
    body: notificationBodyJson(b),
    senderAddress: from.text,
    hash: hx(bodyHash(S.Notification, n)),
    ...signerInfo(signer),
    ...(hint !== undefined ? { subjectHint: hint } : {}),
  });
  const made = (label: string, signer: Signer, o: { hint?: string; pow?: Uint8Array; time?: number; expires?: number; store?: string } = {}) => {
    const b = base({ ...(o.time !== undefined ? { time: o.time } : {}), ...(o.expires !== undefined ? { expires: o.expires } : {}), ...(o.store ? { store: o.store } : {}) });
    const n = makeNotification({
      sender: signer,
      recipient: { address: bob.address, encryptionKey: bob.enc.publicKey },
      store: b.store,
      id: b.id,
      size: b.size,
      time: b.time,
      expires: b.expires,
      ...(o.pow ? { pow: o.pow } : {}),
      ...(o.hint !== undefined ? { subjectHint: o.hint } : {}),
      random: rng(`notification ${label}`),
    });
    if (o.pow) b.pow = o.pow;
    return { n, b };
  };

  let m = made('device', alice.device);
  a.add('device', 'A notification signed by the sender\'s certified device key verifies.', v(m.n), 'ok', ok(m.n, m.b, alice.device, alice));
  const plain = made('identity', alice.signer);
  a.add('identity', 'A notification signed by the sender\'s identity key verifies.', v(plain.n), 'ok', ok(plain.n, plain.b, alice.signer, alice));
  a.add('not-served', 'A notification for bob sent to a store that serves only carol is refused.', v(plain.n, { served: [carol] }), 'NOT_A_RECIPIENT');
  a.add('served-among-several', 'A notification for bob at a store serving carol and bob verifies.', v(plain.n, { served: [carol, bob] }), 'ok', ok(plain.n, plain.b, alice.signer, alice));
  a.add('replay', 'A notification whose hash is already in the replay cache is refused.', v(plain.n, { seen: [bodyHash(S.Notification, plain.n)] }), 'REPLAY');
  a.add('no-hint-key-given', 'Opening the hint of a notification that carries none gives no subject.', v(plain.n, { key: bob.enc }), 'ok', ok(plain.n, plain.b, alice.signer, alice, null));

  m = made('hint', alice.device, { hint: 'Lunch on Friday?' });
  a.add('subject-hint', 'The encrypted subject hint opens with the recipient\'s X25519 key.', v(m.n, { key: bob.enc }), 'ok', ok(m.n, m.b, alice.device, alice, 'Lunch on Friday?'));
  a.add('subject-hint-not-opened', 'A notification with a subject hint verifies without any key (the store sees no subject).', v(m.n), 'ok', ok(m.n, m.b, alice.device, alice));
  a.add('subject-hint-wrong-key', 'A subject hint opened with someone else\'s X25519 key fails to decrypt.', v(m.n, { key: carol.enc }), 'DECRYPT_FAILED');
  const hb = decode(S.NotificationBody, decode(S.Notification, m.n).body);
  const tamperedHint = sign({ ...hb, sealed: { ephemeral: hb.sealed!.ephemeral, box: flipBit(hb.sealed!.box, 2) } }, alice.device);
  a.add('subject-hint-tampered', 'A subject hint whose ciphertext was changed (then re-signed by the sender) fails to decrypt.', v(tamperedHint, { key: bob.enc }), 'DECRYPT_FAILED');
  const lifted = sign({ ...base({ id: sha256(utf8('keypost vectors: another message')) }), sealed: hb.sealed! }, alice.device);
  a.add('subject-hint-lifted', 'A sealed hint copied from a notification about another message does not open: the hint is bound to the message id and recipient.', v(lifted, { key: bob.enc }), 'DECRYPT_FAILED');
  const smallEph = sign({ ...hb, sealed: { ephemeral: X_ORDER_8, box: hb.sealed!.box } }, alice.device);
  a.add('subject-hint-small-order', 'A subject hint whose ephemeral X25519 key has small order is refused.', v(smallEph, { key: bob.enc }), 'KEY_SMALL_ORDER');
  m = made('empty-hint', alice.device, { hint: '' });
  a.add('subject-hint-empty', 'An empty subject hint opens to the empty string.', v(m.n, { key: bob.enc }), 'ok', ok(m.n, m.b, alice.device, alice, ''));

  m = made('future-edge', alice.device, { time: NOW + SKEW, expires: NOW + SKEW + DAY });
  a.add('time-at-skew', 'A notification dated exactly skew seconds in the future is accepted.', v(m.n), 'ok', ok(m.n, m.b, alice.device, alice));
  m = made('future', alice.device, { time: NOW + SKEW + 1, expires: NOW + SKEW + 1 + DAY });
  a.add('time-beyond-skew', 'A notification dated skew+1 seconds in the future is not valid yet.', v(m.n), 'NOT_YET_VALID');
  m = made('expired-edge', alice.device, { time: NOW - 2 * DAY, expires: NOW - SKEW });
  a.add('expires-at-skew', 'A notification that expired exactly skew seconds ago is accepted.', v(m.n), 'ok', ok(m.n, m.b, alice.device, alice));
  m = made('expired', alice.device, { time: NOW - 2 * DAY, expires: NOW - SKEW - 1 });
  a.add('expires-beyond-skew', 'A notification that expired skew+1 seconds ago has expired.', v(m.n), 'EXPIRED');
  m = made('lifetime-max', alice.device, { expires: NOW + 30 * DAY });
  a.add('lifetime-30-days', 'A notification valid for exactly 30 days (the maximum lifetime) is accepted.', v(m.n), 'ok', ok(m.n, m.b, alice.device, alice));
  a.add('lifetime-too-long', 'A notification valid for 30 days and one second exceeds the maximum lifetime.', v(sign(base({ expires: NOW + 30 * DAY + 1 }), alice.device)), 'WIRE_BAD_TYPE');
  a.add('expires-before-time', 'A notification that expires before it was sent is malformed.', v(sign(base({ expires: NOW - 1 }), alice.device)), 'WIRE_BAD_TYPE');
  m = made('loopback', alice.device, { store: 'http://127.0.0.1:8080' });
  a.add('store-loopback', 'A notification naming a plain-http loopback store is accepted.', v(m.n), 'ok', ok(m.n, m.b, alice.device, alice));
  a.add('store-not-origin', 'A notification whose store URL has a path is refused.', v(sign(base({ store: 'https://store.example/fetch' }), alice.device)), 'WIRE_BAD_TYPE');
  a.add('store-http', 'A notification naming a plain-http public store is refused.', v(sign(base({ store: 'http://store.example' }), alice.device)), 'WIRE_BAD_TYPE');

  // proof of work
  const stamp = mintStamp(bob.address, MSG_ID, 8, rng('notification stamp'));
  const lz = leadingZeroBits(stampHash(bob.address, MSG_ID, stamp));
  m = made('pow', alice.signer, { pow: stamp });
  a.add('pow-ok', `A notification carrying a stamp with ${lz} leading zero bits meets a demand of ${lz} bits.`, v(m.n, { powBits: lz }), 'ok', ok(m.n, m.b, alice.signer, alice));
  a.add('pow-insufficient', `A stamp with ${lz} leading zero bits does not meet a demand of ${lz + 1} bits.`, v(m.n, { powBits: lz + 1 }), 'POW_INSUFFICIENT');
  a.add('pow-missing', 'A notification without a stamp is refused where 8 bits are demanded.', v(plain.n, { powBits: 8 }), 'POW_MISSING');
  a.add('pow-not-required', 'A stamp that is present but not demanded is ignored.', v(m.n), 'ok', ok(m.n, m.b, alice.signer, alice));
  const forCarol = sign(base({ recipient: carol.address, pow: stamp }), alice.signer);
  const lzCarol = leadingZeroBits(stampHash(carol.address, MSG_ID, stamp));
  if (lzCarol >= 8) throw new Error('stamp happens to work for carol too');
  a.add('pow-other-recipient', 'A stamp minted for bob does not count for a notification to carol: the stamp binds the recipient.', v(forCarol, { powBits: 8, served: [carol] }), 'POW_INSUFFICIENT');

  // signers
  a.add('delegate-signed', 'A notification signed by the sender\'s store-delegate key is refused: only the identity or a device may notify.', v(sign(base(), alice.delegate)), 'CERT_PURPOSE');
  a.add('foreign-cert', 'A notification naming alice as sender but signed by bob\'s device under bob\'s certificate is refused.', v(sign(base(), forged(alice.typed, bob.dev, bob.devCert)), { served: [bob] }), 'CERT_INVALID');
  a.add('revoked-device', 'A notification signed by a device key the sender has revoked is refused.', v(sign(base(), alice.device), { revoked: [alice.dev.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-identity', 'A notification signed by an identity key that has been revoked is refused.', v(plain.n, { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-identity-device', 'A notification signed by a device of an identity that has been revoked is refused, though the device key itself is not revoked.', v(sign(base(), alice.device), { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-other-key', 'A revocation of some other key does not affect a notification signed by the sender\'s device.', v(sign(base(), alice.device), { revoked: [bob.dev.publicKey] }), 'ok', ok(sign(base(), alice.device), base(), alice.device, alice));
  const expiredCert = certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: alice.dev.publicKey, notBefore: NOW - 100 * DAY, notAfter: NOW - DAY });
  a.add('cert-expired', 'A notification signed by a device whose certificate expired a day ago is refused.', v(sign(base(), forged(alice.typed, alice.dev, expiredCert))), 'EXPIRED');
  const futureCert = certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: alice.dev.publicKey, notBefore: NOW + DAY, notAfter: NOW + 100 * DAY });
  a.add('cert-not-yet-valid', 'A notification signed by a device whose certificate starts tomorrow is refused.', v(sign(base(), forged(alice.typed, alice.dev, futureCert))), 'NOT_YET_VALID');
  const badCert = mutateSigned(S.SubkeyCert, alice.devCert, (c) => (c.sig = flipBit(c.sig, 7)));
  a.add('cert-bad-signature', 'A notification whose attached device certificate has a flipped signature bit is refused.', v(sign(base(), forged(alice.typed, alice.dev, badCert))), 'BAD_SIGNATURE');
  a.add('bad-signature', 'A notification with one bit of its signature flipped is refused.', v(mutateSigned(S.Notification, plain.n, (c) => (c.sig = flipBit(c.sig, 0)))), 'BAD_SIGNATURE');
  a.add('size-changed', 'A notification whose size field was changed after signing is refused.', v(mutateSigned(S.Notification, plain.n, (c) => (c.body = encode(S.NotificationBody, { ...plain.b, size: 4097 })))), 'BAD_SIGNATURE');
  a.add('wrong-label', 'A signature over the notification body under the receipt label is not a notification signature.', v(sign(base(), alice.signer, LABELS.receipt)), 'BAD_SIGNATURE');
  a.add('sender-small-order', 'A notification whose sender key is small-order is refused.', v(sign(base({ sender: concat(Uint8Array.of(1), ED_ORDER_8) }), forged(concat(Uint8Array.of(1), ED_ORDER_8), alice.identity))), 'KEY_SMALL_ORDER');
  a.add('sender-algorithm-2', 'A notification whose sender key names algorithm 2 is refused.', v(sign(base({ sender: concat(Uint8Array.of(2), alice.identity.publicKey) }), forged(concat(Uint8Array.of(2), alice.identity.publicKey), alice.identity))), 'KEY_UNSUPPORTED');

  // format
  a.add('oversized', 'A notification input of 1025 bytes exceeds the 1024-byte limit.', v(concat(plain.n, new Uint8Array(1025 - plain.n.length))), 'WIRE_TOO_LARGE');
  a.add('body-too-large', 'A signed container whose body field is 701 bytes exceeds the 700-byte body limit.', v(mpStruct({ 1: mpBin(new Uint8Array(701)), 2: mpBin(new Uint8Array(64)) })), 'WIRE_TOO_LARGE');
  a.add('truncated', 'A notification cut short by ten bytes is malformed.', v(plain.n.subarray(0, plain.n.length - 10)), 'WIRE_MALFORMED');
  a.add('trailing-byte', 'A notification followed by one extra byte is malformed.', v(concat(plain.n, Uint8Array.of(0xc0))), 'WIRE_MALFORMED');
  const pb = base();
  const unknownBody = mpStruct({ 1: mpBin(pb.recipient), 2: mpBin(pb.sender), 3: mpStr(pb.store), 4: mpBin(pb.id), 5: mpUint(pb.size), 6: mpUint(pb.time), 7: mpUint(pb.expires), 10: mpUint(1) });
  a.add('body-unknown-field', 'A signed notification body with an undefined key 10 is refused.', v(signBytes(S.Notification, LABELS.notification, unknownBody, alice.signer)), 'WIRE_UNKNOWN_FIELD');
  const longBody = mpStruct({ 1: mpBin(pb.recipient), 2: mpBin(pb.sender), 3: mpStr(pb.store, 16), 4: mpBin(pb.id), 5: mpUint(pb.size), 6: mpUint(pb.time), 7: mpUint(pb.expires) });
  a.add('body-noncanonical', 'A signed notification body with its store URL under a str16 header is not canonical.', v(signBytes(S.Notification, LABELS.notification, longBody, alice.signer)), 'WIRE_NONCANONICAL');
  const strSize = mpStruct({ 1: mpBin(pb.recipient), 2: mpBin(pb.sender), 3: mpStr(pb.store), 4: mpBin(pb.id), 5: mpStr('4096'), 6: mpUint(pb.time), 7: mpUint(pb.expires) });
  a.add('body-wrong-type', 'A signed notification body whose size is a string is refused.', v(signBytes(S.Notification, LABELS.notification, strSize, alice.signer)), 'WIRE_BAD_TYPE');

  // where revocation falls in the order (spec §6.4 steps 2 and 10, inside §10.3 step 11)
  const byExpired = sign(base(), forged(alice.typed, alice.dev, expiredCert));
  a.add('revoked-identity-cert-expired', 'A notification signed by a device with an expired certificate, for a revoked identity, is refused as revoked: the identity is checked before the certificate.', v(byExpired, { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-device-cert-expired', 'A notification signed by a revoked device whose certificate has expired is refused as expired: the certificate window is checked before the subkey\'s revocation.', v(byExpired, { revoked: [alice.dev.publicKey] }), 'EXPIRED');
  a.add('revoked-identity-pow-missing', 'A notification from a revoked identity without a demanded stamp is refused for the missing stamp: proof of work is checked before the signer.', v(plain.n, { powBits: 8, revoked: [alice.identity.publicKey] }), 'POW_MISSING');
  return a;
}

// ---- receipts, retractions, fetch requests -------------------------------------------

const deliveredJson = (t: StructT<S.Signed>, bytes: Uint8Array, body: Record<string, Json>, from: User, signer: Signer) => ({
  body,
  from: from.text,
  ...signerInfo(signer),
  hash: hx(bodyHash(t, bytes)),
});

function receipts(): Area {
  const a = new Area(
    'receipts',
    'Verifying a receipt (the recipient\'s signed confirmation that it fetched and verified a message) with a clock, a skew allowance and optionally the message id it must name; receipts are fresh for 600 seconds plus skew.',
  );
  const v = (r: Uint8Array, o: { id?: Uint8Array; now?: number; revoked?: Uint8Array[] } = {}) => ({
    operation: 'verify-receipt',
    receipt: hx(r),
    now: o.now ?? NOW,
    skew: SKEW,
    ...(o.id ? { messageId: hx(o.id) } : {}),
    ...(o.revoked ? { revoked: o.revoked.map(hx) } : {}),
  });
  const mk = (signer: Signer, time = NOW) => makeReceipt({ recipient: signer, id: MSG_ID, time });
  const res = (r: Uint8Array, signer: Signer, from: User, time = NOW) => deliveredJson(S.Receipt, r, { recipient: hx(from.typed), id: hx(MSG_ID), time }, from, signer);
  let r = mk(bob.signer);
  a.add('identity', 'A receipt signed by the recipient\'s identity key verifies.', v(r), 'ok', res(r, bob.signer, bob));
  a.add('expected-id', 'A receipt checked against the id it names verifies.', v(r, { id: MSG_ID }), 'ok', res(r, bob.signer, bob));
  a.add('other-id', 'A receipt checked against another message id is refused.', v(r, { id: sha256(utf8('another message')) }), 'SUBJECT_MISMATCH');
  r = mk(bob.device);
  a.add('device', 'A receipt signed by the recipient\'s certified device key verifies.', v(r), 'ok', res(r, bob.device, bob));
  r = mk(bob.delegate);
  a.add('store-delegate', 'A receipt signed by the recipient\'s store-delegate key (prefetch on arrival) verifies.', v(r), 'ok', res(r, bob.delegate, bob));
  const oldest = NOW - SKEW - FRESHNESS;
  r = mk(bob.signer, oldest);
  a.add('stale-edge', 'A receipt exactly freshness (600 s) plus skew old is accepted.', v(r), 'ok', res(r, bob.signer, bob, oldest));
  a.add('stale', 'A receipt one second older than freshness plus skew has expired.', v(mk(bob.signer, oldest - 1)), 'EXPIRED');
  r = mk(bob.signer, NOW + SKEW);
  a.add('future-edge', 'A receipt dated exactly skew seconds in the future is accepted.', v(r), 'ok', res(r, bob.signer, bob, NOW + SKEW));
  a.add('future', 'A receipt dated skew+1 seconds in the future is not valid yet.', v(mk(bob.signer, NOW + SKEW + 1)), 'NOT_YET_VALID');
  const encCert = certifySubkey({ identity: bob.identity, purpose: PURPOSE.encryption, subkey: bob.dev.publicKey, notBefore: NOW - DAY, notAfter: NOW + DAY });
  a.add('encryption-purpose', 'A receipt signed by a key certified only for encryption is refused.', v(mk(forged(bob.typed, bob.dev, encCert))), 'CERT_PURPOSE');
  const base = mk(bob.signer);
  a.add('bad-signature', 'A receipt with one bit of its signature flipped is refused.', v(mutateSigned(S.Receipt, base, (c) => (c.sig = flipBit(c.sig, 63, 3)))), 'BAD_SIGNATURE');
  const body = encode(S.ReceiptBody, { recipient: bob.typed, id: MSG_ID, time: NOW });
  a.add('wrong-label', 'A signature over the receipt body under the fetch-request label is not a receipt signature.', v(signBytes(S.Receipt, LABELS.fetch, body, bob.signer)), 'BAD_SIGNATURE');
  a.add('signed-by-other', 'A receipt naming bob but signed by mallory is refused.', v(signBytes(S.Receipt, LABELS.receipt, body, forged(bob.typed, mallory.identity))), 'BAD_SIGNATURE');
  a.add('missing-time', 'A signed receipt body without its time is refused.', v(signBytes(S.Receipt, LABELS.receipt, mpStruct({ 1: mpBin(bob.typed), 2: mpBin(MSG_ID) }), bob.signer)), 'WIRE_MISSING_FIELD');
  a.add('oversized', 'A receipt input of 513 bytes exceeds the 512-byte limit.', v(concat(base, new Uint8Array(513 - base.length))), 'WIRE_TOO_LARGE');

  // revocation
  a.add('revoked-identity', 'A receipt signed by a recipient identity key that is known to be revoked is refused.', v(base, { revoked: [bob.identity.publicKey] }), 'KEY_REVOKED');
  const byDelegate = mk(bob.delegate);
  a.add('revoked-identity-delegate', 'A receipt signed by the store delegate of a revoked identity is refused, though the delegate key itself is not revoked.', v(byDelegate, { revoked: [bob.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-delegate', 'A receipt signed by a store-delegate key the recipient has revoked is refused.', v(byDelegate, { revoked: [bob.del.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-identity-stale', 'A stale receipt from a revoked identity is refused as expired: freshness is checked before the signer.', v(mk(bob.signer, oldest - 1), { revoked: [bob.identity.publicKey] }), 'EXPIRED');
  a.add('revoked-other-keys', 'A receipt signed by the recipient\'s store delegate verifies when only unrelated keys are revoked: the recipient\'s device and the sender\'s identity.', v(byDelegate, { revoked: [bob.dev.publicKey, alice.identity.publicKey] }), 'ok', res(byDelegate, bob.delegate, bob));
  return a;
}

function retractions(): Area {
  const a = new Area(
    'retractions',
    'Verifying a retraction (the sender\'s signed "unsend" of one message to one recipient) with a clock, a skew allowance and optionally the message id it must name; a retraction never expires but may not come from the future.',
  );
  const v = (r: Uint8Array, o: { id?: Uint8Array; revoked?: Uint8Array[] } = {}) => ({
    operation: 'verify-retraction',
    retraction: hx(r),
    now: NOW,
    skew: SKEW,
    ...(o.id ? { messageId: hx(o.id) } : {}),
    ...(o.revoked ? { revoked: o.revoked.map(hx) } : {}),
  });
  const mk = (signer: Signer, time = NOW) => makeRetraction({ sender: signer, id: MSG_ID, recipient: bob.address, time });
  const res = (r: Uint8Array, signer: Signer, time = NOW) => deliveredJson(S.Retraction, r, { sender: hx(alice.typed), id: hx(MSG_ID), recipient: hx(bob.address), time }, alice, signer);
  let r = mk(alice.signer);
  a.add('identity', 'A retraction signed by the sender\'s identity key verifies.', v(r), 'ok', res(r, alice.signer));
  a.add('expected-id', 'A retraction checked against the id it names verifies.', v(r, { id: MSG_ID }), 'ok', res(r, alice.signer));
  a.add('other-id', 'A retraction checked against another message id is refused.', v(r, { id: sha256(utf8('another message')) }), 'SUBJECT_MISMATCH');
  r = mk(alice.device);
  a.add('device', 'A retraction signed by the sender\'s certified device key verifies.', v(r), 'ok', res(r, alice.device));
  r = mk(alice.signer, NOW - 365 * DAY);
  a.add('old', 'A retraction made a year ago still verifies (it is retransmitted until acknowledged).', v(r), 'ok', res(r, alice.signer, NOW - 365 * DAY));
  r = mk(alice.signer, NOW + SKEW);
  a.add('future-edge', 'A retraction dated exactly skew seconds in the future is accepted.', v(r), 'ok', res(r, alice.signer, NOW + SKEW));
  a.add('future', 'A retraction dated skew+1 seconds in the future is not valid yet.', v(mk(alice.signer, NOW + SKEW + 1)), 'NOT_YET_VALID');
  a.add('store-delegate', 'A retraction signed by the sender\'s store-delegate key is refused: a store may not unsend for its user.', v(mk(alice.delegate)), 'CERT_PURPOSE');
  a.add('revoked-device', 'A retraction signed by a device key the sender has revoked is refused.', v(mk(alice.device), { revoked: [alice.dev.publicKey] }), 'KEY_REVOKED');
  a.add('foreign-cert', 'A retraction naming alice but signed by mallory\'s device under mallory\'s certificate is refused.', v(mk(forged(alice.typed, mallory.dev, mallory.devCert))), 'CERT_INVALID');
  a.add('bad-signature', 'A retraction with one bit of its signature flipped is refused.', v(mutateSigned(S.Retraction, mk(alice.signer), (c) => (c.sig = flipBit(c.sig, 20)))), 'BAD_SIGNATURE');
  const body = encode(S.RetractionBody, { sender: alice.typed, id: MSG_ID, recipient: bob.address, time: NOW });
  a.add('wrong-label', 'A signature over the retraction body under the receipt label is not a retraction signature.', v(signBytes(S.Retraction, LABELS.receipt, body, alice.signer)), 'BAD_SIGNATURE');
  a.add('recipient-changed', 'A retraction whose recipient was changed after signing is refused.', v(mutateSigned(S.Retraction, mk(alice.signer), (c) => (c.body = encode(S.RetractionBody, { sender: alice.typed, id: MSG_ID, recipient: carol.address, time: NOW })))), 'BAD_SIGNATURE');

  // revocation
  a.add('revoked-identity', 'A retraction signed by a sender identity key that is known to be revoked is refused.', v(mk(alice.signer), { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-identity-device', 'A retraction signed by a device of a revoked identity is refused, though the device key itself is not revoked.', v(mk(alice.device), { revoked: [alice.identity.publicKey] }), 'KEY_REVOKED');
  r = mk(alice.device);
  a.add('revoked-other-keys', 'A retraction signed by the sender\'s device verifies when only unrelated keys are revoked: the sender\'s store delegate and the recipient\'s identity.', v(r, { revoked: [alice.del.publicKey, bob.identity.publicKey] }), 'ok', res(r, alice.device));
  return a;
}

function fetchRequests(): Area {
  const a = new Area(
    'fetch',
    'Verifying a fetch request (a recipient asking the sender\'s store for a message by id) at a given store, with a clock, a skew allowance and optionally the message id; requests are bound to one store and fresh for 600 seconds plus skew.',
  );
  const v = (r: Uint8Array, o: { id?: Uint8Array; store?: string; revoked?: Uint8Array[] } = {}) => ({
    operation: 'verify-fetch-request',
    request: hx(r),
    now: NOW,
    skew: SKEW,
    store: o.store ?? STORE,
    ...(o.id ? { messageId: hx(o.id) } : {}),
    ...(o.revoked ? { revoked: o.revoked.map(hx) } : {}),
  });
  const mk = (label: string, signer: Signer, time = NOW, store = STORE) => {
    const r = makeFetchRequest({ requester: signer, id: MSG_ID, store, time, random: rng(`fetch ${label}`) });
    const nonce = rng(`fetch ${label}`)(16);
    return { r, nonce };
  };
  const res = (m: { r: Uint8Array; nonce: Uint8Array }, signer: Signer, who: User, time = NOW, store = STORE) =>
    deliveredJson(S.FetchRequest, m.r, { requester: hx(who.typed), id: hx(MSG_ID), store, time, nonce: hx(m.nonce) }, who, signer);
  let m = mk('delegate', bob.delegate);
  a.add('store-delegate', 'A fetch request signed by the recipient\'s store-delegate key verifies.', v(m.r), 'ok', res(m, bob.delegate, bob));
  a.add('expected-id', 'A fetch request checked against the id it names verifies.', v(m.r, { id: MSG_ID }), 'ok', res(m, bob.delegate, bob));
  a.add('other-id', 'A fetch request checked against another message id is refused.', v(m.r, { id: sha256(utf8('another message')) }), 'SUBJECT_MISMATCH');
  a.add('other-store', 'A fetch request made for one store and presented at another is refused.', v(m.r, { store: 'https://other.example' }), 'SUBJECT_MISMATCH');
  a.add('store-case', 'Store origins compare exactly: an upper-case spelling is another store.', v(m.r, { store: 'https://STORE.example' }), 'SUBJECT_MISMATCH');
  a.add('revoked-delegate', 'A fetch request signed by a delegate key the recipient has revoked is refused.', v(m.r, { revoked: [bob.del.publicKey] }), 'KEY_REVOKED');
  m = mk('device', bob.device);
  a.add('device', 'A fetch request signed by the recipient\'s certified device key verifies.', v(m.r), 'ok', res(m, bob.device, bob));
  m = mk('identity', carol.signer);
  a.add('identity', 'A fetch request signed by the recipient\'s identity key verifies.', v(m.r), 'ok', res(m, carol.signer, carol));
  const oldest = NOW - SKEW - FRESHNESS;
  m = mk('stale-edge', bob.delegate, oldest);
  a.add('stale-edge', 'A fetch request exactly freshness (600 s) plus skew old is accepted.', v(m.r), 'ok', res(m, bob.delegate, bob, oldest));
  a.add('stale', 'A fetch request one second older than freshness plus skew has expired.', v(mk('stale', bob.delegate, oldest - 1).r), 'EXPIRED');
  m = mk('future-edge', bob.delegate, NOW + SKEW);
  a.add('future-edge', 'A fetch request dated exactly skew seconds in the future is accepted.', v(m.r), 'ok', res(m, bob.delegate, bob, NOW + SKEW));
  a.add('future', 'A fetch request dated skew+1 seconds in the future is not valid yet.', v(mk('future', bob.delegate, NOW + SKEW + 1).r), 'NOT_YET_VALID');
  const encCert = certifySubkey({ identity: bob.identity, purpose: PURPOSE.encryption, subkey: bob.dev.publicKey, notBefore: NOW - DAY, notAfter: NOW + DAY });
  a.add('encryption-purpose', 'A fetch request signed by a key certified only for encryption is refused.', v(mk('enc', forged(bob.typed, bob.dev, encCert)).r), 'CERT_PURPOSE');
  a.add('foreign-cert', 'A fetch request naming bob but signed by mallory\'s delegate under mallory\'s certificate is refused.', v(mk('foreign', forged(bob.typed, mallory.del, mallory.delCert)).r), 'CERT_INVALID');
  a.add('bad-signature', 'A fetch request with one bit of its signature flipped is refused.', v(mutateSigned(S.FetchRequest, mk('badsig', bob.delegate).r, (c) => (c.sig = flipBit(c.sig, 50)))), 'BAD_SIGNATURE');
  const body = encode(S.FetchRequestBody, { requester: bob.typed, id: MSG_ID, store: STORE, time: NOW, nonce: new Uint8Array(16) });
  a.add('wrong-label', 'A signature over the fetch-request body under the receipt label is not a fetch-request signature.', v(signBytes(S.FetchRequest, LABELS.receipt, body, bob.signer)), 'BAD_SIGNATURE');
  a.add('nonce-short', 'A signed fetch request with a 15-byte nonce is refused.', v(signBytes(S.FetchRequest, LABELS.fetch, mpStruct({ 1: mpBin(bob.typed), 2: mpBin(MSG_ID), 3: mpStr(STORE), 4: mpUint(NOW), 5: mpBin(new Uint8Array(15)) }), bob.signer)), 'WIRE_BAD_TYPE');

  // revocation
  m = mk('revoked', bob.delegate);
  a.add('revoked-identity-delegate', 'A fetch request signed by the store delegate of a revoked identity is refused, though the delegate key itself is not revoked.', v(m.r, { revoked: [bob.identity.publicKey] }), 'KEY_REVOKED');
  a.add('revoked-delegate-other-store', 'A fetch request by a revoked delegate presented at another store is refused for the store: the store is checked before the signer.', v(m.r, { store: 'https://other.example', revoked: [bob.del.publicKey] }), 'SUBJECT_MISMATCH');
  a.add('revoked-other-keys', 'A fetch request signed by the recipient\'s store delegate verifies when only unrelated keys are revoked: the recipient\'s device and the sender\'s identity.', v(m.r, { revoked: [bob.dev.publicKey, alice.identity.publicKey] }), 'ok', res(m, bob.delegate, bob));
  return a;
}

// ---- proof of work -------------------------------------------------------------------

function pow(): Area {
  const a = new Area(
    'pow',
    'Proof of work: the bits a policy demands for a message size, and checking a stamp (an 8-byte nonce) by the leading zero bits of SHA-256("keypost/v1/pow" || 0x00 || recipient address || message id || nonce).',
  );
  const rb = (powBits: number, powUnit: number, size: number) => {
    const bits = requiredBits({ powBits, powUnit }, size);
    return { inputs: { operation: 'required-bits', policy: { powBits, powUnit }, size }, bits };
  };
  const reqCase = (short: string, description: string, powBits: number, powUnit: number, size: number, expectBits: number) => {
    const r = rb(powBits, powUnit, size);
    if (r.bits !== expectBits) throw new Error(`${short}: requiredBits gives ${r.bits}, expected ${expectBits}`);
    a.add(short, description, r.inputs, 'ok', { bits: expectBits });
  };
  reqCase('required-none', 'A policy of 0 bits demands nothing, whatever the size.', 0, 1024, 50_000_000, 0);
  reqCase('required-empty', 'A message of 0 bytes counts as one size unit.', 20, 65536, 0, 20);
  reqCase('required-one-unit', 'A message of exactly one size unit demands the base bits.', 20, 65536, 65536, 20);
  reqCase('required-just-over-one-unit', 'One byte over one size unit adds one bit.', 20, 65536, 65537, 21);
  reqCase('required-two-units', 'Exactly two size units demand one bit more than the base.', 20, 65536, 131072, 21);
  reqCase('required-three-units', 'Three size units round up to the next power of two: two more bits.', 20, 65536, 131073, 22);
  reqCase('required-one-mib', 'One MiB at 64 KiB units (16 units) demands four more bits.', 20, 65536, 1 << 20, 24);
  reqCase('required-64-mib', '64 MiB at 64 KiB units (1024 units) demands ten more bits.', 20, 65536, 64 << 20, 30);
  reqCase('required-clamped', 'The demand is capped at 32 bits: 30 base bits for 64 MiB at 64 KiB units would be 40.', 30, 65536, 64 << 20, 32);
  reqCase('required-small-unit', '100,000 bytes at 1 KiB units (98 units) demands seven more bits.', 10, 1024, 100_000, 17);

  const recipient = bob.address;
  const id = MSG_ID;
  const stamp = mintStamp(recipient, id, 10, rng('pow stamp'));
  const lz = leadingZeroBits(stampHash(recipient, id, stamp));
  const check = (nonce: Uint8Array | null, powBits: number, size: number, r = recipient, mid = id) => ({
    operation: 'check-stamp',
    recipient: hx(r),
    messageId: hx(mid),
    nonce: nonce ? hx(nonce) : null,
    policy: { powBits, powUnit: 1024 },
    size,
  });
  const okResult = (powBits: number, size: number, nonce: Uint8Array, r = recipient) => ({
    requiredBits: requiredBits({ powBits, powUnit: 1024 }, size),
    leadingZeroBits: leadingZeroBits(stampHash(r, id, nonce)),
  });
  a.add('stamp-exact', `A stamp with ${lz} leading zero bits meets a demand of exactly ${lz} bits.`, check(stamp, lz, 1000), 'ok', okResult(lz, 1000, stamp));
  a.add('stamp-one-short', `A stamp with ${lz} leading zero bits fails a demand of ${lz + 1} bits.`, check(stamp, lz + 1, 1000), 'POW_INSUFFICIENT');
  a.add('stamp-size-grows', `The same stamp fails for a 3000-byte message, which demands ${lz} + 2 bits at 1 KiB units.`, check(stamp, lz, 3000), 'POW_INSUFFICIENT');
  a.add('stamp-size-fits', `The same stamp passes a base of ${lz - 2} bits for a 3000-byte message (${lz - 2} + 2 bits).`, check(stamp, lz - 2, 3000), 'ok', okResult(lz - 2, 3000, stamp));
  a.add('stamp-missing', 'No stamp where 10 bits are demanded is refused.', check(null, 10, 1000), 'POW_MISSING');
  a.add('stamp-missing-not-required', 'No stamp where the policy demands 0 bits is fine.', check(null, 0, 1000), 'ok', { requiredBits: 0, leadingZeroBits: null });
  const otherId = sha256(utf8('keypost vectors: another message'));
  if (leadingZeroBits(stampHash(recipient, otherId, stamp)) >= 10) throw new Error('stamp works for another id');
  a.add('stamp-other-message', 'A stamp minted for one message does not count for another.', check(stamp, 10, 1000, recipient, otherId), 'POW_INSUFFICIENT');
  if (leadingZeroBits(stampHash(carol.address, id, stamp)) >= 10) throw new Error('stamp works for another recipient');
  a.add('stamp-other-recipient', 'A stamp minted for one recipient does not count for another.', check(stamp, 10, 1000, carol.address), 'POW_INSUFFICIENT');
  const zero = new Uint8Array(8);
  const lzZero = leadingZeroBits(stampHash(recipient, id, zero));
  if (lzZero >= 10) throw new Error('the zero nonce happens to be a stamp');
  a.add('stamp-zero-nonce', `An all-zero nonce (${lzZero} leading zero bits here) fails a demand of 10 bits.`, check(zero, 10, 1000), 'POW_INSUFFICIENT');
  const stamp16 = mintStamp(recipient, id, 16, rng('pow stamp 16'));
  a.add('stamp-16-bits', 'A 16-bit stamp meets a demand of 16 bits.', check(stamp16, 16, 1024), 'ok', okResult(16, 1024, stamp16));
  return a;
}

// ---- main ----------------------------------------------------------------------------

const areas = [addresses(), wire(), certs(), assertions(), envelopes(), notifications(), receipts(), retractions(), fetchRequests(), pow()];
let total = 0;
for (const area of areas) {
  area.write();
  total += area.cases.length;
  const bad = area.cases.filter((c) => c.expect !== 'ok').length;
  console.log(`${area.name.padEnd(14)} ${String(area.cases.length).padStart(4)} cases  (${area.cases.length - bad} ok, ${bad} error)`);
}
console.log(`${'total'.padEnd(14)} ${String(total).padStart(4)} cases`);
