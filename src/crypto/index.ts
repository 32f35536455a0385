/**
 * The crypto layer's front door. One backend is active at a time (node:crypto by
 * default in Node); tests and benchmarks switch with `useBackend`.
 */
import { rngChacha20 } from '@noble/ciphers/chacha.js';
import { KeypostError } from '../errors.js';
import { nodeBackend } from './node.js';
import { nobleBackend } from './noble.js';
import type { CryptoBackend } from './types.js';

export type { CryptoBackend, Ed25519Signer, X25519KeyPair } from './types.js';
export { isAcceptableEd25519Key, classifyEd25519Key, isSmallOrderX25519 } from './edkeys.js';

export const backends: Readonly<Record<CryptoBackend['name'], CryptoBackend>> = { node: nodeBackend, noble: nobleBackend };

let active: CryptoBackend = nodeBackend;

export function useBackend(name: CryptoBackend['name']): void {
  // own keys only: 'toString', 'constructor', '__proto__' are not backends
  if (!Object.hasOwn(backends, name)) throw new KeypostError('INVALID_ARGUMENT', `unknown crypto backend ${String(name)}`);
  active = backends[name];
}

export const crypto = (): CryptoBackend => active;

/** Randomness is a parameter of every protocol function: this is its type. */
export type RandomSource = (n: number) => Uint8Array;

export const systemRandom: RandomSource = (n) => active.randomBytes(n);

/**
 * Deterministic randomness for vectors and tests only: a ChaCha20 stream keyed by
 * SHA-256 of the seed. Never use it for real keys.
 */
export function seededRandom(seed: string | Uint8Array): RandomSource {
  const s = typeof seed === 'string' ? new TextEncoder().encode(seed) : seed;
  const prg = rngChacha20(nodeBackend.sha256(s));
  return (n) => prg.randomBytes(n);
}
