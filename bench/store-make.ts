/**
 * Child process of the store benchmarks that makes keys and signed objects before any
 * timing starts, so two of them can share the work across both cores:
 *
 * - `senders`: device-certified senders, each with its signed *stores* assertion naming
 *   its sending store (one of the load generator's origins), and `perSender` distinct
 *   notifications from each to the recipients, written to a file in sender-interleaved
 *   order (one from every sender, then the second from every sender, ...).
 * - `recipients`: light recipients for the fan-out benchmark (store-users.ts).
 */
import { writeFileSync } from 'node:fs';
import { seededRandom } from '../src/crypto/index.js';
import { addressOf, SigningKey } from '../src/identity/index.js';
import { certifySubkey, makeNotification, PURPOSE, subkeySigner } from '../src/protocol/index.js';
import { serve } from './store-ipc.js';
import { assertionsOf, lightRecipient, now } from './store-users.js';

/** Envelope size the notifications announce: a 4 KiB message sealed to one recipient. */
const ANNOUNCED_SIZE = 4598;

serve({
  senders(a: { from: number; to: number; origins: string[]; recipients: Uint8Array[]; perSender: number; file: string; seed: string }) {
    const t = now();
    const senders = [];
    const published: { address: Uint8Array; origin: string; assertions: Uint8Array[] }[] = [];
    for (let s = a.from; s < a.to; s++) {
      const rnd = seededRandom(`bench:store:sender:${a.seed}:${s}`);
      const identity = SigningKey.generate(rnd);
      const dev = SigningKey.generate(rnd);
      const cert = certifySubkey({ identity, purpose: PURPOSE.device, subkey: dev.publicKey, notBefore: t - 86400, notAfter: t + 30 * 86400 });
      const origin = a.origins[s % a.origins.length]!;
      senders.push({ signer: subkeySigner(identity.typedKey, dev, cert), origin, rnd });
      published.push({ address: addressOf(identity.typedKey), origin, assertions: assertionsOf(identity, origin, t).map((x) => x.bytes) });
    }
    const parts: Buffer[] = [];
    let n = 0;
    for (let j = 0; j < a.perSender; j++) {
      for (let k = 0; k < senders.length; k++) {
        const s = senders[k]!;
        const rcpt = a.recipients[(j * senders.length + k + a.from) % a.recipients.length]!;
        const bytes = makeNotification({
          sender: s.signer,
          recipient: { address: rcpt },
          store: s.origin,
          id: s.rnd(32),
          size: ANNOUNCED_SIZE,
          // Signed times advance as they would in a flood of fresh notifications: a second per
          // 5,000 (two makers, interleaved), about the rate the store takes them. All-equal times
          // would put every replay key of the run into one second of the index (random inserts).
          time: t + Math.floor(n / 2500),
          expires: t + 7 * 86400,
          random: s.rnd,
        });
        const len = Buffer.alloc(2);
        len.writeUInt16BE(bytes.length);
        parts.push(len, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
        n++;
      }
    }
    writeFileSync(a.file, Buffer.concat(parts));
    return { published, notifications: n };
  },

  recipients(a: { from: number; to: number; storeUrl: string; seed: string }) {
    const t = now();
    const out = [];
    for (let i = a.from; i < a.to; i++) out.push(lightRecipient(`${a.seed}:${i}`, a.storeUrl, t));
    return out;
  },
});
