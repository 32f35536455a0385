/** Byte helpers shared by every layer. No dependencies: this is the bottom layer. */

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export const utf8 = (s: string): Uint8Array => enc.encode(s);
/** Strict UTF-8 decode; throws TypeError on invalid input. */
export const fromUtf8 = (b: Uint8Array): string => dec.decode(b);

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** A Map key for bytes: latin1 keeps one character per byte, cheaper to build than hex. */
export const mapKey = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError('invalid hex');
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export const toBase64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');

/** Strict base64: refuses anything that does not round-trip. */
export function fromBase64(s: string): Uint8Array {
  const b = new Uint8Array(Buffer.from(s, 'base64'));
  if (toBase64(b) !== s) throw new TypeError('invalid base64');
  return b;
}

export const toBase64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url');

/** Strict base64url (no padding): refuses anything that does not round-trip. */
export function fromBase64url(s: string): Uint8Array {
  const b = new Uint8Array(Buffer.from(s, 'base64url'));
  if (toBase64url(b) !== s) throw new TypeError('invalid base64url');
  return b;
}

/** Equality that does not leak the position of the first difference. Use for secrets and MACs. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Plain equality for public data (hashes, public keys). */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

export function u32be(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

export function isAllZero(b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < b.length; i++) d |= b[i]!;
  return d === 0;
}
