/**
 * Every keypost structure: its integer keys, types and size limits. This file and
 * codec.ts are the whole binary format; docs/spec.md describes the same tables.
 * Changing a key or a limit here changes the protocol: regenerate vectors/.
 */
import { bytes, list, struct, text, uint, type Decoded } from './codec.js';

export const LIMITS = {
  /** A notification, signature and certificate included, fits in this many bytes. */
  NOTIFICATION: 1024,
  /** Recipients per message (to + cc + bcc stanzas). */
  RECIPIENTS: 10_000,
  /** Plaintext chunk of the envelope payload (the last may be shorter). */
  CHUNK: 65_536,
  /** Whole encrypted payload. */
  PAYLOAD: 64 * 1024 * 1024,
  PARENTS: 64,
  ATTACHMENTS: 256,
  SUBJECT: 998,
  STORE_URL: 200,
  STORES: 8,
  SUBKEYS: 32,
  NAME: 254,
  SUBJECT_HINT: 120,
  CERT: 256,
  ASSERTION: 4096,
  /** Notifications in one batch request. */
  BATCH: 1000,
} as const;

/** The largest plaintext a payload of LIMITS.PAYLOAD bytes carries (16 bytes of tag per chunk). */
const MAX_PLAINTEXT = LIMITS.PAYLOAD - 16 * (LIMITS.PAYLOAD / LIMITS.CHUNK);

const typedKey = () => bytes(33);
const address = () => bytes(32);
const hash = () => bytes(32);
const time = () => uint(0xffff_ffff);

/** Anything signed: the body is itself canonical msgpack, kept as the exact bytes signed. */
const signed = (name: string, maxBody: number, maxTotal: number) =>
  struct(name, maxTotal, {
    body: [1, bytes(1, maxBody)],
    sig: [2, bytes(64)],
    /** A subkey certificate when a certified device key signed instead of the identity key. */
    cert: [3, bytes(1, LIMITS.CERT), 'optional'],
  });

// ---- identity -----------------------------------------------------------------------

export const SubkeyCertBody = struct('SubkeyCertBody', 160, {
  identity: [1, typedKey()],
  purpose: [2, uint(255, 1)],
  subkey: [3, bytes(32)],
  notBefore: [4, time()],
  notAfter: [5, time()],
});
export const SubkeyCert = signed('SubkeyCert', 160, LIMITS.CERT);

export const RevocationBody = struct('RevocationBody', 128, {
  identity: [1, typedKey()],
  revoked: [2, bytes(32)],
  time: [3, time()],
  reason: [4, uint(255)],
});
export const Revocation = signed('Revocation', 128, 256);

export const KeyFile = struct('KeyFile', 256, {
  version: [1, uint(255)],
  /** 1: Ed25519 seed, 2: X25519 secret key. */
  keyType: [2, uint(255, 1)],
  /** 1: plain, 2: scrypt + XChaCha20-Poly1305. */
  protection: [3, uint(255, 1)],
  publicKey: [4, bytes(32)],
  secret: [5, bytes(32, 48)],
  salt: [6, bytes(16), 'optional'],
  /** Capped at 20 (1 GiB of scrypt memory): a crafted file must not exhaust memory. */
  logN: [7, uint(20, 10), 'optional'],
  nonce: [8, bytes(24), 'optional'],
});

// ---- assertions ---------------------------------------------------------------------

export const AssertionBody = struct('AssertionBody', LIMITS.ASSERTION - 100, {
  subject: [1, typedKey()],
  type: [2, uint(255, 1)],
  seq: [3, uint(0xffff_ffff)],
  notBefore: [4, time()],
  notAfter: [5, time()],
  /** The type's own structure, canonical msgpack. */
  content: [6, bytes(1, LIMITS.ASSERTION - 200)],
});
export const Assertion = signed('Assertion', LIMITS.ASSERTION - 100, LIMITS.ASSERTION);

/** What the HTTPS well-known path serves: the current assertions about one address or name. */
export const AssertionBundle = struct('AssertionBundle', 8 * (LIMITS.ASSERTION + 3) + 8, {
  assertions: [1, list(bytes(1, LIMITS.ASSERTION), 8)],
});

export const StoreEntry = struct('StoreEntry', 256, { priority: [1, uint(0xffff)], url: [2, text(LIMITS.STORE_URL, 8)] });
export const StoresContent = struct('StoresContent', 2048, { stores: [1, list(StoreEntry, LIMITS.STORES, 1)] });

export const SubkeyEntry = struct('SubkeyEntry', 64, { purpose: [1, uint(255, 1)], key: [2, bytes(32)], notAfter: [3, time()] });
export const KeysContent = struct('KeysContent', 2048, { keys: [1, list(SubkeyEntry, LIMITS.SUBKEYS, 1)] });

export const NameContent = struct('NameContent', 300, { name: [1, text(LIMITS.NAME, 3)] });

export const PolicyContent = struct('PolicyContent', 64, {
  /** Leading zero bits demanded of strangers for a message of one size unit. */
  powBits: [1, uint(32)],
  /** Bytes per size unit: each doubling of units adds one bit. */
  powUnit: [2, uint(0xffff_ffff, 1024)],
  /** Largest envelope accepted, in bytes. */
  maxSize: [3, uint(LIMITS.PAYLOAD + 1024 * 1024, 1024)],
});

// ---- messages -----------------------------------------------------------------------

export const Stanza = struct('Stanza', 80, { tag: [1, bytes(16)], wrapped: [2, bytes(48)] });
export const EnvelopeHeader = struct('EnvelopeHeader', 80 * LIMITS.RECIPIENTS + 128, {
  version: [1, uint(255)],
  /** One ephemeral X25519 key for all stanzas; each stanza's secret differs by recipient key. */
  ephemeral: [2, bytes(32)],
  stanzas: [3, list(Stanza, LIMITS.RECIPIENTS, 1)],
  /** Commitment to the content key: every recipient who can open it sees the same plaintext. */
  commitment: [4, bytes(32)],
});
export const Envelope = struct('Envelope', 80 * LIMITS.RECIPIENTS + LIMITS.PAYLOAD + 256, {
  header: [1, bytes(1, 80 * LIMITS.RECIPIENTS + 128)],
  payload: [2, bytes(16, LIMITS.PAYLOAD)],
});

export const Attachment = struct('Attachment', LIMITS.PAYLOAD, {
  name: [1, text(255, 1)],
  type: [2, text(127, 1)],
  data: [3, bytes(0, LIMITS.PAYLOAD)],
});
export const MessageBody = struct('MessageBody', MAX_PLAINTEXT - 512, {
  author: [1, typedKey()],
  to: [2, list(address(), LIMITS.RECIPIENTS)],
  cc: [3, list(address(), LIMITS.RECIPIENTS)],
  subject: [4, text(LIMITS.SUBJECT)],
  date: [5, time()],
  parents: [6, list(hash(), LIMITS.PARENTS)],
  body: [7, text(LIMITS.PAYLOAD)],
  attachments: [8, list(Attachment, LIMITS.ATTACHMENTS)],
});
/** The envelope's plaintext: the author's signed message. */
export const SignedMessage = signed('SignedMessage', MAX_PLAINTEXT - 512, MAX_PLAINTEXT);

// ---- notifications and the objects around a delivery ----------------------------------

export const SealedHint = struct('SealedHint', 160, { subject: [1, text(LIMITS.SUBJECT_HINT), 'optional'] });
export const Sealed = struct('Sealed', 240, { ephemeral: [1, bytes(32)], box: [2, bytes(16, 180)] });

export const NotificationBody = struct('NotificationBody', 700, {
  recipient: [1, address()],
  sender: [2, typedKey()],
  store: [3, text(LIMITS.STORE_URL, 8)],
  id: [4, hash()],
  size: [5, uint(LIMITS.PAYLOAD + 1024 * 1024)],
  time: [6, time()],
  expires: [7, time()],
  pow: [8, bytes(8), 'optional'],
  sealed: [9, Sealed, 'optional'],
});
export const Notification = signed('Notification', 700, LIMITS.NOTIFICATION);

export const ReceiptBody = struct('ReceiptBody', 128, { recipient: [1, typedKey()], id: [2, hash()], time: [3, time()] });
export const Receipt = signed('Receipt', 128, 512);

export const RetractionBody = struct('RetractionBody', 160, {
  sender: [1, typedKey()],
  id: [2, hash()],
  recipient: [3, address()],
  time: [4, time()],
});
export const Retraction = signed('Retraction', 160, 512);

export const FetchRequestBody = struct('FetchRequestBody', 400, {
  requester: [1, typedKey()],
  id: [2, hash()],
  store: [3, text(LIMITS.STORE_URL, 8)],
  time: [4, time()],
  nonce: [5, bytes(16)],
});
export const FetchRequest = signed('FetchRequest', 400, 800);

// ---- a user's requests to its own store ------------------------------------------------

export const RequestAuthBody = struct('RequestAuthBody', 1400, {
  identity: [1, typedKey()],
  method: [2, text(7, 3)],
  /** Path and query exactly as sent. */
  path: [3, text(1024, 1)],
  /** SHA-256 of the exact request body (of zero bytes when there is none). */
  bodyHash: [4, hash()],
  /** Origin of the store the request is for, so it cannot be replayed at another. */
  store: [5, text(LIMITS.STORE_URL, 8)],
  time: [6, time()],
  nonce: [7, bytes(16)],
});
export const RequestAuth = signed('RequestAuth', 1400, 1800);

// ---- bodies of the store's HTTP API (docs/api.md) ---------------------------------------

export const NotificationBatch = struct('NotificationBatch', LIMITS.BATCH * (LIMITS.NOTIFICATION + 3) + 8, {
  notifications: [1, list(bytes(1, LIMITS.NOTIFICATION), LIMITS.BATCH, 1)],
});

export const UploadRoute = struct('UploadRoute', LIMITS.NOTIFICATION + LIMITS.STORE_URL + 16, {
  notification: [1, bytes(1, LIMITS.NOTIFICATION)],
  /** Where the client found the recipient: a hint; the store follows the recipient's verified *stores* assertion. */
  store: [2, text(LIMITS.STORE_URL, 8)],
});
export const Upload = struct('Upload', Envelope.maxSize + LIMITS.RECIPIENTS * (UploadRoute.maxSize + 3) + 16, {
  envelope: [1, bytes(1, Envelope.maxSize)],
  routes: [2, list(UploadRoute, LIMITS.RECIPIENTS, 1)],
});

export const RetractionList = struct('RetractionList', LIMITS.RECIPIENTS * 515 + 8, {
  retractions: [1, list(bytes(1, 512), LIMITS.RECIPIENTS)],
});

/** What "report spam" forwards: the signed notification and, if held, the envelope it names. */
export const SpamReport = struct('SpamReport', LIMITS.NOTIFICATION + Envelope.maxSize + 16, {
  notification: [1, bytes(1, LIMITS.NOTIFICATION)],
  envelope: [2, bytes(1, Envelope.maxSize), 'optional'],
});

export type Signed = Decoded<typeof Assertion>;
export type SubkeyCertBody = Decoded<typeof SubkeyCertBody>;
export type RevocationBody = Decoded<typeof RevocationBody>;
export type KeyFile = Decoded<typeof KeyFile>;
export type AssertionBody = Decoded<typeof AssertionBody>;
export type StoresContent = Decoded<typeof StoresContent>;
export type KeysContent = Decoded<typeof KeysContent>;
export type NameContent = Decoded<typeof NameContent>;
export type PolicyContent = Decoded<typeof PolicyContent>;
export type EnvelopeHeader = Decoded<typeof EnvelopeHeader>;
export type Envelope = Decoded<typeof Envelope>;
export type MessageBody = Decoded<typeof MessageBody>;
export type Attachment = Decoded<typeof Attachment>;
export type NotificationBody = Decoded<typeof NotificationBody>;
export type SealedHint = Decoded<typeof SealedHint>;
export type ReceiptBody = Decoded<typeof ReceiptBody>;
export type RetractionBody = Decoded<typeof RetractionBody>;
export type FetchRequestBody = Decoded<typeof FetchRequestBody>;
export type RequestAuthBody = Decoded<typeof RequestAuthBody>;
