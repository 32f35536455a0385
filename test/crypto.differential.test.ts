/**
 * Differential test: the node (OpenSSL) and noble backends must give the same answer on every
 * input: (a) every Wycheproof case, compared output-to-output, and (b) random and adversarial
 * inputs from fast-check (2,000 runs per property). Any disagreement is a bug in one of them.
 *
 * Adversarial Ed25519 inputs are built with @noble/curves (a different library from the
 * @noble/ed25519 that src/crypto uses), and some properties also count how often a verifier
 * *without* our key/R checks would have accepted, so that a silently weakened construction
 * (one that no longer exercises the guard) fails the test instead of passing vacuously.
 */
import * as nc from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import type { EdwardsPoint } from '@noble/curves/abstract/edwards.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backends, classifyEd25519Key, isAcceptableEd25519Key, isSmallOrderX25519 } from '../src/crypto/index.js';
import type { CryptoBackend } from '../src/crypto/index.js';
import { KeypostError } from '../src/errors.js';

const node = backends.node;
const noble = backends.noble;
const RUNS = 2000;
const TIMEOUT = 60_000;

// ---------------------------------------------------------------------------------------
// Helpers

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));

/** A comparable description of what a call did: its value, null, or the error it threw. */
function outcome(f: () => Uint8Array | boolean | null): string {
  try {
    const v = f();
    if (v === null) return 'null';
    if (typeof v === 'boolean') return String(v);
    return `bytes:${toHex(v)}`;
  } catch (e) {
    if (e instanceof KeypostError) return `KeypostError:${e.code}`;
    return `foreign-error:${e instanceof Error ? e.constructor.name : typeof e}`;
  }
}

function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const c = b.slice();
  const i = (bit >>> 3) % c.length;
  c[i] = c[i]! ^ (1 << (bit & 7));
  return c;
}

const leToBig = (b: Uint8Array): bigint => {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]!);
  return x;
};
const bigToLe = (x: bigint, n = 32): Uint8Array => {
  const o = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    o[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return o;
};

// Curve arithmetic for building adversarial inputs (independent of src/crypto).
const Pt = ed25519.Point;
const B = Pt.BASE;
const L = Pt.Fn.ORDER;
const p = Pt.Fp.ORDER;
const sha512 = (b: Uint8Array): Uint8Array => Uint8Array.from(nc.createHash('sha512').update(b).digest());
/** RFC 8032 challenge k = SHA-512(R || A || M) mod L, over the exact encodings given. */
const challenge = (R: Uint8Array, A: Uint8Array, msg: Uint8Array): bigint => leToBig(sha512(concat(R, A, msg))) % L;
const scalarFrom = (b: Uint8Array): bigint => (leToBig(b) % (L - 1n)) + 1n; // uniform enough in [1, L)
/**
 * D = SB - R - kA for a signature (S reduced mod L), decoding R and A leniently; null if they do
 * not decode. The cofactorless equation (RFC 8032, OpenSSL) is D = O; the cofactored one
 * (noble's strict branch) is [8]D = O.
 */
function residue(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): EdwardsPoint | null {
  let R: EdwardsPoint;
  let A: EdwardsPoint;
  try {
    R = Pt.fromBytes(sig.subarray(0, 32), true);
    A = Pt.fromBytes(pk, true);
  } catch {
    return null;
  }
  const S = leToBig(sig.subarray(32)) % L;
  return B.multiplyUnsafe(S).subtract(R).subtract(A.multiplyUnsafe(challenge(sig.subarray(0, 32), pk, msg)));
}
const cofactorlessHolds = (sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean => residue(sig, msg, pk)?.is0() ?? false;
/** OpenSSL's Ed25519 verify with no key policy in front of it (what node.ts would do without edkeys). */
const ED_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
function rawOpenSslVerify(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean {
  try {
    return nc.verify(null, msg, nc.createPublicKey({ key: Buffer.concat([ED_SPKI, pk]), format: 'der', type: 'spki' }), sig);
  } catch {
    return false;
  }
}

/** The 8 points of the torsion subgroup, checked rather than trusted: distinct, [8]T = O. */
const TORSION: EdwardsPoint[] = ED25519_TORSION_SUBGROUP.map((h) => Pt.fromHex(h, false));
const TORSION_NONZERO = TORSION.filter((t) => !t.is0());

/**
 * Every 32-byte encoding that a lenient decoder maps to a small-order point: each torsion
 * point's canonical encoding, plus y + p where that still fits in 255 bits, each with either
 * sign bit. Computed: only those that decode (leniently) to a small-order point are kept.
 */
function smallOrderEdEncodings(): { canonical: Uint8Array[]; nonCanonical: Uint8Array[] } {
  const canonical: Uint8Array[] = [];
  const nonCanonical: Uint8Array[] = [];
  const seen = new Set<string>();
  for (const t of TORSION) {
    const y = leToBig(t.toBytes()) & ((1n << 255n) - 1n);
    for (const yy of [y, y + p]) {
      if (yy >= 1n << 255n) continue;
      for (const sign of [0n, 1n]) {
        const enc = bigToLe(yy | (sign << 255n));
        const key = toHex(enc);
        if (seen.has(key)) continue;
        let P: EdwardsPoint;
        try {
          P = Pt.fromBytes(enc, true);
        } catch {
          continue;
        }
        if (!P.isSmallOrder()) continue;
        seen.add(key);
        let strictOk = true;
        try {
          Pt.fromBytes(enc, false);
        } catch {
          strictOk = false;
        }
        (strictOk ? canonical : nonCanonical).push(enc);
      }
    }
  }
  return { canonical, nonCanonical };
}
const SMALL_ED = smallOrderEdEncodings();
const SMALL_ED_ALL = [...SMALL_ED.canonical, ...SMALL_ED.nonCanonical];
/**
 * How many of the 40 non-canonical encodings a lenient (ZIP-215) decoder accepts (the test that
 * uses it recomputes it): y - p in {0, 1, 3, 4, 5, 6, 9, 10, 14, 15, 16, 18} is on the curve,
 * with either sign bit (24), plus x = 0 with the sign bit for y = 1 and y = p - 1 (2).
 */
const DECODABLE_NONCANONICAL = 26;

/**
 * X25519 u-coordinates of small order, and all their 32-byte encodings. On the curve they are
 * the images u = (1 + y)/(1 - y) of the Edwards torsion points (the identity has none); the
 * twist adds u = p - 1 (order 4). Encodings: u, u + p when < 2^255, each with bit 255 set or not
 * (RFC 7748 masks that bit).
 */
function smallOrderXEncodings(): { canonicalU: bigint[]; encodings: Uint8Array[] } {
  const F = Pt.Fp;
  const us = new Set<bigint>([p - 1n]);
  for (const t of TORSION_NONZERO) {
    const { y } = t.toAffine();
    us.add(F.div(F.add(1n, y), F.sub(1n, y)));
  }
  const canonicalU = [...us].sort((a, b) => (a < b ? -1 : 1));
  const encodings: Uint8Array[] = [];
  for (const u of canonicalU)
    for (const v of [u, u + p])
      if (v < 1n << 255n) for (const top of [0n, 1n]) encodings.push(bigToLe(v | (top << 255n)));
  return { canonicalU, encodings };
}
const SMALL_X = smallOrderXEncodings();

// fast-check arbitraries
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const upTo = (n: number) => fc.uint8Array({ maxLength: n });
const seed32 = bytes(32);
const message = upTo(200);

// ---------------------------------------------------------------------------------------
// Wycheproof

type WResult = 'valid' | 'invalid' | 'acceptable';
interface WFile<G> {
  numberOfTests: number;
  testGroups: G[];
}
interface EdGroup {
  publicKey: { pk: string };
  tests: { tcId: number; msg: string; sig: string; result: WResult }[];
}
interface XdhGroup {
  tests: { tcId: number; public: string; private: string; shared: string; result: WResult }[];
}
interface AeadGroup {
  tests: { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: WResult }[];
}
const load = <G>(name: string): WFile<G> =>
  JSON.parse(readFileSync(new URL(`../vectors/wycheproof/${name}`, import.meta.url), 'utf8')) as WFile<G>;

describe('backends agree on every Wycheproof input', () => {
  it('Ed25519: 151 verifications', () => {
    const f = load<EdGroup>('ed25519_test.json');
    const cases = f.testGroups.flatMap((g) => g.tests.map((t) => ({ ...t, pk: g.publicKey.pk })));
    expect(cases).toHaveLength(151);
    const run = (b: CryptoBackend) => cases.map((t) => `${t.tcId}:${outcome(() => b.ed25519Verify(hex(t.sig), hex(t.msg), hex(t.pk)))}`);
    const a = run(node);
    expect(run(noble)).toEqual(a);
    expect(a.filter((s) => s.endsWith(':true'))).toHaveLength(88);
  });

  it('X25519: 518 shared secrets and 518 public-key derivations', () => {
    const f = load<XdhGroup>('x25519_test.json');
    const cases = f.testGroups.flatMap((g) => g.tests);
    expect(cases).toHaveLength(518);
    const run = (b: CryptoBackend) =>
      cases.map((t) => {
        const kp = b.x25519KeyPair(hex(t.private));
        return `${t.tcId}:${toHex(kp.publicKey)}:${toHex(b.x25519PublicKey(hex(t.private)))}:${outcome(() => kp.sharedSecret(hex(t.public)))}`;
      });
    const a = run(node);
    expect(run(noble)).toEqual(a);
    expect(a.filter((s) => s.endsWith('KeypostError:KEY_SMALL_ORDER'))).toHaveLength(31);
    // every Wycheproof all-zero case uses one of the 14 small-order encodings computed below
    const smallSet = new Set(SMALL_X.encodings.map(toHex));
    for (const t of cases) if (/^(00)+$/.test(t.shared)) expect(smallSet.has(t.public), `tcId ${t.tcId}`).toBe(true);
  });

  it.each([
    ['chacha20_poly1305_test.json', 'chacha20poly1305', 325],
    ['xchacha20_poly1305_test.json', 'xchacha20poly1305', 315],
  ] as const)('%s: every seal and every open', (file, alg, n) => {
    const cases = load<AeadGroup>(file).testGroups.flatMap((g) => g.tests);
    expect(cases).toHaveLength(n);
    const run = (b: CryptoBackend) =>
      cases.map((t) => {
        const seal = alg === 'chacha20poly1305' ? b.chacha20poly1305Seal : b.xchacha20poly1305Seal;
        const open = alg === 'chacha20poly1305' ? b.chacha20poly1305Open : b.xchacha20poly1305Open;
        const s = outcome(() => seal(hex(t.key), hex(t.iv), hex(t.msg), hex(t.aad)));
        const o = outcome(() => open(hex(t.key), hex(t.iv), hex(t.ct + t.tag), hex(t.aad)));
        return `${t.tcId}:${s}:${o}`;
      });
    const a = run(node);
    expect(run(noble)).toEqual(a);
    expect(a.filter((s) => s.endsWith(':null'))).toHaveLength(60);
    expect(a.filter((s) => s.endsWith(':KeypostError:INVALID_ARGUMENT'))).toHaveLength(9);
    expect(a.some((s) => s.includes('foreign-error'))).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------
// Ed25519 on random and adversarial inputs

describe('Ed25519: backends agree on random and adversarial inputs', () => {
  it('the small-order and torsion tables are what they should be', () => {
    expect(TORSION).toHaveLength(8);
    expect(new Set(TORSION.map((t) => toHex(t.toBytes()))).size).toBe(8);
    for (const t of TORSION) expect(t.multiplyUnsafe(8n).is0()).toBe(true);
    expect(TORSION_NONZERO).toHaveLength(7);
    // 8 canonical encodings; 6 non-canonical: y = 1 and y = p - 1 with the sign bit (x = 0),
    // and y + p for y = 0 and y = 1, each with either sign bit
    expect(SMALL_ED.canonical).toHaveLength(8);
    expect(SMALL_ED.nonCanonical).toHaveLength(6);
    expect(new Set(SMALL_ED_ALL.map(toHex)).size).toBe(14);
  });

  it(`valid signatures verify and bit flips in sig, msg or pk fail, identically (${RUNS} runs)`, () => {
    const where = fc.constantFrom('none', 'sig', 'msg', 'pk');
    let valid = 0;
    fc.assert(
      fc.property(seed32, message, where, fc.nat(), (seed, msg, w, bit) => {
        const sN = node.ed25519Signer(seed);
        const sB = noble.ed25519Signer(seed);
        expect(toHex(sB.publicKey)).toBe(toHex(sN.publicKey));
        expect(toHex(noble.ed25519PublicKey(seed))).toBe(toHex(node.ed25519PublicKey(seed)));
        const sig = sN.sign(msg);
        expect(toHex(sB.sign(msg))).toBe(toHex(sig)); // deterministic signing agrees too
        let s: Uint8Array = sig;
        let m: Uint8Array = msg;
        let pk: Uint8Array = sN.publicKey;
        if (w === 'sig') s = flipBit(sig, bit);
        if (w === 'msg') m = msg.length ? flipBit(msg, bit) : Uint8Array.of(bit & 0xff);
        if (w === 'pk') pk = flipBit(pk, bit);
        const vN = node.ed25519Verify(s, m, pk);
        const vB = noble.ed25519Verify(s, m, pk);
        expect(vB).toBe(vN);
        expect(vN).toBe(w === 'none');
        if (vN) valid++;
      }),
      { numRuns: RUNS },
    );
    expect(valid).toBeGreaterThan(RUNS / 8);
  }, TIMEOUT);

  it(`random signatures, messages and keys (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(bytes(64), message, fc.oneof(bytes(32), seed32.map((s) => node.ed25519PublicKey(s))), (sig, msg, pk) => {
        const vN = node.ed25519Verify(sig, msg, pk);
        expect(noble.ed25519Verify(sig, msg, pk)).toBe(vN);
        expect(vN).toBe(false);
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it(`R replaced by R + T for a small-order T: both reject (${RUNS} runs)`, () => {
    // R is what varies here; the signer comes from a pool of 64 random keys (the key checks are cached)
    const pool = Array.from({ length: 64 }, () => {
      const seed = nc.randomBytes(32);
      return { ...ed25519.utils.getExtendedPublicKey(seed), signer: node.ed25519Signer(seed) };
    });
    let cofactoredAccepts = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: pool.length - 1 }), message, fc.integer({ min: 0, max: 6 }), bytes(64), fc.boolean(), (ki, msg, ti, rb, resign) => {
        const T = TORSION_NONZERO[ti]!;
        const e = pool[ki]!;
        const pk = e.pointBytes;
        let sig: Uint8Array;
        if (resign) {
          // A signer who chooses R = rB + T and signs honestly: the cofactored equation holds,
          // the cofactorless one (RFC 8032 / OpenSSL) does not.
          const r = scalarFrom(rb);
          const R = B.multiply(r).add(T).toBytes();
          const S = (r + challenge(R, pk, msg) * e.scalar) % L;
          sig = concat(R, bigToLe(S));
        } else {
          // An honest signature whose R is then moved by T.
          const honest = e.signer.sign(msg);
          expect(toHex(e.signer.publicKey)).toBe(toHex(pk));
          const R = Pt.fromBytes(honest.subarray(0, 32), false).add(T).toBytes();
          sig = concat(R, honest.subarray(32));
        }
        const D = residue(sig, msg, pk)!;
        expect(D.is0()).toBe(false); // cofactorless equation fails
        if (D.clearCofactor().is0()) cofactoredAccepts++; // cofactored equation holds
        if (resign) expect(D.clearCofactor().is0()).toBe(true);
        expect(node.ed25519Verify(sig, msg, pk)).toBe(false);
        expect(noble.ed25519Verify(sig, msg, pk)).toBe(false);
      }),
      { numRuns: RUNS },
    );
    expect(cofactoredAccepts).toBeGreaterThan(RUNS / 4);
  }, TIMEOUT);

  it(`public keys with a torsion component: both refuse, even where OpenSSL alone accepts (${RUNS} runs)`, () => {
    let rawAccepts = 0;
    fc.assert(
      fc.property(seed32, message, fc.integer({ min: 0, max: 6 }), bytes(64), (seed, msg, ti, rb) => {
        // A' = aB + T; sign with a as if A' were the key: R = rB, S = r + k·a. Then
        // sB = R + kA' - kT, so the cofactorless equation holds exactly when ord(T) divides k.
        const e = ed25519.utils.getExtendedPublicKey(seed);
        const pk = e.point.add(TORSION_NONZERO[ti]!).toBytes();
        const r = scalarFrom(rb);
        const R = B.multiply(r).toBytes();
        const sig = concat(R, bigToLe((r + challenge(R, pk, msg) * e.scalar) % L));
        expect(classifyEd25519Key(pk)).toBe('small-order');
        const raw = rawOpenSslVerify(sig, msg, pk);
        expect(raw).toBe(cofactorlessHolds(sig, msg, pk));
        if (raw) rawAccepts++;
        expect(node.ed25519Verify(sig, msg, pk)).toBe(false);
        expect(noble.ed25519Verify(sig, msg, pk)).toBe(false);
      }),
      { numRuns: RUNS },
    );
    // about 3/14 of these are forgeries OpenSSL by itself would accept
    expect(rawAccepts).toBeGreaterThan(RUNS / 10);
  }, TIMEOUT);

  it(`small-order keys, canonical or not: both refuse, even where OpenSSL alone accepts (${RUNS} runs)`, () => {
    let rawAccepts = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: SMALL_ED_ALL.length - 1 }), message, bytes(64), fc.boolean(), (i, msg, rb, forge) => {
        const pk = SMALL_ED_ALL[i]!;
        expect(classifyEd25519Key(pk)).toBe(i < SMALL_ED.canonical.length ? 'small-order' : 'invalid');
        // forgery without any secret: R = rB, S = r, valid whenever ord(A) divides k (always for A = O)
        const r = scalarFrom(rb);
        const sig = forge ? concat(B.multiply(r).toBytes(), bigToLe(r)) : rb;
        if (rawOpenSslVerify(sig, msg, pk)) rawAccepts++;
        expect(node.ed25519Verify(sig, msg, pk)).toBe(false);
        expect(noble.ed25519Verify(sig, msg, pk)).toBe(false);
      }),
      { numRuns: RUNS },
    );
    expect(rawAccepts).toBeGreaterThan(RUNS / 20);
  }, TIMEOUT);

  it('every non-canonical public key encoding is refused by both (exhaustive)', () => {
    // Non-canonical: y in [p, 2^255) with either sign bit (19 x 2), or x = 0 with the sign bit set
    // (y = 1 and y = p - 1). Those a lenient decoder accepts are all small-order or torsioned:
    // no prime-order point has a non-canonical encoding, so the torsion check alone would refuse
    // them too; the strict decode in edkeys is a second line.
    const encs: Uint8Array[] = [];
    for (let i = 0n; i < 19n; i++) for (const sign of [0n, 1n]) encs.push(bigToLe((p + i) | (sign << 255n)));
    encs.push(bigToLe(1n | (1n << 255n)), bigToLe(p - 1n + (1n << 255n)));
    expect(new Set(encs.map(toHex)).size).toBe(40);
    let decodable = 0;
    let rawAccepts = 0;
    const msg = new TextEncoder().encode('non-canonical');
    for (const pk of encs) {
      expect(() => Pt.fromBytes(pk, false)).toThrow();
      let P: EdwardsPoint | undefined;
      try {
        P = Pt.fromBytes(pk, true);
      } catch {
        P = undefined;
      }
      if (P) {
        decodable++;
        expect(P.isTorsionFree() && !P.is0()).toBe(false);
      }
      expect(isAcceptableEd25519Key(pk)).toBe(false);
      expect(classifyEd25519Key(pk)).toBe('invalid');
      for (let j = 1n; j <= 8n; j++) {
        const sig = concat(B.multiply(j).toBytes(), bigToLe(j)); // R = jB, S = j: valid whenever kA = O
        if (rawOpenSslVerify(sig, msg, pk)) rawAccepts++;
        expect(node.ed25519Verify(sig, msg, pk)).toBe(false);
        expect(noble.ed25519Verify(sig, msg, pk)).toBe(false);
      }
    }
    expect(decodable).toBe(DECODABLE_NONCANONICAL);
    expect(rawAccepts).toBeGreaterThan(0); // OpenSSL alone takes some of these keys
  });

  it(`S >= L (S + jL, or any S in [L, 2^256)): both refuse (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(
        seed32,
        message,
        fc.oneof(fc.integer({ min: 1, max: 15 }), fc.bigInt({ min: L, max: (1n << 256n) - 1n })),
        (seed, msg, j) => {
          const s = node.ed25519Signer(seed);
          const sig = s.sign(msg);
          expect(node.ed25519Verify(sig, msg, s.publicKey)).toBe(true);
          const S = leToBig(sig.subarray(32));
          let S2: bigint;
          if (typeof j === 'number') {
            let jj = BigInt(j);
            while (S + jj * L >= 1n << 256n) jj--;
            S2 = S + jj * L; // same value mod L: a verifier that reduces S would accept
            expect(S2 % L).toBe(S);
          } else S2 = j;
          expect(S2 >= L).toBe(true);
          const bad = concat(sig.subarray(0, 32), bigToLe(S2));
          expect(node.ed25519Verify(bad, msg, s.publicKey)).toBe(false);
          expect(noble.ed25519Verify(bad, msg, s.publicKey)).toBe(false);
        },
      ),
      { numRuns: RUNS },
    );
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------
// X25519

describe('X25519: backends agree on random and small-order inputs', () => {
  it('the small-order u table: 0, 1, p-1 and the two order-8 u, as 14 encodings', () => {
    expect(SMALL_X.canonicalU).toEqual([
      0n,
      1n,
      325606250916557431795983626356110631294008115727848805560023387167927233504n,
      39382357235489614581723060781553021112529911719440698176882885853963445705823n,
      p - 1n,
    ]);
    expect(SMALL_X.encodings).toHaveLength(14);
    expect(new Set(SMALL_X.encodings.map(toHex)).size).toBe(14);
  });

  const peerU = fc.oneof(
    bytes(32), // on the curve or on the twist, top bit random
    bytes(32).map((b) => Uint8Array.from(b, (x, i) => (i === 31 ? x | 0x80 : x))), // top bit set (RFC 7748 masks it)
    fc.tuple(fc.integer({ min: 0, max: 18 }), fc.boolean()).map(([i, top]) => bigToLe((p + BigInt(i)) | (top ? 1n << 255n : 0n))), // non-canonical u
    fc.integer({ min: 0, max: 1000 }).map((u) => bigToLe(BigInt(u))), // tiny u
  );

  it(`random secret keys against random peer u-coordinates (${RUNS} runs)`, () => {
    let refused = 0;
    fc.assert(
      fc.property(seed32, peerU, (sk, u) => {
        const a = outcome(() => node.x25519KeyPair(sk).sharedSecret(u));
        expect(outcome(() => noble.x25519KeyPair(sk).sharedSecret(u))).toBe(a);
        expect(a.startsWith('bytes:') || a === 'KeypostError:KEY_SMALL_ORDER').toBe(true);
        expect(a === 'KeypostError:KEY_SMALL_ORDER').toBe(isSmallOrderX25519(u)); // the exported predicate agrees
        if (a === 'KeypostError:KEY_SMALL_ORDER') {
          refused++;
          expect(SMALL_X.encodings.map(toHex)).toContain(toHex(u));
        }
      }),
      { numRuns: RUNS },
    );
    expect(refused).toBeGreaterThan(0); // p and p + 1 (non-canonical 0 and 1) and u = 0, 1 come up
  }, TIMEOUT);

  it(`key agreement between random key pairs: same keys, same secrets, symmetric (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(seed32, seed32, (s1, s2) => {
        const pub1 = node.x25519PublicKey(s1);
        const n2 = node.x25519KeyPair(s2);
        const b2 = noble.x25519KeyPair(s2);
        expect(toHex(noble.x25519PublicKey(s1))).toBe(toHex(pub1));
        expect(toHex(b2.publicKey)).toBe(toHex(n2.publicKey));
        const k12 = toHex(node.x25519KeyPair(s1).sharedSecret(n2.publicKey));
        expect(toHex(n2.sharedSecret(pub1))).toBe(k12); // symmetric on node
        expect(toHex(b2.sharedSecret(pub1))).toBe(k12); // and noble computes the same secret
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it(`every small-order u encoding throws KEY_SMALL_ORDER on both (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(seed32, fc.integer({ min: 0, max: SMALL_X.encodings.length - 1 }), (sk, i) => {
        const u = SMALL_X.encodings[i]!;
        expect(isSmallOrderX25519(u)).toBe(true);
        expect(outcome(() => node.x25519KeyPair(sk).sharedSecret(u))).toBe('KeypostError:KEY_SMALL_ORDER');
        expect(outcome(() => noble.x25519KeyPair(sk).sharedSecret(u))).toBe('KeypostError:KEY_SMALL_ORDER');
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------
// Hashes and KDFs

describe('hashes and KDFs: backends agree', () => {
  it(`sha256 and sha512 (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(upTo(4096), (d) => {
        expect(toHex(noble.sha256(d))).toBe(toHex(node.sha256(d)));
        expect(toHex(noble.sha512(d))).toBe(toHex(node.sha512(d)));
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it(`hkdfSha256 over every valid length 0..8160 (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(upTo(96), upTo(96), upTo(96), fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 255 * 32 })), (ikm, salt, info, len) => {
        const a = node.hkdfSha256(ikm, salt, info, len);
        expect(a).toHaveLength(len);
        expect(toHex(noble.hkdfSha256(ikm, salt, info, len))).toBe(toHex(a));
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it(`scrypt with small N (${RUNS} runs)`, () => {
    fc.assert(
      fc.property(upTo(64), upTo(64), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 128 }), (pass, salt, logN, len) => {
        const a = node.scrypt(pass, salt, logN, len);
        expect(a).toHaveLength(len);
        expect(toHex(noble.scrypt(pass, salt, logN, len))).toBe(toHex(a));
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);

  it(`out-of-contract KDF parameters throw INVALID_ARGUMENT on both (${RUNS} runs)`, () => {
    const badHkdfLen = fc.oneof(fc.integer({ min: 255 * 32 + 1, max: 1 << 20 }), fc.integer({ min: -1000, max: -1 }), fc.double({ noInteger: true }));
    const badScrypt = fc.oneof(
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.oneof(fc.constant(0), fc.integer({ max: -1 }), fc.double({ noInteger: true }))),
      fc.tuple(fc.oneof(fc.constant(0), fc.integer({ min: -64, max: -1 }), fc.double({ noInteger: true })), fc.integer({ min: 1, max: 64 })),
    );
    fc.assert(
      fc.property(badHkdfLen, badScrypt, upTo(32), (hl, [logN, sl], x) => {
        for (const b of [node, noble]) {
          expect(outcome(() => b.hkdfSha256(x, x, x, hl))).toBe('KeypostError:INVALID_ARGUMENT');
          expect(outcome(() => b.scrypt(x, x, logN, sl))).toBe('KeypostError:INVALID_ARGUMENT');
        }
      }),
      { numRuns: RUNS },
    );
  }, TIMEOUT);
});

// ---------------------------------------------------------------------------------------
// AEADs

describe.each([
  ['ChaCha20-Poly1305', 12, 'chacha20poly1305Seal', 'chacha20poly1305Open'],
  ['XChaCha20-Poly1305', 24, 'xchacha20poly1305Seal', 'xchacha20poly1305Open'],
] as const)('%s: backends agree on random inputs and random tampering', (_label, nonceLen, sealName, openName) => {
  const tamper = fc.constantFrom('ct', 'aad', 'nonce', 'key', 'truncate', 'extend', 'random');

  it(`seal, open, and open of tampered input (${RUNS} runs)`, () => {
    const counts: Record<string, number> = {};
    fc.assert(
      fc.property(bytes(32), bytes(nonceLen), upTo(600), fc.option(upTo(64), { nil: undefined }), tamper, fc.nat(), (key, nonce, pt, aad, how, n) => {
        const ct = node[sealName](key, nonce, pt, aad);
        expect(ct).toHaveLength(pt.length + 16);
        expect(toHex(noble[sealName](key, nonce, pt, aad))).toBe(toHex(ct));
        for (const b of [node, noble]) expect(toHex(b[openName](key, nonce, ct, aad)!)).toBe(toHex(pt));
        // and cross: what one sealed the other opens (same bytes, so this is the same check,
        // but it also covers aad = undefined vs empty on the other side)
        expect(toHex(noble[openName](key, nonce, ct, aad ?? new Uint8Array(0))!)).toBe(toHex(pt));

        let [k, nn, c, a]: [Uint8Array, Uint8Array, Uint8Array, Uint8Array | undefined] = [key, nonce, ct, aad];
        if (how === 'ct') c = flipBit(ct, n);
        if (how === 'aad') a = aad && aad.length ? flipBit(aad, n) : Uint8Array.of(n & 0xff);
        if (how === 'nonce') nn = flipBit(nonce, n);
        if (how === 'key') k = flipBit(key, n);
        if (how === 'truncate') c = ct.subarray(0, n % ct.length);
        if (how === 'extend') c = concat(ct, Uint8Array.of(n & 0xff));
        if (how === 'random') c = nc.randomBytes(n % (ct.length + 8));
        counts[how] = (counts[how] ?? 0) + 1;
        expect(node[openName](k, nn, c, a)).toBeNull();
        expect(noble[openName](k, nn, c, a)).toBeNull();
      }),
      { numRuns: RUNS },
    );
    for (const how of ['ct', 'aad', 'nonce', 'key', 'truncate', 'extend', 'random']) expect(counts[how]).toBeGreaterThan(RUNS / 20);
  }, TIMEOUT);
});
