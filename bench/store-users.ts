/**
 * Deterministic users for the store benchmarks. A user is made from its name, so two
 * processes can make the same one (a key maker and the benchmark), and registered in a
 * store child directly through its Storage (invite, user row, device, delegate
 * certificate, published assertions): setting up 10,000 users over HTTP would take longer
 * than the benchmark and measure nothing wanted here.
 */
import { seededRandom } from '../src/crypto/index.js';
import { EncryptionKey, SigningKey, addressOf } from '../src/identity/index.js';
import { ASSERTION_TYPE, certifySubkey, makeAssertion, PURPOSE, subkeySigner, type Signer } from '../src/protocol/index.js';

export const now = (): number => Math.floor(Date.now() / 1000);

export interface BenchUser {
  name: string;
  identity: SigningKey;
  address: Uint8Array;
  enc: EncryptionKey;
  /** Certified device key: what the user's client signs requests, notifications and envelopes with. */
  device: Signer;
  deviceKey: Uint8Array;
  delegateSeed: Uint8Array;
  /** The user's certificate for the store-delegate key (prefetch and receipts need it). */
  delegateCert: Uint8Array;
}

/** What a store child needs to register a user (plain data: it crosses the IPC channel). */
export interface UserSetup {
  address: Uint8Array;
  identity: Uint8Array;
  deviceKey: Uint8Array;
  delegateSeed: Uint8Array;
  delegateCert?: Uint8Array;
  prefetch: boolean;
  assertions: { type: number; seq: number; bytes: Uint8Array; notAfter: number }[];
}

const DAY = 86400;

/** A full user: identity, encryption key, certified device and store-delegate keys. */
export function benchUser(name: string, t = now()): BenchUser {
  const rnd = seededRandom(`bench:store:user:${name}`);
  const identity = SigningKey.generate(rnd);
  const enc = EncryptionKey.generate(rnd);
  const dev = SigningKey.generate(rnd);
  const delegate = SigningKey.generate(rnd);
  const cert = (subkey: Uint8Array, purpose: 1 | 3) => certifySubkey({ identity, purpose, subkey, notBefore: t - DAY, notAfter: t + 30 * DAY });
  return {
    name,
    identity,
    address: addressOf(identity.typedKey),
    enc,
    device: subkeySigner(identity.typedKey, dev, cert(dev.publicKey, PURPOSE.device)),
    deviceKey: dev.publicKey,
    delegateSeed: delegate.exportSecret(),
    delegateCert: cert(delegate.publicKey, PURPOSE.storeDelegate),
  };
}

/** The user's signed *stores* assertion (and *keys*, unless `storesOnly`), valid for 30 days. */
export function assertionsOf(identity: SigningKey, storeUrl: string, t: number, enc?: EncryptionKey): UserSetup['assertions'] {
  const notAfter = t + 30 * DAY;
  const out: UserSetup['assertions'] = [
    {
      type: ASSERTION_TYPE.stores,
      seq: 1,
      notAfter,
      bytes: makeAssertion({ identity, seq: 1, notBefore: t - DAY, notAfter, content: { type: 'stores', stores: [{ priority: 10, url: storeUrl }] } }),
    },
  ];
  if (enc) {
    out.push({
      type: ASSERTION_TYPE.keys,
      seq: 1,
      notAfter,
      bytes: makeAssertion({ identity, seq: 1, notBefore: t - DAY, notAfter, content: { type: 'keys', keys: [{ purpose: PURPOSE.encryption, key: enc.publicKey, notAfter }] } }),
    });
  }
  return out;
}

export function setupOf(u: BenchUser, storeUrl: string, prefetch: boolean, t = now()): UserSetup {
  return {
    address: u.address,
    identity: u.identity.typedKey,
    deviceKey: u.deviceKey,
    delegateSeed: u.delegateSeed,
    delegateCert: u.delegateCert,
    prefetch,
    assertions: assertionsOf(u.identity, storeUrl, t, u.enc),
  };
}

/**
 * A light recipient (for the 10,000-recipient fan-out): identity, encryption key and a
 * *stores* assertion; no device (it makes no requests) and no delegate certificate (its
 * prefetch is off). About 1 ms to make, most of it the check of the new identity key.
 */
export function lightRecipient(name: string, storeUrl: string, t = now()): { setup: UserSetup; encryptionKey: Uint8Array } {
  const rnd = seededRandom(`bench:store:rcpt:${name}`);
  const identity = SigningKey.generate(rnd);
  const enc = EncryptionKey.generate(rnd);
  return {
    setup: {
      address: addressOf(identity.typedKey),
      identity: identity.typedKey,
      deviceKey: identity.publicKey,
      delegateSeed: rnd(32),
      prefetch: false,
      assertions: assertionsOf(identity, storeUrl, t),
    },
    encryptionKey: enc.publicKey,
  };
}
