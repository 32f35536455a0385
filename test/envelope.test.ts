/** Envelopes: sealing, opening, chunking and every way of tampering with them. */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { crypto, seededRandom } from '../src/crypto/index.js';
import { EncryptionKey } from '../src/identity/index.js';
import { LABELS, openEnvelope, sealEnvelope, type Draft, type Recipient, type Signer } from '../src/protocol/index.js';
import { decode, encode, LIMITS } from '../src/wire/index.js';
import { Envelope, EnvelopeHeader, MessageBody, SignedMessage } from '../src/wire/schema.js';
import { concat, equal, toHex, u32be, utf8 } from '../src/bytes/index.js';
import { codeOf, makeUser, NOW, type User } from './helpers.js';

const rnd = seededRandom('envelope-test');
const alice = makeUser('alice');
const bob = makeUser('bob');
const carol = makeUser('carol');
const dave = makeUser('dave');
const CHUNK = LIMITS.CHUNK;
const SEALED_CHUNK = CHUNK + 16;

const rcpt = (u: User): Recipient => ({ address: u.address, encryptionKey: u.enc.publicKey });
const draftOf = (o: Partial<Draft> = {}): Draft => ({ to: [bob.address], cc: [], subject: 'subject', date: NOW, parents: [], body: 'body', attachments: [], ...o });
const seal = (o: { author?: Signer; draft?: Partial<Draft>; to?: User[] } = {}) =>
  sealEnvelope({ author: o.author ?? alice.signer, draft: draftOf(o.draft), recipients: (o.to ?? [bob]).map(rcpt), random: rnd });

const withEnvelope = (env: Uint8Array, f: (e: { header: Uint8Array; payload: Uint8Array }) => void) => {
  const e = decode(Envelope, env);
  f(e);
  return encode(Envelope, e);
};
const withHeader = (env: Uint8Array, f: (h: EnvelopeHeader) => void) =>
  withEnvelope(env, (e) => {
    const h = decode(EnvelopeHeader, e.header);
    f(h);
    e.header = encode(EnvelopeHeader, h);
  });
const flipAt = (b: Uint8Array, i: number) => {
  const c = b.slice();
  c[i]! ^= 0x01;
  return c;
};

// ---- an independent implementation of the envelope crypto, from the exported pieces ----

const ZERO24 = new Uint8Array(24);
function stanzaSecrets(shared: Uint8Array, eph: Uint8Array, rcptKey: Uint8Array) {
  const okm = crypto().hkdfSha256(shared, concat(eph, rcptKey), utf8(LABELS.stanza), 48);
  return { tag: okm.slice(0, 16), wrapKey: okm.slice(16, 48) };
}
const payloadKey = (ck: Uint8Array, headerBytes: Uint8Array) => crypto().hkdfSha256(ck, crypto().sha256(headerBytes), utf8(LABELS.payload), 32);
function chunkNonce(i: number, last: boolean) {
  const n = new Uint8Array(24);
  n.set(u32be(i), 19);
  n[23] = last ? 1 : 0;
  return n;
}
/** What a recipient can learn: the content key. */
function contentKeyFor(env: Uint8Array, key: EncryptionKey): Uint8Array {
  const h = decode(EnvelopeHeader, decode(Envelope, env).header);
  const { tag, wrapKey } = stanzaSecrets(key.sharedSecret(h.ephemeral), h.ephemeral, key.publicKey);
  const s = h.stanzas.find((x) => equal(x.tag, tag))!;
  return crypto().xchacha20poly1305Open(wrapKey, ZERO24, s.wrapped)!;
}
function decryptPayload(ck: Uint8Array, header: Uint8Array, payload: Uint8Array): Uint8Array {
  const k = payloadKey(ck, header);
  const n = Math.ceil(payload.length / SEALED_CHUNK);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) parts.push(crypto().xchacha20poly1305Open(k, chunkNonce(i, i === n - 1), payload.subarray(i * SEALED_CHUNK, (i + 1) * SEALED_CHUNK))!);
  return concat(...parts);
}
function encryptPayload(ck: Uint8Array, header: Uint8Array, pt: Uint8Array): Uint8Array {
  const k = payloadKey(ck, header);
  const n = Math.max(1, Math.ceil(pt.length / CHUNK));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) parts.push(crypto().xchacha20poly1305Seal(k, chunkNonce(i, i === n - 1), pt.subarray(i * CHUNK, (i + 1) * CHUNK)));
  return concat(...parts);
}
function plaintextOf(env: Uint8Array, key: EncryptionKey): Uint8Array {
  const e = decode(Envelope, env);
  return decryptPayload(contentKeyFor(env, key), e.header, e.payload);
}

// ---- tests --------------------------------------------------------------------------

describe('sealing and opening', () => {
  test('ten recipients all open the same message; an outsider cannot', () => {
    const users = Array.from({ length: 10 }, (_, i) => makeUser(`r${i}`));
    const draft = draftOf({ to: users.slice(0, 6).map((u) => u.address), cc: users.slice(6).map((u) => u.address), body: 'to ten' });
    const { envelope, id } = sealEnvelope({ author: alice.device, draft, recipients: users.map(rcpt), random: rnd });
    const h = decode(EnvelopeHeader, decode(Envelope, envelope).header);
    expect(h.stanzas.length).toBe(10);
    for (let i = 1; i < 10; i++) expect(Buffer.compare(h.stanzas[i - 1]!.tag, h.stanzas[i]!.tag)).toBe(-1);
    for (const u of users) {
      const m = openEnvelope(envelope, { key: u.enc, now: NOW, expectedId: id });
      expect(m.message).toEqual({ ...draft, author: alice.identity.typedKey });
      expect(equal(m.author, alice.address)).toBe(true);
      expect(equal(m.id, id)).toBe(true);
    }
    expect(codeOf(() => openEnvelope(envelope, { key: dave.enc, now: NOW }))).toBe('NOT_A_RECIPIENT');
  });

  test('the message id is SHA-256 of the exact envelope bytes', () => {
    const { envelope, id } = seal();
    expect(toHex(id)).toBe(createHash('sha256').update(envelope).digest('hex'));
    const other = seal();
    expect(codeOf(() => openEnvelope(other.envelope, { key: bob.enc, now: NOW, expectedId: id }))).toBe('CONTENT_HASH_MISMATCH');
  });

  test('a large message (300 KiB body and two attachments) spans several chunks and round-trips', () => {
    const big = 'x'.repeat(300 * 1024);
    const a1 = rnd(100_000);
    const a2 = rnd(50_000);
    const attachments = [
      { name: 'a.bin', type: 'application/octet-stream', data: a1 },
      { name: 'photo.jpg', type: 'image/jpeg', data: a2 },
    ];
    const { envelope, id } = seal({ draft: { body: big, attachments } });
    const payload = decode(Envelope, envelope).payload;
    const chunks = Math.ceil(payload.length / SEALED_CHUNK);
    expect(chunks).toBe(7); // 307,200 + 150,000 bytes and overhead: 458,752 = 7 × 64 KiB is just above
    const ptLen = payload.length - 16 * chunks;
    expect(Math.ceil(ptLen / CHUNK)).toBe(chunks);
    expect(ptLen).toBe(plaintextOf(envelope, bob.enc).length);
    const m = openEnvelope(envelope, { key: bob.enc, now: NOW, expectedId: id });
    expect(m.message.body).toBe(big);
    expect(m.message.attachments.map((a) => a.name)).toEqual(['a.bin', 'photo.jpg']);
    expect(equal(m.message.attachments[0]!.data, a1)).toBe(true);
    expect(equal(m.message.attachments[1]!.data, a2)).toBe(true);
  });

  test('several parents are preserved in order; more than 64 are refused', () => {
    const parents = [rnd(32), rnd(32), rnd(32)];
    const { envelope } = seal({ draft: { parents } });
    const m = openEnvelope(envelope, { key: bob.enc, now: NOW });
    expect(m.message.parents.map(toHex)).toEqual(parents.map(toHex));
    const many = Array.from({ length: 64 }, () => rnd(32));
    expect(openEnvelope(seal({ draft: { parents: many } }).envelope, { key: bob.enc, now: NOW }).message.parents.length).toBe(64);
    expect(codeOf(() => seal({ draft: { parents: [...many, rnd(32)] } }))).toBe('WIRE_TOO_LARGE');
  });

  test('a bcc recipient (a stanza, but not in to or cc) opens it, and is not named inside', () => {
    const draft = { to: [bob.address], cc: [carol.address] };
    const { envelope } = seal({ draft, to: [bob, carol, dave] });
    expect(decode(EnvelopeHeader, decode(Envelope, envelope).header).stanzas.length).toBe(3);
    for (const u of [bob, carol, dave]) {
      const m = openEnvelope(envelope, { key: u.enc, now: NOW });
      expect(m.message.to.map(toHex)).toEqual([toHex(bob.address)]);
      expect(m.message.cc.map(toHex)).toEqual([toHex(carol.address)]);
    }
    // Nowhere in the envelope bytes do dave's address or key appear.
    const hex = toHex(envelope);
    expect(hex.includes(toHex(dave.address))).toBe(false);
    expect(hex.includes(toHex(dave.enc.publicKey))).toBe(false);
  });

  test('identity-signed and device-signed messages', () => {
    const byId = openEnvelope(seal({ author: alice.signer }).envelope, { key: bob.enc, now: NOW });
    expect(byId.signedBy.purpose).toBeUndefined();
    expect(toHex(byId.signedBy.signingKey)).toBe(toHex(alice.identity.publicKey));
    expect(equal(byId.author, alice.address)).toBe(true);
    const byDev = openEnvelope(seal({ author: alice.device }).envelope, { key: bob.enc, now: NOW });
    expect(byDev.signedBy.purpose).toBe(1);
    expect(toHex(byDev.signedBy.signingKey)).toBe(toHex(alice.device.key.publicKey));
    expect(toHex(byDev.signedBy.identityKey)).toBe(toHex(alice.identity.publicKey));
    expect(equal(byDev.author, alice.address)).toBe(true);
  });

  test('a store-delegate-signed message is refused (CERT_PURPOSE)', () => {
    expect(codeOf(() => openEnvelope(seal({ author: alice.delegate }).envelope, { key: bob.enc, now: NOW }))).toBe('CERT_PURPOSE');
  });

  test('claiming another author: BAD_SIGNATURE (with or without a certificate)', () => {
    const forger: Signer = { identity: bob.identity.typedKey, key: alice.identity };
    expect(codeOf(() => openEnvelope(seal({ author: forger, to: [carol] }).envelope, { key: carol.enc, now: NOW }))).toBe('BAD_SIGNATURE');
    const forger2: Signer = { identity: bob.identity.typedKey, key: alice.device.key, cert: alice.device.cert! };
    expect(codeOf(() => openEnvelope(seal({ author: forger2, to: [carol] }).envelope, { key: carol.enc, now: NOW }))).toBe('CERT_INVALID');
  });

  test('recipient list errors', () => {
    expect(codeOf(() => sealEnvelope({ author: alice.signer, draft: draftOf(), recipients: [rcpt(bob), rcpt(bob)], random: rnd }))).toBe('INVALID_ARGUMENT');
    // Same key under two addresses is still a duplicate.
    expect(codeOf(() => sealEnvelope({ author: alice.signer, draft: draftOf(), recipients: [rcpt(bob), { address: carol.address, encryptionKey: bob.enc.publicKey }], random: rnd }))).toBe(
      'INVALID_ARGUMENT',
    );
    expect(codeOf(() => sealEnvelope({ author: alice.signer, draft: draftOf(), recipients: [], random: rnd }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => sealEnvelope({ author: alice.signer, draft: draftOf(), recipients: [{ address: bob.address, encryptionKey: new Uint8Array(32) }], random: rnd }))).toBe('KEY_SMALL_ORDER');
  });
});

describe('chunk boundaries', () => {
  /** Plaintext length of a message from alice.signer with a body of n 'a's. */
  const ptLen = (n: number) => {
    const body = encode(MessageBody, { ...draftOf({ body: 'a'.repeat(n) }), author: alice.identity.typedKey });
    return encode(SignedMessage, { body, sig: new Uint8Array(64) }).length;
  };
  const bodyFor = (target: number) => {
    let n = target - (ptLen(0) + 10);
    while (ptLen(n) < target) n++;
    expect(ptLen(n)).toBe(target);
    return n;
  };

  for (const k of [1, 2, 3]) {
    test(`plaintext of exactly ${k} × 64 KiB: ${k} full chunks, no empty tail`, () => {
      const n = bodyFor(k * CHUNK);
      const { envelope } = seal({ draft: { body: 'a'.repeat(n) } });
      const payload = decode(Envelope, envelope).payload;
      expect(payload.length).toBe(k * SEALED_CHUNK);
      expect(plaintextOf(envelope, bob.enc).length).toBe(k * CHUNK);
      expect(openEnvelope(envelope, { key: bob.enc, now: NOW }).message.body.length).toBe(n);
      // One byte more: a last chunk of one byte.
      const { envelope: e2 } = seal({ draft: { body: 'a'.repeat(n + 1) } });
      expect(decode(Envelope, e2).payload.length).toBe(k * SEALED_CHUNK + 17);
      expect(openEnvelope(e2, { key: bob.enc, now: NOW }).message.body.length).toBe(n + 1);
      if (k > 1) {
        // Dropping the last full chunk leaves a valid-looking but unfinished stream.
        const dropped = withEnvelope(envelope, (e) => (e.payload = e.payload.subarray(0, (k - 1) * SEALED_CHUNK)));
        expect(codeOf(() => openEnvelope(dropped, { key: bob.enc, now: NOW }))).toBe('DECRYPT_FAILED');
      }
    });
  }
});

describe('tampering with the payload: DECRYPT_FAILED', () => {
  const { envelope } = seal({ draft: { body: 'z'.repeat(200_000) } }); // 4 chunks
  const payload = decode(Envelope, envelope).payload;
  const chunks = Math.ceil(payload.length / SEALED_CHUNK);
  const chunk = (i: number) => payload.subarray(i * SEALED_CHUNK, (i + 1) * SEALED_CHUNK);
  const open = (p: Uint8Array) => codeOf(() => openEnvelope(withEnvelope(envelope, (e) => (e.payload = p)), { key: bob.enc, now: NOW }));

  test('the untouched envelope opens', () => {
    expect(chunks).toBe(4);
    expect(open(payload)).toBe('ok');
  });
  test('dropping the last chunk', () => {
    expect(open(payload.subarray(0, (chunks - 1) * SEALED_CHUNK))).toBe('DECRYPT_FAILED');
  });
  test('dropping a middle chunk', () => {
    expect(open(concat(chunk(0), chunk(2), chunk(3)))).toBe('DECRYPT_FAILED');
  });
  test('swapping two chunks', () => {
    expect(open(concat(chunk(1), chunk(0), chunk(2), chunk(3)))).toBe('DECRYPT_FAILED');
    expect(open(concat(chunk(0), chunk(2), chunk(1), chunk(3)))).toBe('DECRYPT_FAILED');
  });
  test('truncating the payload', () => {
    for (const cut of [1, 15, 16, 17, SEALED_CHUNK - 1]) expect(open(payload.subarray(0, payload.length - cut)), String(cut)).toBe('DECRYPT_FAILED');
  });
  test('appending bytes or an extra chunk', () => {
    expect(open(concat(payload, new Uint8Array(16)))).toBe('DECRYPT_FAILED');
    expect(open(concat(payload, chunk(0)))).toBe('DECRYPT_FAILED');
  });
  test('flipping a bit anywhere', () => {
    for (const i of [0, 100, SEALED_CHUNK - 1, SEALED_CHUNK, 2 * SEALED_CHUNK + 5, payload.length - 17, payload.length - 1]) {
      expect(open(flipAt(payload, i)), String(i)).toBe('DECRYPT_FAILED');
    }
  });
  test('a one-chunk payload with its bit flipped', () => {
    const small = seal();
    const p = decode(Envelope, small.envelope).payload;
    expect(codeOf(() => openEnvelope(withEnvelope(small.envelope, (e) => (e.payload = flipAt(p, 3))), { key: bob.enc, now: NOW }))).toBe('DECRYPT_FAILED');
  });
});

describe('tampering with the header', () => {
  const { envelope } = seal({ to: [bob, carol] });
  const h0 = decode(EnvelopeHeader, decode(Envelope, envelope).header);
  const { tag: bobTag } = stanzaSecrets(bob.enc.sharedSecret(h0.ephemeral), h0.ephemeral, bob.enc.publicKey);
  const bobIdx = h0.stanzas.findIndex((s) => equal(s.tag, bobTag));
  const carolIdx = 1 - bobIdx;
  const openBob = (env: Uint8Array) => codeOf(() => openEnvelope(env, { key: bob.enc, now: NOW }));

  test('own stanza: wrapped key changed is DECRYPT_FAILED, tag changed is NOT_A_RECIPIENT', () => {
    expect(bobIdx).toBeGreaterThanOrEqual(0);
    expect(openBob(withHeader(envelope, (h) => (h.stanzas[bobIdx]!.wrapped = flipAt(h.stanzas[bobIdx]!.wrapped, 0))))).toBe('DECRYPT_FAILED');
    expect(openBob(withHeader(envelope, (h) => (h.stanzas[bobIdx]!.wrapped = flipAt(h.stanzas[bobIdx]!.wrapped, 47))))).toBe('DECRYPT_FAILED');
    // Flip the tag's last byte's low bit: the order with the other tag is unchanged.
    expect(openBob(withHeader(envelope, (h) => (h.stanzas[bobIdx]!.tag = flipAt(h.stanzas[bobIdx]!.tag, 15))))).toBe('NOT_A_RECIPIENT');
  });

  test("another recipient's stanza changed: the header hash changes, so the payload does not open", () => {
    expect(openBob(withHeader(envelope, (h) => (h.stanzas[carolIdx]!.wrapped = flipAt(h.stanzas[carolIdx]!.wrapped, 0))))).toBe('DECRYPT_FAILED');
    expect(openBob(withHeader(envelope, (h) => h.stanzas.splice(carolIdx, 1)))).toBe('DECRYPT_FAILED');
  });

  test('commitment changed: DECRYPT_FAILED', () => {
    expect(openBob(withHeader(envelope, (h) => (h.commitment = flipAt(h.commitment, 0))))).toBe('DECRYPT_FAILED');
  });

  test('ephemeral key replaced: NOT_A_RECIPIENT; small-order: KEY_SMALL_ORDER', () => {
    expect(openBob(withHeader(envelope, (h) => (h.ephemeral = EncryptionKey.generate(rnd).publicKey)))).toBe('NOT_A_RECIPIENT');
    expect(openBob(withHeader(envelope, (h) => (h.ephemeral = new Uint8Array(32))))).toBe('KEY_SMALL_ORDER');
  });

  test('version changed: WIRE_BAD_VERSION', () => {
    expect(openBob(withHeader(envelope, (h) => (h.version = 2)))).toBe('WIRE_BAD_VERSION');
    expect(openBob(withHeader(envelope, (h) => (h.version = 0)))).toBe('WIRE_BAD_VERSION');
  });

  test('stanzas out of tag order or duplicated: WIRE_NONCANONICAL', () => {
    expect(openBob(withHeader(envelope, (h) => h.stanzas.reverse()))).toBe('WIRE_NONCANONICAL');
    expect(openBob(withHeader(envelope, (h) => h.stanzas.splice(1, 0, h.stanzas[0]!)))).toBe('WIRE_NONCANONICAL');
  });

  test('header bytes not canonical or trailing: wire errors', () => {
    expect(openBob(withEnvelope(envelope, (e) => (e.header = concat(e.header, Uint8Array.of(0)))))).toBe('WIRE_MALFORMED');
  });
});

describe('the recipient set is bound to the author signature', () => {
  test('bob re-wraps the content key for dave: the envelope decrypts for dave but the signature fails', () => {
    const { envelope } = seal({ author: alice.device, to: [bob], draft: { body: 'for bob only' } });
    const e = decode(Envelope, envelope);
    const h = decode(EnvelopeHeader, e.header);
    // Bob learns the content key and the signed plaintext, as any recipient does.
    const ck = contentKeyFor(envelope, bob.enc);
    const pt = decryptPayload(ck, e.header, e.payload);
    expect(decode(SignedMessage, pt).sig.length).toBe(64);

    // Control: re-encrypting under the original header reproduces an envelope that opens.
    const same = encode(Envelope, { header: e.header, payload: encryptPayload(ck, e.header, pt) });
    expect(toHex(same)).toBe(toHex(envelope));
    expect(openEnvelope(same, { key: bob.enc, now: NOW }).message.body).toBe('for bob only');

    // Forgery: a new header with a stanza for dave (and bob), same content key and commitment.
    const eph = EncryptionKey.generate(rnd);
    const stanzas = [dave, bob]
      .map((u) => {
        const { tag, wrapKey } = stanzaSecrets(eph.sharedSecret(u.enc.publicKey), eph.publicKey, u.enc.publicKey);
        return { tag, wrapped: crypto().xchacha20poly1305Seal(wrapKey, ZERO24, ck) };
      })
      .sort((a, b) => Buffer.compare(a.tag, b.tag));
    const header = encode(EnvelopeHeader, { version: 1, ephemeral: eph.publicKey, stanzas, commitment: h.commitment });
    const forged = encode(Envelope, { header, payload: encryptPayload(ck, header, pt) });
    // Everything decrypts (no DECRYPT_FAILED, no NOT_A_RECIPIENT): only the signature catches it.
    expect(equal(plaintextOf(forged, dave.enc), pt)).toBe(true);
    expect(codeOf(() => openEnvelope(forged, { key: dave.enc, now: NOW }))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => openEnvelope(forged, { key: bob.enc, now: NOW }))).toBe('BAD_SIGNATURE');
  });

  test('the same holds for an identity-signed message', () => {
    const { envelope } = seal({ author: alice.signer, to: [bob, carol] });
    const e = decode(Envelope, envelope);
    const h = decode(EnvelopeHeader, e.header);
    const ck = contentKeyFor(envelope, bob.enc);
    const pt = decryptPayload(ck, e.header, e.payload);
    // Bob drops carol's stanza (pretending the message went to him alone).
    const mine = h.stanzas.filter((s) => equal(s.tag, stanzaSecrets(bob.enc.sharedSecret(h.ephemeral), h.ephemeral, bob.enc.publicKey).tag));
    expect(mine.length).toBe(1);
    const header = encode(EnvelopeHeader, { ...h, stanzas: mine });
    const forged = encode(Envelope, { header, payload: encryptPayload(ck, header, pt) });
    expect(codeOf(() => openEnvelope(forged, { key: bob.enc, now: NOW }))).toBe('BAD_SIGNATURE');
  });

  test('a recipient cannot swap in a different content key with the old commitment', () => {
    const { envelope } = seal();
    const e = decode(Envelope, envelope);
    const h = decode(EnvelopeHeader, e.header);
    const ck = contentKeyFor(envelope, bob.enc);
    const pt = decryptPayload(ck, e.header, e.payload);
    const ck2 = rnd(32);
    const { wrapKey, tag } = stanzaSecrets(bob.enc.sharedSecret(h.ephemeral), h.ephemeral, bob.enc.publicKey);
    const header = encode(EnvelopeHeader, { ...h, stanzas: [{ tag, wrapped: crypto().xchacha20poly1305Seal(wrapKey, ZERO24, ck2) }] });
    const forged = encode(Envelope, { header, payload: encryptPayload(ck2, header, pt) });
    expect(codeOf(() => openEnvelope(forged, { key: bob.enc, now: NOW }))).toBe('DECRYPT_FAILED');
  });
});
