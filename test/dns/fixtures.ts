/** Shared fixtures of the discovery tests: assertions for test users, a tamperer. */
import { SigningKey, EncryptionKey } from '../../src/identity/index.js';
import { seededRandom } from '../../src/crypto/index.js';
import { makeAssertion, PURPOSE, type AssertionContent } from '../../src/protocol/index.js';
import { NOW, type User } from '../helpers.js';

export interface Window {
  seq?: number;
  notBefore?: number;
  notAfter?: number;
}

export function assertion(u: User, content: AssertionContent, w: Window = {}): Uint8Array {
  return makeAssertion({ identity: u.identity, seq: w.seq ?? 1, notBefore: w.notBefore ?? NOW - 60, notAfter: w.notAfter ?? NOW + 86400, content });
}

export const storesOf = (...urls: [number, string][]): AssertionContent => ({ type: 'stores', stores: urls.map(([priority, url]) => ({ priority, url })) });

/**
 * A keys assertion: the user's encryption key first, then `extra` more subkeys (device
 * keys), so that a large `extra` makes the TXT record split into several strings.
 */
export function keysOf(u: User, extra = 1, notAfter = NOW + 30 * 86400): AssertionContent {
  const rnd = seededRandom(`keys:${u.name}:${extra}`);
  const keys: { purpose: number; key: Uint8Array; notAfter: number }[] = [{ purpose: PURPOSE.encryption, key: u.enc.publicKey, notAfter }];
  for (let i = 0; i < extra; i++) keys.push({ purpose: PURPOSE.device, key: SigningKey.generate(rnd).publicKey, notAfter });
  return { type: 'keys', keys };
}

export const nameOf = (name: string): AssertionContent => ({ type: 'name', name });
export const policyOf = (powBits: number): AssertionContent => ({ type: 'policy', policy: { powBits, powUnit: 65536, maxSize: 1024 * 1024 } });

/** Flip one bit of the signature (the last field of a certless container). */
export function tamper(a: Uint8Array): Uint8Array {
  const b = new Uint8Array(a);
  b[b.length - 1]! ^= 0x01;
  return b;
}

export const freshEncryptionKey = (seed: string): Uint8Array => EncryptionKey.generate(seededRandom(seed)).publicKey;
