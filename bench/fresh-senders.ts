/**
 * Child-process helper for the "first sight" notification cases: builds `n` senders and
 * one notification from each to the benchmark recipient, and writes them to stdout as
 * JSON (base64). It runs in its own process so the benchmark process's key-check and
 * certificate caches have never seen these keys.
 *
 * Usage (from bench/notification.ts): node <tsx execArgv> bench/fresh-senders.ts <n> <seed> <store>
 */
import { seededRandom } from '../src/crypto/index.js';
import { SigningKey } from '../src/identity/index.js';
import { certifySubkey, identitySigner, makeNotification, PURPOSE, subkeySigner } from '../src/protocol/index.js';
import { makeUser, NOW } from '../test/helpers.js';

const n = Number(process.argv[2] ?? '0');
const seed = process.argv[3] ?? 'fresh';
const STORE = process.argv[4] ?? 'https://store.bench.example';
const bob = makeUser('bench-bob');
const rnd = seededRandom(`bench:fresh-senders:${seed}`);
const device: string[] = [];
const identity: string[] = [];
for (let i = 0; i < n; i++) {
  const id = SigningKey.generate(rnd);
  const dev = SigningKey.generate(rnd);
  const cert = certifySubkey({ identity: id, purpose: PURPOSE.device, subkey: dev.publicKey, notBefore: NOW - 86400, notAfter: NOW + 365 * 86400 });
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
  device.push(Buffer.from(makeNotification({ ...common, sender: subkeySigner(id.typedKey, dev, cert) })).toString('base64'));
  // A separate identity, so neither case warms the key-check cache for the other.
  const solo = SigningKey.generate(rnd);
  identity.push(Buffer.from(makeNotification({ ...common, sender: identitySigner(solo) })).toString('base64'));
}
process.stdout.write(JSON.stringify({ device, identity }));
