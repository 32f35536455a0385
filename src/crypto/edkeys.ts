/**
 * The public-key check both backends run before any verification: the key must be a
 * canonical encoding of a point in the prime-order subgroup. This refuses the
 * small-order keys (the "identity key" forgery that OpenSSL accepts) and keys with a
 * torsion component, so the cofactored (noble) and cofactorless (OpenSSL) verification
 * equations can never disagree about the key. Honest keys (a·B) always pass.
 * The check costs one scalar multiplication, so results are cached per key.
 */
import { Point } from '@noble/ed25519';

const CACHE_MAX = 8192;
const cache = new Map<string, boolean>();

function check(pk: Uint8Array): boolean {
  try {
    const A = Point.fromBytes(pk, false); // strict: y < p, x=0 with sign bit refused
    return !A.isSmallOrder() && A.isTorsionFree();
  } catch {
    return false;
  }
}

export function isAcceptableEd25519Key(pk: Uint8Array): boolean {
  if (pk.length !== 32) return false;
  const k = Buffer.from(pk.buffer, pk.byteOffset, 32).toString('latin1');
  let ok = cache.get(k);
  if (ok === undefined) {
    ok = check(pk);
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(k, ok);
  }
  return ok;
}

/** R (first half of a signature) must be in the prime-order subgroup for cofactorless semantics. */
export function isTorsionFreeR(r: Uint8Array): boolean {
  try {
    return Point.fromBytes(r, false).isTorsionFree();
  } catch {
    return false;
  }
}

/** Why a public key is refused, for typed errors. */
export function classifyEd25519Key(pk: Uint8Array): 'ok' | 'invalid' | 'small-order' {
  if (isAcceptableEd25519Key(pk)) return 'ok';
  try {
    Point.fromBytes(pk, false);
  } catch {
    return 'invalid';
  }
  return 'small-order';
}

// X25519 u-coordinates of small order on the curve or its twist, reduced mod p
// (the same set libsodium refuses): 0, 1, p-1 and the two points of order 8.
const P = 2n ** 255n - 19n;
const SMALL_ORDER_U = new Set([
  0n,
  1n,
  P - 1n,
  325606250916557431795983626356110631294008115727848805560023387167927233504n,
  39382357235489614581723060781553021112529911719440698176882885853963445705823n,
]);

/** True if an X25519 public key (RFC 7748 decoding: top bit ignored, taken mod p) has small order. */
export function isSmallOrderX25519(pk: Uint8Array): boolean {
  if (pk.length !== 32) return true;
  let u = 0n;
  for (let i = 31; i >= 0; i--) u = (u << 8n) | BigInt(pk[i]!);
  u &= (1n << 255n) - 1n;
  return SMALL_ORDER_U.has(u % P);
}
