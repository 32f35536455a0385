/** Notifications: size, the order of checks, and the encrypted subject hint. */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { backends, seededRandom } from '../src/crypto/index.js';
import { EncryptionKey, SigningKey } from '../src/identity/index.js';
import {
  certifySubkey,
  DEFAULT_SKEW,
  LABELS,
  leadingZeroBits,
  makeNotification,
  MAX_NOTIFICATION_LIFETIME,
  mintStamp,
  openSubjectHint,
  PURPOSE,
  subkeySigner,
  verifyNotification,
  readOwnNotification,
  isNotificationFor,
  type NotifyOptions,
} from '../src/protocol/index.js';
import { signBytes } from '../src/protocol/signed.js';
import { labelled } from '../src/protocol/labels.js';
import { decode, encode, LIMITS } from '../src/wire/index.js';
import { Notification, NotificationBody } from '../src/wire/schema.js';
import { equal, toHex, utf8 } from '../src/bytes/index.js';
import { codeOf, makeUser, NOW } from './helpers.js';

const rnd = seededRandom('notification-test');
const alice = makeUser('alice');
const bob = makeUser('bob');
const carol = makeUser('carol');
const STORE = 'https://a.example';
const ID = createHash('sha256').update('an envelope').digest();

const opts = (o: Partial<NotifyOptions> = {}): NotifyOptions => ({
  sender: alice.device,
  recipient: { address: bob.address, encryptionKey: bob.enc.publicKey },
  store: STORE,
  id: ID,
  size: 4096,
  time: NOW,
  expires: NOW + 86400,
  random: rnd,
  ...o,
});
const note = (o: Partial<NotifyOptions> = {}) => makeNotification(opts(o));

/** Flip a signature bit, keeping everything else. */
const badSig = (n: Uint8Array) => {
  const c = decode(Notification, n);
  const sig = c.sig.slice();
  sig[0]! ^= 1;
  return encode(Notification, { ...c, sig });
};
/** Re-sign a hand-changed body (bypassing makeNotification's checks). */
const reSigned = (n: Uint8Array, change: Partial<NotificationBody>) => {
  const body = decode(NotificationBody, decode(Notification, n).body);
  return signBytes(Notification, LABELS.notification, encode(NotificationBody, { ...body, ...change }), alice.device);
};

afterEach(() => vi.restoreAllMocks());

describe('size', () => {
  test('the worst case (200-byte store URL, 120-byte hint, pow, device cert, largest numbers) is under 1 KiB', () => {
    const host = 'a'.repeat(63) + '.' + 'b'.repeat(63) + '.' + 'c'.repeat(56) + '.example';
    const store = 'https://' + host;
    expect(utf8(store).length).toBe(LIMITS.STORE_URL);
    const hint = '€'.repeat(40);
    expect(utf8(hint).length).toBe(LIMITS.SUBJECT_HINT);
    // A device certificate valid for the whole time range, with the largest times in it.
    const dev = SigningKey.generate(rnd);
    const cert = certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: dev.publicKey, notBefore: 0xffff_fffe, notAfter: 0xffff_ffff });
    const sender = subkeySigner(alice.identity.typedKey, dev, cert);
    const time = 0xffff_ffff - MAX_NOTIFICATION_LIFETIME;
    const n = note({
      sender,
      store,
      subjectHint: hint,
      pow: new Uint8Array(8).fill(0xff),
      size: LIMITS.PAYLOAD + 1024 * 1024,
      time,
      expires: 0xffff_ffff,
    });
    expect(n.length).toBeLessThan(1024);
    expect(n.length).toBeLessThanOrEqual(LIMITS.NOTIFICATION);
    const v = verifyNotification(n, { now: 0xffff_ffff });
    expect(v.body.store).toBe(store);
    expect(openSubjectHint(v.body, bob.enc)).toBe(hint);
    // A hint one byte longer does not fit its field.
    expect(codeOf(() => note({ subjectHint: hint + 'a' }))).toBe('WIRE_TOO_LARGE');
  });

  test('a typical notification is small', () => {
    expect(note().length).toBeLessThan(500);
  });
});

describe('each check produces its code', () => {
  const n = note();

  test('a valid notification verifies and reports the sender, hash and signer', () => {
    const v = verifyNotification(n, { now: NOW, isLocalRecipient: (a) => equal(a, bob.address), isReplay: () => false, powBits: () => 0 });
    expect(equal(v.sender, alice.address)).toBe(true);
    // The replay key is the hash of the signed body, not of the container (whose cert is unsigned).
    expect(toHex(v.hash)).toBe(createHash('sha256').update(decode(Notification, n).body).digest('hex'));
    expect(v.signedBy.purpose).toBe(PURPOSE.device);
    expect(v.body).toMatchObject({ store: STORE, size: 4096, time: NOW, expires: NOW + 86400 });
    expect(equal(v.body.id, ID)).toBe(true);
    expect(isNotificationFor(v.body, bob.address)).toBe(true);
    expect(isNotificationFor(v.body, carol.address)).toBe(false);
    // Identity-signed works too.
    expect(verifyNotification(note({ sender: alice.signer }), { now: NOW }).signedBy.purpose).toBeUndefined();
  });

  test('size: WIRE_TOO_LARGE before decoding', () => {
    expect(codeOf(() => verifyNotification(new Uint8Array(1025).fill(0xc1), { now: NOW }))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => verifyNotification(new Uint8Array([...n, ...new Uint8Array(1025 - n.length)]), { now: NOW }))).toBe('WIRE_TOO_LARGE');
  });

  test('decoding: wire errors', () => {
    expect(codeOf(() => verifyNotification(n.subarray(0, n.length - 1), { now: NOW }))).toBe('WIRE_MALFORMED');
    expect(codeOf(() => verifyNotification(new Uint8Array([...n, 0]), { now: NOW }))).toBe('WIRE_MALFORMED');
    expect(codeOf(() => verifyNotification(new Uint8Array(0), { now: NOW }))).toBe('WIRE_MALFORMED');
  });

  test('lifetime out of range: WIRE_BAD_TYPE (and INVALID_ARGUMENT when making)', () => {
    expect(codeOf(() => verifyNotification(reSigned(n, { expires: NOW + MAX_NOTIFICATION_LIFETIME + 1 }), { now: NOW }))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => verifyNotification(reSigned(n, { expires: NOW - 1 }), { now: NOW }))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => verifyNotification(reSigned(n, { expires: NOW + MAX_NOTIFICATION_LIFETIME }), { now: NOW }))).toBe('ok');
    expect(codeOf(() => note({ expires: NOW + MAX_NOTIFICATION_LIFETIME + 1 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => note({ expires: NOW - 1 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => note({ expires: NOW }))).toBe('ok');
  });

  test('time window edges with the skew allowance', () => {
    // time = NOW, expires = NOW + 86400.
    expect(codeOf(() => verifyNotification(n, { now: NOW - DEFAULT_SKEW }))).toBe('ok');
    expect(codeOf(() => verifyNotification(n, { now: NOW - DEFAULT_SKEW - 1 }))).toBe('NOT_YET_VALID');
    expect(codeOf(() => verifyNotification(n, { now: NOW + 86400 + DEFAULT_SKEW }))).toBe('ok');
    expect(codeOf(() => verifyNotification(n, { now: NOW + 86400 + DEFAULT_SKEW + 1 }))).toBe('EXPIRED');
    expect(codeOf(() => verifyNotification(n, { now: NOW + 86401, skew: 0 }))).toBe('EXPIRED');
    expect(codeOf(() => verifyNotification(n, { now: NOW - 1, skew: 0 }))).toBe('NOT_YET_VALID');
  });

  test('store URL that is not an https origin: WIRE_BAD_TYPE (making and verifying)', () => {
    expect(codeOf(() => note({ store: 'http://a.example' }))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => verifyNotification(reSigned(n, { store: 'http://a.example' }), { now: NOW }))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => verifyNotification(reSigned(n, { store: 'https://a.example/x' }), { now: NOW }))).toBe('WIRE_BAD_TYPE');
  });

  test('recipient not served here: NOT_A_RECIPIENT', () => {
    expect(codeOf(() => verifyNotification(n, { now: NOW, isLocalRecipient: (a) => equal(a, carol.address) }))).toBe('NOT_A_RECIPIENT');
  });

  test('seen before: REPLAY', () => {
    const seen = new Set<string>();
    const isReplay = (h: Uint8Array) => {
      const k = toHex(h);
      const was = seen.has(k);
      seen.add(k);
      return was;
    };
    expect(codeOf(() => verifyNotification(n, { now: NOW, isReplay }))).toBe('ok');
    expect(codeOf(() => verifyNotification(n, { now: NOW, isReplay }))).toBe('REPLAY');
    // Without a hint, making the same notification again gives the same bytes (Ed25519 is
    // deterministic): a retransmission is a REPLAY, which the receiving store must treat as
    // "already have it".
    expect(toHex(note())).toBe(toHex(n));
    expect(codeOf(() => verifyNotification(note(), { now: NOW, isReplay }))).toBe('REPLAY');
    // A notification that differs in anything is not a replay.
    expect(codeOf(() => verifyNotification(note({ time: NOW + 1 }), { now: NOW, isReplay }))).toBe('ok');
  });

  test('proof of work: POW_MISSING, POW_INSUFFICIENT, ok', () => {
    expect(codeOf(() => verifyNotification(n, { now: NOW, powBits: () => 8 }))).toBe('POW_MISSING');
    const pow = mintStamp(bob.address, ID, 8, seededRandom('pow-in-notification'));
    const got = leadingZeroBits(createHash('sha256').update(labelled(LABELS.pow, bob.address, ID, pow)).digest());
    expect(got).toBeGreaterThanOrEqual(8);
    const withPow = note({ pow });
    expect(codeOf(() => verifyNotification(withPow, { now: NOW, powBits: () => 8 }))).toBe('ok');
    expect(codeOf(() => verifyNotification(withPow, { now: NOW, powBits: () => got }))).toBe('ok');
    expect(codeOf(() => verifyNotification(withPow, { now: NOW, powBits: () => got + 1 }))).toBe('POW_INSUFFICIENT');
    // The stamp is bound to the recipient and the message.
    const forCarol = note({ pow, recipient: { address: carol.address } });
    const carolBits = leadingZeroBits(createHash('sha256').update(labelled(LABELS.pow, carol.address, ID, pow)).digest());
    expect(carolBits).toBeLessThan(8);
    expect(codeOf(() => verifyNotification(forCarol, { now: NOW, powBits: () => 8 }))).toBe('POW_INSUFFICIENT');
  });

  test('a second valid certificate for the same device key does not make a replay look new', () => {
    const c = decode(Notification, n);
    const recert = certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: alice.device.key.publicKey, notBefore: NOW - 10, notAfter: NOW + 86400 });
    expect(toHex(recert)).not.toBe(toHex(c.cert!));
    const swapped = encode(Notification, { ...c, cert: recert });
    const a = verifyNotification(n, { now: NOW });
    const b = verifyNotification(swapped, { now: NOW });
    expect(toHex(b.hash)).toBe(toHex(a.hash));
  });

  test('signature problems: CERT_PURPOSE, KEY_REVOKED, BAD_SIGNATURE', () => {
    expect(codeOf(() => verifyNotification(note({ sender: alice.delegate }), { now: NOW }))).toBe('CERT_PURPOSE');
    expect(codeOf(() => verifyNotification(n, { now: NOW, isRevoked: () => true }))).toBe('KEY_REVOKED');
    expect(codeOf(() => verifyNotification(badSig(n), { now: NOW }))).toBe('BAD_SIGNATURE');
    // A body changed after signing.
    const c = decode(Notification, n);
    const body = decode(NotificationBody, c.body);
    const changed = encode(Notification, { ...c, body: encode(NotificationBody, { ...body, size: body.size + 1 }) });
    expect(codeOf(() => verifyNotification(changed, { now: NOW }))).toBe('BAD_SIGNATURE');
    // A sender claiming to be someone else.
    expect(codeOf(() => verifyNotification(note({ sender: { identity: carol.identity.typedKey, key: alice.identity } }), { now: NOW }))).toBe('BAD_SIGNATURE');
  });
});

describe('cheapest checks first', () => {
  const n = note();
  const bad = badSig(n);

  test('an expired notification with a bad signature reports EXPIRED; the callbacks are not called', () => {
    const isReplay = vi.fn(() => true);
    const isLocalRecipient = vi.fn(() => false);
    const powBits = vi.fn(() => 30);
    const verify = vi.spyOn(backends.node, 'ed25519Verify');
    expect(codeOf(() => verifyNotification(bad, { now: NOW + 2 * 86400, isReplay, isLocalRecipient, powBits }))).toBe('EXPIRED');
    expect(codeOf(() => verifyNotification(bad, { now: NOW - 3600, isReplay, isLocalRecipient, powBits }))).toBe('NOT_YET_VALID');
    expect(isReplay).not.toHaveBeenCalled();
    expect(isLocalRecipient).not.toHaveBeenCalled();
    expect(powBits).not.toHaveBeenCalled();
    expect(verify).not.toHaveBeenCalled();
  });

  test('not a local recipient is reported before replay', () => {
    const isReplay = vi.fn(() => true);
    expect(codeOf(() => verifyNotification(bad, { now: NOW, isReplay, isLocalRecipient: () => false }))).toBe('NOT_A_RECIPIENT');
    expect(isReplay).not.toHaveBeenCalled();
  });

  test('a replayed notification with a bad signature reports REPLAY; isReplay is called once with its hash and body', () => {
    const isReplay = vi.fn((_h: Uint8Array, _b: NotificationBody) => true);
    const powBits = vi.fn(() => 30);
    const verify = vi.spyOn(backends.node, 'ed25519Verify');
    expect(codeOf(() => verifyNotification(bad, { now: NOW, isReplay, powBits }))).toBe('REPLAY');
    expect(isReplay).toHaveBeenCalledTimes(1);
    expect(toHex(isReplay.mock.calls[0]![0])).toBe(createHash('sha256').update(decode(Notification, bad).body).digest('hex'));
    // The decoded body comes along: a store keys its replay index on the signed time with the hash.
    expect(isReplay.mock.calls[0]![1]).toEqual(decode(NotificationBody, decode(Notification, bad).body));
    expect(powBits).not.toHaveBeenCalled();
    expect(verify).not.toHaveBeenCalled();
  });

  test('missing proof of work with a bad signature reports POW_MISSING, without verifying anything', () => {
    const powBits = vi.fn((_s: Uint8Array, _n: number) => 12);
    const verify = vi.spyOn(backends.node, 'ed25519Verify');
    expect(codeOf(() => verifyNotification(bad, { now: NOW, powBits }))).toBe('POW_MISSING');
    expect(powBits).toHaveBeenCalledTimes(1);
    expect(equal(powBits.mock.calls[0]![0], alice.address)).toBe(true);
    expect(powBits.mock.calls[0]![1]).toBe(4096);
    expect(verify).not.toHaveBeenCalled();
  });

  test('all checks pass except the signature: BAD_SIGNATURE after every callback ran once', () => {
    const isReplay = vi.fn(() => false);
    const isLocalRecipient = vi.fn(() => true);
    const powBits = vi.fn(() => 0);
    expect(codeOf(() => verifyNotification(bad, { now: NOW, isReplay, isLocalRecipient, powBits }))).toBe('BAD_SIGNATURE');
    expect(isReplay).toHaveBeenCalledTimes(1);
    expect(isLocalRecipient).toHaveBeenCalledTimes(1);
    expect(powBits).toHaveBeenCalledTimes(1);
  });
});

describe('subject hint', () => {
  test('round trip, including an empty and a multi-byte hint', () => {
    for (const h of ['hello', '', 'Grüße — ☃ 😀', '€'.repeat(40)]) {
      const v = verifyNotification(note({ subjectHint: h }), { now: NOW });
      expect(openSubjectHint(v.body, bob.enc)).toBe(h);
    }
  });

  test('no hint: undefined, and nothing sealed', () => {
    const v = verifyNotification(note(), { now: NOW });
    expect(v.body.sealed).toBeUndefined();
    expect(openSubjectHint(v.body, bob.enc)).toBeUndefined();
  });

  test('the hint is not in clear on the wire', () => {
    const n = note({ subjectHint: 'very secret subject' });
    expect(Buffer.from(n).includes(Buffer.from('very secret subject'))).toBe(false);
  });

  test('the wrong key: DECRYPT_FAILED', () => {
    const v = verifyNotification(note({ subjectHint: 'for bob' }), { now: NOW });
    expect(codeOf(() => openSubjectHint(v.body, carol.enc))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => openSubjectHint(v.body, EncryptionKey.generate(rnd)))).toBe('DECRYPT_FAILED');
  });

  test('a tampered box: DECRYPT_FAILED; a small-order ephemeral: KEY_SMALL_ORDER', () => {
    const body = decode(NotificationBody, decode(Notification, note({ subjectHint: 'x' })).body);
    const box = body.sealed!.box.slice();
    box[0]! ^= 1;
    expect(codeOf(() => openSubjectHint({ ...body, sealed: { ...body.sealed!, box } }, bob.enc))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => openSubjectHint({ ...body, sealed: { ...body.sealed!, ephemeral: new Uint8Array(32) } }, bob.enc))).toBe('KEY_SMALL_ORDER');
    expect(codeOf(() => openSubjectHint({ ...body, sealed: { ...body.sealed!, ephemeral: EncryptionKey.generate(rnd).publicKey } }, bob.enc))).toBe('DECRYPT_FAILED');
  });

  test('a hint needs the recipient encryption key', () => {
    expect(codeOf(() => note({ subjectHint: 'x', recipient: { address: bob.address } }))).toBe('INVALID_ARGUMENT');
  });

  test('a hint sealed to a small-order key is refused when making', () => {
    expect(codeOf(() => note({ subjectHint: 'x', recipient: { address: bob.address, encryptionKey: new Uint8Array(32) } }))).toBe('KEY_SMALL_ORDER');
  });
});

describe('fresh identities pay before the key check', () => {
  test('a notification from a never-seen key without proof of work is refused before the key is validated', async () => {
    const edkeys = await import('../src/crypto/edkeys.js');
    const fresh = makeUser('fresh-sender-for-pow-order');
    const n = makeNotification({
      sender: fresh.signer,
      recipient: { address: makeUser('bob').address },
      store: 'https://a.example',
      id: new Uint8Array(32).fill(9),
      size: 1000,
      time: NOW,
      expires: NOW + 3600,
      random: seededRandom('fresh'),
    });
    const spy = vi.spyOn(edkeys, 'classifyEd25519Key');
    expect(codeOf(() => verifyNotification(n, { now: NOW, powBits: () => 10 }))).toBe('POW_MISSING');
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  });
});

describe('readOwnNotification (the sender store taking its user\'s upload)', () => {
  test('gives the body and the claimed sender, checking everything but the signature', () => {
    const n = note();
    const r = readOwnNotification(n, { now: NOW });
    expect(r.sender).toEqual(alice.address);
    expect(r.body.recipient).toEqual(bob.address);
    // A bad signature is the recipient store's to find: verifyNotification refuses it, this does not.
    expect(codeOf(() => verifyNotification(badSig(n), { now: NOW }))).toBe('BAD_SIGNATURE');
    expect(equal(readOwnNotification(badSig(n), { now: NOW }).body.id, ID)).toBe(true);
  });

  test('refuses what the recipient store would refuse before any signature: window, size, encoding, store URL', () => {
    expect(codeOf(() => readOwnNotification(note(), { now: NOW + 86400 + DEFAULT_SKEW + 1 }))).toBe('EXPIRED');
    expect(codeOf(() => readOwnNotification(note({ time: NOW + DEFAULT_SKEW + 60, expires: NOW + 86400 }), { now: NOW }))).toBe('NOT_YET_VALID');
    expect(codeOf(() => readOwnNotification(new Uint8Array(LIMITS.NOTIFICATION + 1), { now: NOW }))).toBe('WIRE_TOO_LARGE');
    expect(codeOf(() => readOwnNotification(note().subarray(1), { now: NOW }))).toMatch(/^WIRE_/);
  });
});
