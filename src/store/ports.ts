/**
 * What the store needs from outside, injected by the server: where an address's
 * stores are (discovery), how to talk to other stores (HTTP), the clock and randomness.
 * Keeping these out of store/ keeps the layers (store → protocol, storage) and lets
 * tests drive the store with real or in-process peers.
 */
import type { RandomSource } from '../crypto/index.js';
import type { PolicyContent } from '../wire/schema.js';

export interface Directory {
  /** Verified store origins serving `address`, best first. DISCOVERY_FAILED if none. */
  storesOf(address: Uint8Array, hint: string): Promise<string[]>;
  /** The sender's current verified policy, if it publishes one (for proof of work). */
  policyOf?(address: Uint8Array): PolicyContent | undefined;
}

/** The answer of a peer store: a status and, for fetches, the body. */
export interface PeerReply {
  status: number;
  error?: string;
  retryAfter?: number;
  body?: Uint8Array;
}

/** Per-item answer of a batch: accepted/duplicate, or the refusal. */
export type BatchItemReply = { status: 'accepted' | 'duplicate' } | { error: string; message?: string; retryAfter?: number };

export interface Peers {
  notify(store: string, notification: Uint8Array): Promise<PeerReply>;
  /** Many notifications to one store in one request; `results` in order when status is 200. */
  notifyBatch?(store: string, notifications: Uint8Array[]): Promise<PeerReply & { results?: BatchItemReply[] }>;
  /** `maxBytes`: the notified size; a longer answer is not the message and is not read. */
  fetch(store: string, request: Uint8Array, maxBytes?: number): Promise<PeerReply>;
  receipt(store: string, receipt: Uint8Array): Promise<PeerReply>;
  retraction(store: string, retraction: Uint8Array): Promise<PeerReply>;
  /** Forward a SpamReport (signed notification, envelope if held) to the operator's address. */
  report?(url: string, notification: Uint8Array, envelope?: Uint8Array): Promise<PeerReply>;
}

export interface Clock {
  /** Unix seconds. */
  now(): number;
}

export interface StoreConfig {
  /** Public origin of this store: what its users' *stores* assertions name. */
  origin: string;
  skew: number;
  quotaBytes: number;
  inviteLifetime: number;
  /** First contact from a stranger is deferred this many seconds (0: off). */
  greylistSeconds: number;
  /**
   * Per minute: messages (distinct ids) from one sender, and, with the same number,
   * notifications from one sender to one user; notifications from one sending store.
   */
  perSenderPerMinute: number;
  perStorePerMinute: number;
  /** Outgoing limits per user. */
  notificationsPerHour: number;
  recipientsPerDay: number;
  /** Retransmission: first retry after `retryBase` seconds, doubling up to `retryMax`. */
  retryBase: number;
  retryMax: number;
  /** After a notification is accepted, resend it this long after if not confirmed. */
  confirmWait: number;
  reportUrl?: string;
}

export const DEFAULT_CONFIG: Omit<StoreConfig, 'origin'> = {
  skew: 300,
  quotaBytes: 1024 * 1024 * 1024,
  inviteLifetime: 7 * 86400,
  greylistSeconds: 300,
  perSenderPerMinute: 600,
  perStorePerMinute: 60_000,
  notificationsPerHour: 20_000,
  recipientsPerDay: 20_000,
  retryBase: 30,
  retryMax: 3600,
  confirmWait: 3600,
};

export interface StoreDeps {
  config: StoreConfig;
  directory: Directory;
  peers: Peers;
  clock: Clock;
  random: RandomSource;
  /** Where failures are reported (never secrets, never bodies). */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/** Exponential backoff in seconds for the given number of failed attempts. */
export const backoff = (attempts: number, base: number, max: number): number => Math.min(max, base * 2 ** Math.min(attempts, 20));
