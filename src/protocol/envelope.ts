/**
 * Envelopes: a message signed by its author inside the encryption, encrypted once under
 * a random content key, with one X25519 key-wrap stanza per recipient.
 *
 * - The author's signature covers SHA-256(header) as well as the message, so the set of
 *   recipients who can decrypt is bound to the signature: a recipient cannot re-wrap the
 *   message to somebody else and present it as sent to them.
 * - The header commits to the content key, so every recipient decrypts the same plaintext
 *   (Poly1305 is not key-committing on its own).
 * - One ephemeral key serves all stanzas; a stanza is found by a tag only its recipient can
 *   compute, so stores learn how many recipients a message has, never who the bcc are.
 * - The payload is cut into 64 KiB chunks with a counter and a final flag in the nonce
 *   (STREAM), so chunks cannot be reordered, dropped or truncated undetected.
 * - The message id is SHA-256 of the exact envelope bytes.
 */
import { KeypostError } from '../errors.js';
import { concat, constantTimeEqual, equal, u32be } from '../bytes/index.js';
import { crypto, type RandomSource } from '../crypto/index.js';
import { addressOf, EncryptionKey, checkEncryptionPublicKey } from '../identity/index.js';
import { decode, encode, LIMITS } from '../wire/index.js';
import { Envelope, EnvelopeHeader, MessageBody, SignedMessage, type MessageBody as Message } from '../wire/schema.js';
import { labelled, LABELS } from './labels.js';
import { checkSignature, resolveSigner, signBytes, type SignedBy, type VerifyContext } from './signed.js';
import { PURPOSE, type Signer } from './signer.js';

export const ENVELOPE_VERSION = 1;
const TAG = LIMITS.CHUNK + 16;
const ZERO_NONCE = new Uint8Array(24);
const utf8Label = (l: string) => new TextEncoder().encode(l);

export interface Recipient {
  address: Uint8Array;
  /** The recipient's current X25519 encryption key (from its verified *keys* assertion). */
  encryptionKey: Uint8Array;
}

/** The message as the author writes it; `author` is filled in from the signer. */
export type Draft = Omit<Message, 'author'>;

export const messageId = (envelope: Uint8Array): Uint8Array => crypto().sha256(envelope);

function stanzaSecrets(shared: Uint8Array, ephemeral: Uint8Array, recipientKey: Uint8Array) {
  const okm = crypto().hkdfSha256(shared, concat(ephemeral, recipientKey), utf8Label(LABELS.stanza), 48);
  return { tag: okm.subarray(0, 16), wrapKey: okm.subarray(16, 48) };
}

const commitmentOf = (contentKey: Uint8Array) => crypto().hkdfSha256(contentKey, new Uint8Array(0), utf8Label(LABELS.commitment), 32);
const payloadKeyOf = (contentKey: Uint8Array, headerHash: Uint8Array) =>
  crypto().hkdfSha256(contentKey, headerHash, utf8Label(LABELS.payload), 32);

function chunkNonce(i: number, last: boolean): Uint8Array {
  const n = new Uint8Array(24);
  n.set(u32be(i), 19);
  n[23] = last ? 1 : 0;
  return n;
}

export interface SealOptions {
  author: Signer;
  draft: Draft;
  /** Everyone who may decrypt: to, cc and bcc. */
  recipients: Recipient[];
  random: RandomSource;
}

export interface Sealed {
  envelope: Uint8Array;
  id: Uint8Array;
}

export function sealEnvelope(o: SealOptions): Sealed {
  const n = o.recipients.length;
  if (n < 1 || n > LIMITS.RECIPIENTS) throw new KeypostError('INVALID_ARGUMENT', `1..${LIMITS.RECIPIENTS} recipients`);
  const seen = new Set<string>();
  for (const r of o.recipients) {
    checkEncryptionPublicKey(r.encryptionKey);
    const k = Buffer.from(r.encryptionKey).toString('hex');
    if (seen.has(k)) throw new KeypostError('INVALID_ARGUMENT', 'the same recipient key twice');
    seen.add(k);
  }
  const contentKey = o.random(32);
  const eph = EncryptionKey.fromSecret(o.random(32));
  const stanzas = o.recipients.map((r) => {
    const { tag, wrapKey } = stanzaSecrets(eph.sharedSecret(r.encryptionKey), eph.publicKey, r.encryptionKey);
    // Each wrap key is used exactly once, so a fixed nonce is safe (as in age).
    return { tag: tag.slice(), wrapped: crypto().xchacha20poly1305Seal(wrapKey, ZERO_NONCE, contentKey) };
  });
  // Order by tag so position says nothing about who is who.
  stanzas.sort((a, b) => Buffer.compare(a.tag, b.tag));
  const header = encode(EnvelopeHeader, { version: ENVELOPE_VERSION, ephemeral: eph.publicKey, stanzas, commitment: commitmentOf(contentKey) });
  const headerHash = crypto().sha256(header);

  const body = encode(MessageBody, { ...o.draft, author: o.author.identity });
  const plaintext = signBytes(SignedMessage, LABELS.message, body, o.author, [headerHash]);

  const count = Math.max(1, Math.ceil(plaintext.length / LIMITS.CHUNK));
  if (plaintext.length + 16 * count > LIMITS.PAYLOAD) throw new KeypostError('WIRE_TOO_LARGE', `message of ${plaintext.length} bytes`);
  const key = payloadKeyOf(contentKey, headerHash);
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = plaintext.subarray(i * LIMITS.CHUNK, (i + 1) * LIMITS.CHUNK);
    chunks.push(crypto().xchacha20poly1305Seal(key, chunkNonce(i, i === count - 1), part));
  }
  const envelope = encode(Envelope, { header, payload: concat(...chunks) });
  return { envelope, id: messageId(envelope) };
}

export interface OpenOptions extends VerifyContext {
  /** The recipient's encryption key. */
  key: EncryptionKey;
  /** The id a notification named: the bytes must hash to it. */
  expectedId?: Uint8Array;
}

export interface OpenedMessage {
  id: Uint8Array;
  message: Message;
  /** Address of the author, derived from the verified author key. */
  author: Uint8Array;
  signedBy: SignedBy;
}

/** Decrypt and verify. Never returns partial or unauthenticated data. */
export function openEnvelope(bytes: Uint8Array, o: OpenOptions): OpenedMessage {
  if (bytes.length > Envelope.maxSize) throw new KeypostError('WIRE_TOO_LARGE', `envelope of ${bytes.length} bytes`);
  const id = messageId(bytes);
  if (o.expectedId && !equal(id, o.expectedId)) throw new KeypostError('CONTENT_HASH_MISMATCH', 'envelope does not hash to the notified id');
  const env = decode(Envelope, bytes);
  const header = decode(EnvelopeHeader, env.header);
  if (header.version !== ENVELOPE_VERSION) throw new KeypostError('WIRE_BAD_VERSION', `envelope version ${header.version}`);
  for (let i = 1; i < header.stanzas.length; i++) {
    if (Buffer.compare(header.stanzas[i - 1]!.tag, header.stanzas[i]!.tag) >= 0) throw new KeypostError('WIRE_NONCANONICAL', 'stanzas not in tag order');
  }

  const { tag, wrapKey } = stanzaSecrets(o.key.sharedSecret(header.ephemeral), header.ephemeral, o.key.publicKey);
  const stanza = header.stanzas.find((s) => constantTimeEqual(s.tag, tag));
  if (!stanza) throw new KeypostError('NOT_A_RECIPIENT', 'no stanza for this key');
  const contentKey = crypto().xchacha20poly1305Open(wrapKey, ZERO_NONCE, stanza.wrapped);
  if (!contentKey) throw new KeypostError('DECRYPT_FAILED', 'key stanza');
  if (!constantTimeEqual(commitmentOf(contentKey), header.commitment)) throw new KeypostError('DECRYPT_FAILED', 'content key commitment');

  const headerHash = crypto().sha256(env.header);
  const key = payloadKeyOf(contentKey, headerHash);
  const count = Math.ceil(env.payload.length / TAG);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const ct = env.payload.subarray(i * TAG, (i + 1) * TAG);
    const pt = crypto().xchacha20poly1305Open(key, chunkNonce(i, i === count - 1), ct);
    if (!pt || (pt.length === 0 && count > 1)) throw new KeypostError('DECRYPT_FAILED', `payload chunk ${i}`);
    parts.push(pt);
  }
  const signed = decode(SignedMessage, concat(...parts));
  const message = decode(MessageBody, signed.body);
  const signedBy = resolveSigner(signed, message.author, [PURPOSE.device], o);
  checkSignature(signed, LABELS.message, signedBy, [headerHash]);
  return { id, message, author: addressOf(message.author), signedBy };
}
