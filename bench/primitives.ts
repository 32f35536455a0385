/**
 * Group 1: every primitive on both backends, node/noble ratio per primitive, beside the
 * reference figures of DESIGN.md ("Performance").
 */
import * as nc from 'node:crypto';
import * as ed from '@noble/ed25519';
import { backends, isAcceptableEd25519Key, seededRandom, type CryptoBackend } from '../src/crypto/index.js';
import { fmt, pct, ratio, runSet, table, times, type BenchOptions, type Case, type GroupReport, type Measured } from './harness.js';

/** DESIGN.md reference figures (ops/s, or MB/s for the throughput rows). */
const REF: Record<string, { noble: number; node: number; note?: string }> = {
  'ed25519.sign': { noble: 2513, node: 23676 },
  'ed25519.verify.raw': { noble: 563, node: 7999 },
  'x25519.shared': { noble: 714, node: 22952 },
  'sha256.1MiB': { noble: 109, node: 1535 },
  // DESIGN compares noble xchacha with node chacha20-poly1305.
  'xchacha20poly1305.seal.4KiB': { noble: 80, node: 440, note: 'ref node figure is chacha20-poly1305' },
};

const MSG = seededRandom('bench:msg')(256);
const KiB4 = seededRandom('bench:4k')(4096);
const KiB64 = seededRandom('bench:64k')(65536);
const MiB1 = seededRandom('bench:1m')(1 << 20);
const KEY = seededRandom('bench:key')(32);
const N12 = seededRandom('bench:n12')(12);
const N24 = seededRandom('bench:n24')(24);

/**
 * Ed25519 keys never seen by the process-wide caches (the small-order/torsion key check
 * in src/crypto/edkeys.ts and node's KeyObject cache, 8,192 entries each, FIFO). Handed
 * out in order, each exactly once; after a wrap the cycle is longer than the caches, so
 * lookups still miss as long as the pool holds more than 8,192 keys.
 */
export class FreshKeys {
  readonly pks: Uint8Array[] = [];
  readonly sigs: Uint8Array[] = [];
  private i = 0;
  wrapped = false;
  constructor(
    n: number,
    readonly msg: Uint8Array,
  ) {
    const rnd = seededRandom(`bench:fresh:${n}`);
    for (let k = 0; k < n; k++) {
      const s = backends.node.ed25519Signer(rnd(32)); // does not touch the key-check cache
      this.pks.push(s.publicKey);
      this.sigs.push(s.sign(msg));
    }
  }
  next(): number {
    const i = this.i++;
    if (this.i === this.pks.length) {
      this.i = 0;
      this.wrapped = true;
    }
    return i;
  }
}

function pair(id: string, label: string, make: (b: CryptoBackend) => Omit<Case, 'id' | 'label' | 'backend'>): [Case, Case] {
  return [
    { id, label, backend: 'node', ...make(backends.node) },
    { id, label, backend: 'noble', ...make(backends.noble) },
  ];
}

export function primitives(o: BenchOptions, log: (s: string) => void): GroupReport {
  const poolSize = o.quick ? 4096 : 16384;
  log(`  generating ${poolSize} fresh Ed25519 keys for the uncached cases…`);
  const fresh = new FreshKeys(poolSize, MSG);

  const signers = { node: backends.node.ed25519Signer(KEY), noble: backends.noble.ed25519Signer(KEY) };
  const pk = signers.node.publicKey;
  const sig = signers.node.sign(MSG);
  const keyObject = nc.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk).toString('base64url') }, format: 'jwk' });
  const xs = seededRandom('bench:x25519');
  const xa = xs(32);
  const peer = backends.node.x25519PublicKey(xs(32));
  const salt = seededRandom('bench:salt')(64);
  const info = new TextEncoder().encode('keypost/v1/stanza');
  const pass = new TextEncoder().encode('correct horse battery staple');

  const sets: [Case, Case][] = [
    pair('ed25519.sign', 'Ed25519 sign (256 B)', (b) => {
      const s = signers[b.name];
      return { fn: () => s.sign(MSG) };
    }),
    pair('ed25519.verify.cached', 'Ed25519 verify, one key (key check cached)', (b) => ({ fn: () => b.ed25519Verify(sig, MSG, pk) })),
    [
      // The libraries alone, as DESIGN.md measured them: a prebuilt KeyObject; noble strict mode.
      { id: 'ed25519.verify.raw', label: 'Ed25519 verify, raw library call (no keypost checks)', backend: 'node', fn: () => nc.verify(null, MSG, keyObject, sig) },
      { id: 'ed25519.verify.raw', label: 'Ed25519 verify, raw library call (no keypost checks)', backend: 'noble', fn: () => ed.verify(sig, MSG, pk, { zip215: false }) },
    ],
    pair('ed25519.verify.distinct', 'Ed25519 verify, distinct keys (uncached)', (b) => ({
      fn: () => {
        const i = fresh.next();
        return b.ed25519Verify(fresh.sigs[i]!, MSG, fresh.pks[i]!);
      },
    })),
    pair('x25519.shared', 'X25519 shared secret', (b) => {
      const kp = b.x25519KeyPair(xa);
      return { fn: () => kp.sharedSecret(peer) };
    }),
    pair('sha256.1MiB', 'SHA-256, 1 MiB', (b) => ({ fn: () => b.sha256(MiB1), bytes: MiB1.length })),
    pair('chacha20poly1305.seal.4KiB', 'ChaCha20-Poly1305 seal, 4 KiB', (b) => ({ fn: () => b.chacha20poly1305Seal(KEY, N12, KiB4), bytes: 4096 })),
    pair('xchacha20poly1305.seal.4KiB', 'XChaCha20-Poly1305 seal, 4 KiB', (b) => ({ fn: () => b.xchacha20poly1305Seal(KEY, N24, KiB4), bytes: 4096 })),
    pair('xchacha20poly1305.seal.64KiB', 'XChaCha20-Poly1305 seal, 64 KiB (one envelope chunk)', (b) => ({ fn: () => b.xchacha20poly1305Seal(KEY, N24, KiB64), bytes: KiB64.length })),
    pair('xchacha20poly1305.open.4KiB', 'XChaCha20-Poly1305 open, 4 KiB', (b) => {
      const ct = b.xchacha20poly1305Seal(KEY, N24, KiB4);
      return { fn: () => b.xchacha20poly1305Open(KEY, N24, ct), bytes: 4096 };
    }),
    pair('hkdf-sha256', 'HKDF-SHA256 (32 B ikm, 64 B salt, 48 B out)', (b) => ({ fn: () => b.hkdfSha256(KEY, salt, info, 48) })),
    pair('scrypt.logN14', 'scrypt logN 14, r 8, p 1', (b) => ({ fn: () => b.scrypt(pass, salt, 14, 32), minOps: o.quick ? 1 : 3 })),
  ];

  const results: Measured[] = [];
  const ratios: Record<string, number> = {};
  const rows: string[][] = [];
  for (const [a, b] of sets) {
    log(`  ${a.label}`);
    const [ma, mb] = runSet([a, b], o);
    results.push(ma!, mb!);
    const r = ratio(ma!, mb!);
    ratios[`${a.id}.node/noble`] = r;
    const ref = REF[a.id];
    const mb_ = a.bytes !== undefined;
    const val = (m: Measured) => (mb_ ? `${fmt(m.mbPerSec)} MB/s` : `${fmt(m.opsPerSec)} /s`);
    rows.push([
      a.label,
      val(ma!),
      val(mb!),
      times(r),
      `±${pct(Math.max(ma!.spread, mb!.spread) / 2)}`,
      ref ? `${fmt(ref.node)} / ${fmt(ref.noble)}` : '',
      ref ? times(ref.node / ref.noble) : '',
    ]);
  }

  // The key check on its own: what "distinct keys" adds on both backends.
  log('  Ed25519 public-key check, uncached');
  const [kc] = runSet(
    [
      {
        id: 'ed25519.keycheck.uncached',
        label: 'Ed25519 key check alone, uncached (noble Point, both backends)',
        fn: () => isAcceptableEd25519Key(fresh.pks[fresh.next()]!),
      },
    ],
    o,
  );
  results.push(kc!);
  rows.push([kc!.label, `${fmt(kc!.opsPerSec)} /s`, '(same code)', '', `±${pct(kc!.spread / 2)}`, '', '']);

  const notes = [
    'ratio = median over rounds of node/noble measured in interleaved rounds; "±" = half the spread (max−min)/median over rounds, worst of the two backends.',
    'MB = 10^6 bytes. "ref" = DESIGN.md figures (node / noble) and their ratio; the DESIGN AEAD row compares node chacha20-poly1305 with noble xchacha.',
    'The key check (small order, torsion) is noble Point arithmetic on both backends, cached per key (8,192 keys); "distinct keys" pays it on every call.',
    'The noble backend verify also checks that R is torsion-free (one more variable-base scalar multiplication per signature) to match OpenSSL\'s cofactorless semantics; the raw row is @noble/ed25519 alone.',
  ];
  if (fresh.wrapped && poolSize <= 8192) notes.push('WARNING: the fresh-key pool wrapped and is not larger than the caches: some "uncached" calls hit.');
  return {
    id: 'primitives',
    title: 'Primitives, node:crypto vs @noble (one core)',
    table: table(['operation', 'node', 'noble', 'node/noble', 'noise', 'ref node / noble', 'ref ratio'], rows),
    notes,
    results,
    ratios,
  };
}
