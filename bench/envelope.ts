/**
 * Group 2: sealEnvelope / openEnvelope of a 4 KiB message, to 1 and to 10 recipients, on
 * the node backend with noble beside it for comparison.
 *
 * Keys bind to the backend active when they are first used (SigningKey signs with the
 * backend of its first signature, EncryptionKey with the backend of its construction),
 * so each backend gets its own users, built while it is active.
 */
import { systemRandom, useBackend, type CryptoBackend } from '../src/crypto/index.js';
import { openEnvelope, sealEnvelope, type Draft, type Recipient } from '../src/protocol/index.js';
import { makeUser, NOW, type User } from '../test/helpers.js';
import { fmt, pct, ratio, runSet, table, times, type BenchOptions, type Case, type GroupReport, type Measured } from './harness.js';

const BODY = 'x'.repeat(4096);

interface Fixture {
  author: User;
  rcpts: User[];
}

function fixture(name: CryptoBackend['name']): Fixture {
  useBackend(name);
  const author = makeUser(`bench-author-${name}`);
  const rcpts = Array.from({ length: 10 }, (_, i) => makeUser(`bench-rcpt-${name}-${i}`));
  author.device.key.sign(new Uint8Array(1)); // bind the signer to this backend now
  useBackend('node');
  return { author, rcpts };
}

const draftFor = (to: User[]): Draft => ({
  to: to.map((u) => u.address),
  cc: [],
  subject: 'benchmark',
  date: NOW,
  parents: [],
  body: BODY,
  attachments: [],
});

export function envelopes(o: BenchOptions, log: (s: string) => void): GroupReport {
  log('  building users on both backends…');
  const fx = { node: fixture('node'), noble: fixture('noble') };
  const results: Measured[] = [];
  const ratios: Record<string, number> = {};
  const rows: string[][] = [];
  const envSize: Record<number, number> = {};

  for (const n of [1, 10]) {
    const make = (name: CryptoBackend['name']) => {
      const f = fx[name];
      const to = f.rcpts.slice(0, n);
      const recipients: Recipient[] = to.map((u) => ({ address: u.address, encryptionKey: u.enc.publicKey }));
      const draft = draftFor(to);
      const seal = () => sealEnvelope({ author: f.author.device, draft, recipients, random: systemRandom });
      useBackend(name);
      const sealed = seal();
      useBackend('node');
      envSize[n] = sealed.envelope.length;
      const reader = to[to.length - 1]!; // with 10, the stanza search runs over all 10 tags
      const before = () => useBackend(name);
      return {
        seal: { id: `envelope.seal.${n}`, label: `sealEnvelope 4 KiB → ${n} rcpt`, backend: name, fn: seal, before } as Case,
        open: {
          id: `envelope.open.${n}`,
          label: `openEnvelope 4 KiB (of ${n} rcpt)`,
          backend: name,
          fn: () => openEnvelope(sealed.envelope, { key: reader.enc, expectedId: sealed.id, now: NOW }),
          before,
        } as Case,
      };
    };
    const node = make('node');
    const noble = make('noble');
    for (const op of ['seal', 'open'] as const) {
      log(`  ${node[op].label}`);
      const [a, b] = runSet([node[op], noble[op]], o);
      results.push(a!, b!);
      const r = ratio(a!, b!);
      ratios[`${node[op].id}.node/noble`] = r;
      rows.push([
        node[op].label,
        `${fmt(a!.opsPerSec)} /s`,
        `${fmt(a!.usPerOp)} µs`,
        `${fmt(b!.opsPerSec)} /s`,
        times(r),
        `±${pct(Math.max(a!.spread, b!.spread) / 2)}`,
      ]);
    }
  }
  useBackend('node');
  return {
    id: 'envelope',
    title: 'Envelopes, 4 KiB body (author signs with a certified device key)',
    table: table(['operation', 'node', 'node µs/op', 'noble', 'node/noble', 'noise'], rows),
    notes: [
      `Envelope sizes: ${Object.entries(envSize)
        .map(([n, s]) => `${n} rcpt = ${s} B`)
        .join(', ')}. Seal includes the X25519 + HKDF + key wrap per recipient, the signature and the payload encryption.`,
      'Open includes hashing the envelope against the notified id, one X25519, the stanza search, decryption, decoding and the author signature check (device certificate cached after first sight).',
    ],
    results,
    ratios,
  };
}
