/**
 * Group 4: proof-of-work stamps. Minting b bits costs 2^b stamp hashes on average, so the
 * figure that matters is stamp hashes per second; checking a stamp costs one hash.
 */
import { backends, useBackend, type CryptoBackend } from '../src/crypto/index.js';
import { checkStamp, mintStamp } from '../src/protocol/index.js';
import { fmt, pct, ratio, runSet, table, times, type BenchOptions, type Case, type GroupReport } from './harness.js';

const BITS = 10;

export function pow(o: BenchOptions, log: (s: string) => void): GroupReport {
  const recipient = backends.node.randomBytes(32);
  const mint = (name: CryptoBackend['name']): Case => ({
    id: `pow.mint.${BITS}bits`,
    label: `mintStamp, ${BITS} bits (stamp hashes/s)`,
    backend: name,
    before: () => useBackend(name),
    // A new message id each time, so every mint is an independent search.
    fn: () => mintStamp(recipient, backends.node.randomBytes(32), BITS, backends.node.randomBytes),
    unitsPerOp: 2 ** BITS,
    unitName: 'hashes',
  });
  const id = backends.node.randomBytes(32);
  const stamp16 = mintStamp(recipient, id, 16, backends.node.randomBytes);
  const check = (name: CryptoBackend['name']): Case => ({
    id: 'pow.check.16bits',
    label: 'checkStamp, 16 bits (one hash)',
    backend: name,
    before: () => useBackend(name),
    fn: () => checkStamp(recipient, id, stamp16, 16),
  });

  const rows: string[][] = [];
  const ratios: Record<string, number> = {};
  log(`  mintStamp ${BITS} bits`);
  const [mn, mb] = runSet([mint('node'), mint('noble')], o);
  log('  checkStamp');
  const [cn, cb] = runSet([check('node'), check('noble')], o);
  useBackend('node');
  ratios['pow.mint.node/noble'] = ratio(mn!, mb!);
  ratios['pow.check.node/noble'] = ratio(cn!, cb!);
  rows.push([mn!.label, `${fmt(mn!.unitsPerSec)} /s`, `${fmt(mb!.unitsPerSec)} /s`, times(ratios['pow.mint.node/noble']!), `±${pct(Math.max(mn!.spread, mb!.spread) / 2)}`]);
  rows.push([cn!.label, `${fmt(cn!.opsPerSec)} /s`, `${fmt(cb!.opsPerSec)} /s`, times(ratios['pow.check.node/noble']!), `±${pct(Math.max(cn!.spread, cb!.spread) / 2)}`]);
  const best = Math.max(mn!.unitsPerSec!, mb!.unitsPerSec!);
  const rate = mn!.unitsPerSec!;
  for (const b of [16, 20, 24]) {
    rows.push([`  expected time to mint ${b} bits`, `${fmt((2 ** b / rate) * 1000)} ms`, `${fmt((2 ** b / mb!.unitsPerSec!) * 1000)} ms`, '', '']);
  }
  return {
    id: 'pow',
    title: 'Proof-of-work stamps (SHA-256 over label ‖ recipient ‖ id ‖ nonce, ~100 B)',
    table: table(['operation', 'node', 'noble', 'node/noble', 'noise'], rows),
    notes: [
      `Mint rate = mints/s × 2^${BITS} (the expected number of tries); geometric variance averages out over the many mints in a round.`,
      `Each extra bit doubles the sender's cost; the faster backend here does ${fmt(best)} stamp hashes/s on one core.`,
    ],
    results: [mn!, mb!, cn!, cb!],
    ratios,
  };
}
