/**
 * Group 3: what a recipient store pays per incoming notification, as a fraction of the
 * raw node:crypto Ed25519 verify rate measured in the same interleaved set.
 *
 * The later store target is ≥ 60 % of the raw verify rate end to end (decode, checks,
 * replay cache, signature, durable insert). This group measures the pure protocol part
 * (verifyNotification with in-memory callbacks), so what remains for storage and
 * transport is visible now.
 */
import * as nc from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backends, useBackend } from '../src/crypto/index.js';
import { addressOf } from '../src/identity/index.js';
import { checkStoreUrl, labelled, LABELS, makeNotification, verifyNotification, type NotificationCheck } from '../src/protocol/index.js';
import { decode } from '../src/wire/index.js';
import { Notification, NotificationBody } from '../src/wire/schema.js';
import { makeUser, NOW } from '../test/helpers.js';
import { fmt, pct, ratio, runSet, table, type BenchOptions, type Case, type GroupReport, type Measured } from './harness.js';
import { sibling } from './store-ipc.js';

const STORE = 'https://store.bench.example';
const ED_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const latin1 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

function freshNotifications(n: number): { device: Uint8Array[]; identity: Uint8Array[] } {
  const script = fileURLToPath(new URL(sibling('./fresh-senders.ts'), import.meta.url));
  const out = execFileSync(process.execPath, [...process.execArgv, script, String(n), `run-${process.pid}`, STORE], {
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const j = JSON.parse(out.toString()) as { device: string[]; identity: string[] };
  const dec = (a: string[]) => a.map((s) => new Uint8Array(Buffer.from(s, 'base64')));
  return { device: dec(j.device), identity: dec(j.identity) };
}

export function notifications(o: BenchOptions, log: (s: string) => void): GroupReport {
  useBackend('node');
  const alice = makeUser('bench-alice');
  const bob = makeUser('bench-bob');
  const rnd = backends.node.randomBytes;
  const common = {
    recipient: { address: bob.address, encryptionKey: bob.enc.publicKey },
    store: STORE,
    id: rnd(32),
    size: 5000,
    time: NOW,
    expires: NOW + 86400,
    subjectHint: 'benchmark',
    random: rnd,
  };
  const byDevice = makeNotification({ ...common, sender: alice.device });
  const byIdentity = makeNotification({ ...common, sender: alice.signer });

  // The exact bytes the device signature covers, and a prebuilt KeyObject: the raw rate.
  const c = decode(Notification, byDevice);
  const signedBytes = labelled(LABELS.notification, c.body);
  const devicePk = alice.device.key.publicKey;
  const keyObject = nc.createPublicKey({ key: Buffer.concat([ED_SPKI, devicePk]), format: 'der', type: 'spki' });
  if (!nc.verify(null, signedBytes, keyObject, c.sig)) throw new Error('bench setup: raw verify failed');

  // Callbacks as a store would pass them, all in memory.
  const local = new Set([latin1(bob.address)]);
  const seen = new Set<string>();
  const check: NotificationCheck = {
    now: NOW,
    isLocalRecipient: (a) => local.has(latin1(a)),
    isReplay: (h) => seen.has(latin1(h)),
    powBits: () => 0,
  };
  const senderTyped = decode(NotificationBody, c.body).sender;

  const raw: Case = { id: 'verify.raw', label: 'raw node:crypto Ed25519 verify (KeyObject prebuilt)', fn: () => nc.verify(null, signedBytes, keyObject, c.sig) };
  const warm: Case[] = [
    raw,
    { id: 'verify.backend', label: 'backends.node.ed25519Verify (key check + KeyObject cached)', fn: () => backends.node.ed25519Verify(c.sig, signedBytes, devicePk) },
    { id: 'notification.verify.identity', label: 'verifyNotification, identity-signed', fn: () => verifyNotification(byIdentity, check) },
    { id: 'notification.verify.device', label: 'verifyNotification, device-signed (cert cached)', fn: () => verifyNotification(byDevice, check) },
    {
      id: 'notification.decode',
      label: 'decode only: Notification + NotificationBody',
      fn: () => decode(NotificationBody, decode(Notification, byDevice).body),
    },
    { id: 'notification.part.sha256', label: '  part: SHA-256 of the signed body (replay key)', fn: () => backends.node.sha256(c.body) },
    { id: 'notification.part.address', label: '  part: addressOf(sender) (key check cached)', fn: () => addressOf(senderTyped) },
    { id: 'notification.part.storeurl', label: '  part: checkStoreUrl (WHATWG URL parse)', fn: () => checkStoreUrl(STORE) },
  ];
  log('  warm: one sender, caches hot');
  const warmM = runSet(warm, o);

  // First sight: every notification from a sender the process has never seen.
  const fixed = o.quick ? { warmupOps: 5, opsPerRound: 20 } : { warmupOps: 20, opsPerRound: 100 };
  const need = fixed.warmupOps + fixed.opsPerRound * o.rounds;
  log(`  building ${need} fresh senders in a child process…`);
  const fresh = freshNotifications(need);
  let di = 0;
  let ii = 0;
  const cold: Case[] = [
    { ...raw },
    {
      id: 'notification.verify.device.first-sight',
      label: 'verifyNotification, device-signed, first sight of sender',
      fn: () => verifyNotification(fresh.device[di++]!, check),
      fixed,
    },
    {
      id: 'notification.verify.identity.first-sight',
      label: 'verifyNotification, identity-signed, first sight of sender',
      fn: () => verifyNotification(fresh.identity[ii++]!, check),
      fixed,
    },
  ];
  log('  first sight: a new sender every time');
  const coldM = runSet(cold, o);

  const results: Measured[] = [...warmM, ...coldM.slice(1)];
  const ratios: Record<string, number> = {};
  const rawW = warmM[0]!;
  const rawC = coldM[0]!;
  const rows: string[][] = [];
  const row = (m: Measured, base: Measured) => {
    const r = ratio(m, base);
    ratios[`${m.id}/verify.raw`] = r;
    rows.push([m.label, `${fmt(m.opsPerSec)} /s`, `${fmt(m.usPerOp)} µs`, pct(r), `±${pct(m.spread / 2)}`]);
  };
  rows.push([rawW.label, `${fmt(rawW.opsPerSec)} /s`, `${fmt(rawW.usPerOp)} µs`, '100 %', `±${pct(rawW.spread / 2)}`]);
  for (const m of warmM.slice(1)) row(m, rawW);
  rows.push([`${rawC.label} (again, in the first-sight set)`, `${fmt(rawC.opsPerSec)} /s`, `${fmt(rawC.usPerOp)} µs`, '100 %', `±${pct(rawC.spread / 2)}`]);
  for (const m of coldM.slice(1)) row(m, rawC);

  const dev = warmM.find((m) => m.id === 'notification.verify.device')!;
  const idn = warmM.find((m) => m.id === 'notification.verify.identity')!;
  const derived = {
    'overhead.device.us': dev.usPerOp - rawW.usPerOp,
    'overhead.identity.us': idn.usPerOp - rawW.usPerOp,
    'notification.bytes.device': byDevice.length,
    'notification.bytes.identity': byIdentity.length,
  };
  return {
    id: 'notification',
    title: 'Notifications: verification on the recipient store (node backend, one core)',
    table: table(['operation', 'rate', 'µs/op', 'of raw verify', 'noise'], rows),
    notes: [
      `Notification sizes: device-signed ${byDevice.length} B (carries the subkey certificate), identity-signed ${byIdentity.length} B; both carry an encrypted subject hint.`,
      `Protocol overhead above one raw verify: device-signed ${fmt(derived['overhead.device.us'])} µs, identity-signed ${fmt(derived['overhead.identity.us'])} µs per notification.`,
      '"of raw verify" = median over interleaved rounds of (rate / raw node:crypto verify rate). Callbacks (local recipient, replay set, pow bits) are in-memory Set lookups.',
      'First sight: the sender key(s) pass the uncached small-order/torsion check (noble Point arithmetic) and, device-signed, the certificate signature is verified too; fixed operation counts from a pool built in a child process.',
    ],
    results,
    ratios,
    derived,
  };
}
