import { describe, expect, test } from 'vitest';
import { seededRandom } from '../src/crypto/index.js';
import { makeNotification, openEnvelope, openSubjectHint, sealEnvelope, verifyNotification, makeReceipt, verifyReceipt, makeFetchRequest, verifyFetchRequest, makeRetraction, verifyRetraction } from '../src/protocol/index.js';
import { codeOf, makeUser, NOW } from './helpers.js';

const alice = makeUser('alice');
const bob = makeUser('bob');
const carol = makeUser('carol');
const dave = makeUser('dave');
const STORE = 'https://a.example';

describe('one message from alice to bob and carol', () => {
  const rnd = seededRandom('flow');
  const draft = { to: [bob.address], cc: [carol.address], subject: 'hello', date: NOW, parents: [], body: 'Hi both.', attachments: [] };
  const { envelope, id } = sealEnvelope({
    author: alice.device,
    draft,
    recipients: [bob, carol].map((u) => ({ address: u.address, encryptionKey: u.enc.publicKey })),
    random: rnd,
  });

  test('each recipient opens the same message and sees alice as author', () => {
    for (const u of [bob, carol]) {
      const m = openEnvelope(envelope, { key: u.enc, expectedId: id, now: NOW });
      expect(m.message.body).toBe('Hi both.');
      expect(Buffer.from(m.author).equals(Buffer.from(alice.address))).toBe(true);
      expect(m.signedBy.purpose).toBe(1);
    }
  });

  test('an outsider is not a recipient, and swapped content is caught', () => {
    expect(codeOf(() => openEnvelope(envelope, { key: dave.enc, now: NOW }))).toBe('NOT_A_RECIPIENT');
    const other = sealEnvelope({ author: alice.signer, draft, recipients: [{ address: bob.address, encryptionKey: bob.enc.publicKey }], random: rnd });
    expect(codeOf(() => openEnvelope(other.envelope, { key: bob.enc, expectedId: id, now: NOW }))).toBe('CONTENT_HASH_MISMATCH');
  });

  test('notification verifies without keys, and the hint opens with the recipient key', () => {
    const n = makeNotification({
      sender: alice.device,
      recipient: { address: bob.address, encryptionKey: bob.enc.publicKey },
      store: STORE,
      id,
      size: envelope.length,
      time: NOW,
      expires: NOW + 86400,
      subjectHint: 'hello',
      random: rnd,
    });
    expect(n.length).toBeLessThan(1024);
    const v = verifyNotification(n, { now: NOW, isLocalRecipient: (a) => Buffer.from(a).equals(Buffer.from(bob.address)) });
    expect(Buffer.from(v.sender).equals(Buffer.from(alice.address))).toBe(true);
    expect(openSubjectHint(v.body, bob.enc)).toBe('hello');
    expect(codeOf(() => verifyNotification(n, { now: NOW, isLocalRecipient: () => false }))).toBe('NOT_A_RECIPIENT');
    expect(codeOf(() => verifyNotification(n, { now: NOW + 2 * 86400 }))).toBe('EXPIRED');
    expect(codeOf(() => verifyNotification(n, { now: NOW, isReplay: () => true }))).toBe('REPLAY');
    expect(codeOf(() => verifyNotification(n, { now: NOW, powBits: () => 8 }))).toBe('POW_MISSING');
  });

  test('fetch, receipt and retraction', () => {
    const f = makeFetchRequest({ requester: bob.delegate, id, store: STORE, time: NOW, random: rnd });
    expect(Buffer.from(verifyFetchRequest(f, { now: NOW, store: STORE, id }).from).equals(Buffer.from(bob.address))).toBe(true);
    expect(codeOf(() => verifyFetchRequest(f, { now: NOW, store: 'https://b.example' }))).toBe('SUBJECT_MISMATCH');
    const r = makeReceipt({ recipient: bob.delegate, id, time: NOW });
    expect(verifyReceipt(r, { now: NOW, id }).signedBy.purpose).toBe(3);
    // A store delegate may not unsend or author.
    expect(codeOf(() => verifyRetraction(makeRetraction({ sender: alice.delegate, id, recipient: bob.address, time: NOW }), { now: NOW }))).toBe('CERT_PURPOSE');
    expect(verifyRetraction(makeRetraction({ sender: alice.device, id, recipient: bob.address, time: NOW }), { now: NOW, id }).body.time).toBe(NOW);
  });
});
