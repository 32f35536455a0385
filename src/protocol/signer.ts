/**
 * Who signs. An identity signs with its own key; a device or the user's store signs
 * with a subkey and attaches the identity's certificate for it.
 */
import type { SigningKey } from '../identity/index.js';

export const PURPOSE = {
  /** A device of the user: may sign messages, notifications, retractions, receipts, fetches. */
  device: 1,
  /** An X25519 encryption key: never signs. */
  encryption: 2,
  /** The user's own store: may sign only fetch requests and receipts (prefetch on arrival). */
  storeDelegate: 3,
} as const;
export type Purpose = (typeof PURPOSE)[keyof typeof PURPOSE];

export interface Signer {
  /** The typed key of the identity on whose behalf this signs. */
  readonly identity: Uint8Array;
  readonly key: SigningKey;
  /** SubkeyCert bytes, when `key` is a certified subkey rather than the identity key. */
  readonly cert?: Uint8Array;
}

/** The identity signing for itself. */
export const identitySigner = (key: SigningKey): Signer => ({ identity: key.typedKey, key });
