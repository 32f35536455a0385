/**
 * What the store needs from a database. Domain operations, not SQL, so that SQLite
 * (embedded default) and later PostgreSQL implement the same interface and one
 * conformance suite runs against both. Every write resolves only once committed
 * durably: a success reply built on it is a promise kept.
 */

export type Bytes = Uint8Array;

export interface UserRow {
  address: Bytes;
  identity: Bytes;
  created: number;
  quotaBytes: number;
  usedBytes: number;
  /** Seed of the store-delegate key the store signs fetches and receipts with. */
  delegateSeed: Bytes;
  /** The user's certificate for that key; absent until the user uploads it. */
  delegateCert?: Bytes;
  prefetch: boolean;
}

export interface DeviceRow {
  key: Bytes;
  user: Bytes;
  cert?: Bytes;
  added: number;
}

export type OutboxStatus = 'pending' | 'notified' | 'fetched' | 'confirmed' | 'expired' | 'retracted';

export interface OutboxRow {
  id: Bytes;
  recipient: Bytes;
  notification: Bytes;
  status: OutboxStatus;
  attempts: number;
  nextAttempt: number;
  expires: number;
  lastError?: string;
  notifiedAt?: number;
  fetchedAt?: number;
  confirmedAt?: number;
  retraction?: Bytes;
  /** The recipient's store, once resolved. */
  storeUrl?: string;
}

export interface MessageRow {
  id: Bytes;
  sender: Bytes;
  size: number;
  created: number;
  retracted: boolean;
}

export type InboxState = 'notified' | 'fetched' | 'retracted' | 'deleted';

/** What an accepted notification brings into the inbox. */
export interface NewInboxItem {
  user: Bytes;
  id: Bytes;
  /** The notification's own signed time: with `hash`, its replay key (see addInbox). */
  time: number;
  /** Replay key of the notification (SHA-256 of its signed body). */
  hash: Bytes;
  notification: Bytes;
  sender: Bytes;
  senderStore: string;
  size: number;
  received: number;
}

/** An inbox item as stored, with the state the store keeps about it. */
export interface InboxRow extends NewInboxItem {
  state: InboxState;
  /** The item's number in this store, never reused: the `since` cursor and the handle of the user API. */
  seq: number;
  attempts: number;
  nextAttempt: number;
  lastError?: string;
  receiptSent: boolean;
}

export interface NewMessage {
  id: Bytes;
  sender: Bytes;
  envelope: Bytes;
  created: number;
  /** `storeHint`: where the client found the recipient; the outbox follows the verified *stores* assertion. */
  recipients: { address: Bytes; notification: Bytes; expires: number; storeHint: string }[];
}

export interface Storage {
  // users, devices, invites
  createInvite(tokenHash: Bytes, expires: number): Promise<void>;
  /** Atomically spends the invite and creates the user with its first device. INVITE_INVALID otherwise. */
  redeemInvite(tokenHash: Bytes, now: number, user: UserRow, device: DeviceRow): Promise<void>;
  getUser(address: Bytes): UserRow | undefined;
  getDevice(key: Bytes): DeviceRow | undefined;
  addDevice(device: DeviceRow): Promise<void>;
  /** Remove one of the user's devices for good, keeping the identity-signed revocation. Not the last one. */
  revokeDevice(user: Bytes, key: Bytes, revocation: Bytes, now: number): Promise<void>;
  isRevokedKey(key: Bytes): boolean;
  setDelegateCert(user: Bytes, cert: Bytes): Promise<void>;
  setPrefetch(user: Bytes, on: boolean): Promise<void>;

  // published assertions (served at the well-known path)
  /** Keeps the higher sequence number per (address, type); returns false if `seq` is lower than stored. */
  putAssertion(address: Bytes, type: number, seq: number, bytes: Bytes, notAfter: number, nameHash?: string): Promise<boolean>;
  getAssertions(address: Bytes, now: number): Bytes[];
  getAssertionsByName(nameHash: string, now: number): Bytes[];

  // sender side: the archive is the outbox
  /** Stores the envelope once and one outbox row per recipient. QUOTA_EXCEEDED if over quota; idempotent per id. */
  putMessage(m: NewMessage): Promise<'stored' | 'duplicate'>;
  getMessage(id: Bytes): MessageRow | undefined;
  getEnvelope(id: Bytes): Bytes | undefined;
  getOutbox(id: Bytes, recipient: Bytes): OutboxRow | undefined;
  listOutbox(id: Bytes): OutboxRow[];
  /** Rows due for (re)transmission, leased until `leaseUntil` so no other worker takes them. */
  claimDueNotifications(now: number, leaseUntil: number, limit: number): Promise<OutboxRow[]>;
  recordNotifyAttempt(id: Bytes, recipient: Bytes, r: { ok: boolean; now: number; nextAttempt: number; error?: string; storeUrl?: string }): Promise<void>;
  markFetched(id: Bytes, recipient: Bytes, now: number): Promise<void>;
  markConfirmed(id: Bytes, recipient: Bytes, now: number): Promise<void>;
  /** Withdraws the message for every recipient that has not fetched it; returns those recipients. */
  retract(id: Bytes, now: number, retractionFor: (recipient: Bytes) => Bytes | undefined): Promise<Bytes[]>;
  expireOutbox(now: number): Promise<number>;

  // recipient side. Items are addressed by seq (like IMAP UIDs): keying them by message id
  // would put a random-key index on the intake path, one random page write per notification.
  /**
   * Durable insert; 'duplicate' if this exact notification is already held (same signed time
   * and hash: a retransmission). The replay key leads with the time, so fresh notifications
   * land at the end of its index instead of on random pages.
   */
  addInbox(item: NewInboxItem): Promise<'new' | 'duplicate'>;
  /** Many at once, in one commit: used by the batch endpoint. */
  addInboxMany(items: NewInboxItem[]): Promise<('new' | 'duplicate')[]>;
  getInbox(user: Bytes, seq: number): InboxRow | undefined;
  /** Whether this exact notification (by replay key) is already held: the cheap duplicate check. */
  hasNotification(time: number, hash: Bytes): boolean;
  getInboxEnvelope(user: Bytes, seq: number): Bytes | undefined;
  listInbox(user: Bytes, since: number, limit: number): InboxRow[];
  /** Items to prefetch (users with prefetch on) and fetched items whose receipt is not yet delivered. */
  claimDuePrefetches(now: number, leaseUntil: number, limit: number): Promise<InboxRow[]>;
  storeFetched(seq: number, envelope: Bytes): Promise<void>;
  recordPrefetchAttempt(seq: number, r: { now: number; nextAttempt: number; error: string }): Promise<void>;
  markReceiptSent(seq: number): Promise<void>;
  /** The sender withdrew message `id` from `recipient`: unfetched items become 'retracted'. */
  retractInbox(sender: Bytes, id: Bytes, recipient: Bytes): Promise<boolean>;
  deleteInbox(user: Bytes, seq: number): Promise<boolean>;

  // recipient policy
  addBlock(user: Bytes, b: { sender?: Bytes; store?: string }): Promise<void>;
  removeBlock(user: Bytes, b: { sender?: Bytes; store?: string }): Promise<void>;
  isBlocked(user: Bytes, sender: Bytes, store: string): boolean;
  addContact(user: Bytes, contact: Bytes): Promise<void>;
  isContact(user: Bytes, contact: Bytes): boolean;
  /** First time this sender was seen by this user (greylisting), recording now if never. */
  firstSeen(user: Bytes, sender: Bytes, now: number): Promise<number>;

  // replay protection that survives a restart
  /** Whether a state-changing request with this hash was accepted and its window (`until`) is still open. */
  hasNonce(hash: Bytes, now: number): boolean;
  /** Record an accepted request; queued before the request's own writes, so committed no later. */
  addNonce(hash: Bytes, until: number, now: number): Promise<void>;
  /** The highest sequence number seen for an address's assertion type (rollback refusal, spec §7.3). */
  getSeenSeq(address: Bytes, type: string): number | undefined;
  setSeenSeq(address: Bytes, type: string, seq: number): Promise<void>;

  close(): Promise<void>;
}
