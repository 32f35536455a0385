/**
 * Proof of work demanded of strangers. A stamp is an 8-byte nonce such that
 * SHA-256(label || recipient address || message id || nonce) starts with enough zero
 * bits. Binding the recipient and the message id means one stamp buys one delivery of
 * one message, and the required bits grow with the message size so bulk costs more.
 */
import { KeypostError } from '../errors.js';
import { crypto, type RandomSource } from '../crypto/index.js';
import type { PolicyContent } from '../wire/schema.js';
import { labelled, LABELS } from './labels.js';

/** Mint refuses more than this: 2^32 hashes is already hours of CPU. */
export const MAX_POW_BITS = 32;

/** Bits required for a message of `size` bytes: base bits + ceil(log2(size units)), at most MAX_POW_BITS. */
export function requiredBits(policy: Pick<PolicyContent, 'powBits' | 'powUnit'>, size: number): number {
  if (policy.powBits === 0) return 0;
  const units = Math.max(1, Math.ceil(size / policy.powUnit));
  // Clamped so a large message is expensive to send, never impossible.
  return Math.min(MAX_POW_BITS, policy.powBits + Math.ceil(Math.log2(units)));
}

export function leadingZeroBits(h: Uint8Array): number {
  let n = 0;
  for (const byte of h) {
    if (byte === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(byte) - 24;
  }
  return n;
}

function stampHash(recipient: Uint8Array, id: Uint8Array, nonce: Uint8Array): Uint8Array {
  return crypto().sha256(labelled(LABELS.pow, recipient, id, nonce));
}

export function checkStamp(recipient: Uint8Array, id: Uint8Array, nonce: Uint8Array | undefined, bits: number): void {
  if (bits <= 0) return;
  if (!nonce) throw new KeypostError('POW_MISSING', `${bits} bits of proof of work required`);
  const got = leadingZeroBits(stampHash(recipient, id, nonce));
  if (got < bits) throw new KeypostError('POW_INSUFFICIENT', `${got} < ${bits} bits`);
}

/** Search for a stamp. Expected cost: 2^bits hashes. */
export function mintStamp(recipient: Uint8Array, id: Uint8Array, bits: number, random: RandomSource): Uint8Array {
  if (!Number.isInteger(bits) || bits < 0 || bits > MAX_POW_BITS) throw new KeypostError('INVALID_ARGUMENT', `bits must be 0..${MAX_POW_BITS}`);
  const nonce = random(8);
  const view = new DataView(nonce.buffer, nonce.byteOffset, 8);
  for (;;) {
    if (leadingZeroBits(stampHash(recipient, id, nonce)) >= bits) return nonce;
    // 64-bit little-endian increment from a random start.
    const lo = view.getUint32(0, true) + 1;
    view.setUint32(0, lo >>> 0, true);
    if (lo > 0xffffffff) view.setUint32(4, (view.getUint32(4, true) + 1) >>> 0, true);
  }
}
