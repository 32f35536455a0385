/** Subkey certificates and revocations. */
import { describe, expect, test, vi } from 'vitest';
import { seededRandom } from '../src/crypto/index.js';
import { EncryptionKey, SigningKey } from '../src/identity/index.js';
import {
  certifySubkey,
  DEFAULT_SKEW,
  identitySigner,
  LABELS,
  makeNotification,
  makeReceipt,
  makeRetraction,
  openEnvelope,
  PURPOSE,
  REVOCATION_REASON,
  revokeKey,
  sealEnvelope,
  subkeySigner,
  verifyNotification,
  verifyReceipt,
  verifyRetraction,
  verifyRevocation,
  verifySubkeyCert,
  makeFetchRequest,
  verifyFetchRequest,
} from '../src/protocol/index.js';
import { signBytes } from '../src/protocol/signed.js';
import { labelled } from '../src/protocol/labels.js';
import { bytes, struct } from '../src/wire/codec.js';
import { decode, encode } from '../src/wire/index.js';
import { Revocation, RevocationBody, SubkeyCert, SubkeyCertBody } from '../src/wire/schema.js';
import { equal, fromHex, toHex } from '../src/bytes/index.js';
import { codeOf, makeUser, NOW } from './helpers.js';

const rnd = seededRandom('certs-test');
const alice = makeUser('alice');
const bob = makeUser('bob');
const ID = new Uint8Array(32).fill(7);
const STORE = 'https://a.example';

const devKey = SigningKey.generate(rnd);
const cert = (o: Partial<Parameters<typeof certifySubkey>[0]> = {}) =>
  certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: devKey.publicKey, notBefore: NOW, notAfter: NOW + 1000, ...o });
const receiptBy = (c: Uint8Array, key = devKey, identity = alice.identity.typedKey) =>
  makeReceipt({ recipient: subkeySigner(identity, key, c), id: ID, time: NOW + 500 });

describe('certificates verify', () => {
  test('device, encryption and store-delegate certificates', () => {
    const enc = EncryptionKey.generate(rnd);
    const del = SigningKey.generate(rnd);
    for (const [purpose, subkey] of [
      [PURPOSE.device, devKey.publicKey],
      [PURPOSE.encryption, enc.publicKey],
      [PURPOSE.storeDelegate, del.publicKey],
    ] as const) {
      const c = cert({ purpose, subkey });
      const b = verifySubkeyCert(c, { now: NOW + 10 });
      expect(b.purpose).toBe(purpose);
      expect(toHex(b.subkey)).toBe(toHex(subkey));
      expect(toHex(b.identity)).toBe(toHex(alice.identity.typedKey));
      expect(b.notBefore).toBe(NOW);
      expect(b.notAfter).toBe(NOW + 1000);
    }
  });

  test('a certified device signs a receipt; the verifier reports the subkey and purpose', () => {
    const v = verifyReceipt(receiptBy(cert()), { now: NOW + 500 });
    expect(v.signedBy.purpose).toBe(PURPOSE.device);
    expect(toHex(v.signedBy.signingKey)).toBe(toHex(devKey.publicKey));
    expect(toHex(v.signedBy.identityKey)).toBe(toHex(alice.identity.publicKey));
    expect(equal(v.from, alice.address)).toBe(true);
  });

  test('certifySubkey refuses bad input', () => {
    expect(codeOf(() => cert({ notBefore: NOW + 1, notAfter: NOW }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => cert({ subkey: fromHex('01'.padEnd(64, '0')) }))).toBe('KEY_SMALL_ORDER');
    expect(codeOf(() => cert({ purpose: PURPOSE.encryption, subkey: new Uint8Array(32) }))).toBe('KEY_SMALL_ORDER');
    expect(codeOf(() => cert({ purpose: 9 as never }))).toBe('WIRE_BAD_TYPE');
  });
});

describe('validity windows, with the clock-skew allowance at its edges', () => {
  const c = cert(); // valid NOW .. NOW+1000
  test('verifySubkeyCert', () => {
    expect(codeOf(() => verifySubkeyCert(c, { now: NOW - DEFAULT_SKEW }))).toBe('ok');
    expect(codeOf(() => verifySubkeyCert(c, { now: NOW - DEFAULT_SKEW - 1 }))).toBe('NOT_YET_VALID');
    expect(codeOf(() => verifySubkeyCert(c, { now: NOW + 1000 + DEFAULT_SKEW }))).toBe('ok');
    expect(codeOf(() => verifySubkeyCert(c, { now: NOW + 1000 + DEFAULT_SKEW + 1 }))).toBe('EXPIRED');
    expect(codeOf(() => verifySubkeyCert(c, { now: NOW + 1001, skew: 0 }))).toBe('EXPIRED');
    expect(codeOf(() => verifySubkeyCert(c, { now: NOW - 1, skew: 0 }))).toBe('NOT_YET_VALID');
    expect(codeOf(() => verifySubkeyCert(c, { now: NOW, skew: 0 }))).toBe('ok');
  });

  test('a signature made with an expired or not-yet-valid device certificate is refused', () => {
    const r = receiptBy(c); // receipt time NOW+500; receipts are fresh for 600 s + skew
    expect(codeOf(() => verifyReceipt(r, { now: NOW + 1000, skew: 0 }))).toBe('ok');
    expect(codeOf(() => verifyReceipt(r, { now: NOW + 1001, skew: 0 }))).toBe('EXPIRED');
    const early = certifySubkey({ identity: alice.identity, purpose: PURPOSE.device, subkey: devKey.publicKey, notBefore: NOW + 800, notAfter: NOW + 5000 });
    const r2 = receiptBy(early);
    // now + skew must reach notBefore (NOW+800).
    expect(codeOf(() => verifyReceipt(r2, { now: NOW + 800 - DEFAULT_SKEW - 1 }))).toBe('NOT_YET_VALID');
    expect(codeOf(() => verifyReceipt(r2, { now: NOW + 800 - DEFAULT_SKEW }))).toBe('ok');
  });

  test('the certificate cache does not skip the time check on later uses', () => {
    const c2 = cert({ notAfter: NOW + 700 });
    const r = receiptBy(c2);
    expect(codeOf(() => verifyReceipt(r, { now: NOW + 500, skew: 0 }))).toBe('ok'); // cached now
    expect(codeOf(() => verifyReceipt(r, { now: NOW + 701, skew: 0 }))).toBe('EXPIRED');
  });
});

describe('who may sign with a certificate', () => {
  test('a certificate of another identity: CERT_INVALID', () => {
    // Signed by alice's device with alice's certificate, but claiming to come from bob.
    const r = receiptBy(cert(), devKey, bob.identity.typedKey);
    expect(codeOf(() => verifyReceipt(r, { now: NOW + 500 }))).toBe('CERT_INVALID');
    // The same with a notification.
    const n = makeNotification({
      sender: subkeySigner(bob.identity.typedKey, devKey, cert()),
      recipient: { address: alice.address },
      store: STORE,
      id: ID,
      size: 100,
      time: NOW,
      expires: NOW + 100,
      random: rnd,
    });
    expect(codeOf(() => verifyNotification(n, { now: NOW }))).toBe('CERT_INVALID');
  });

  test('a certificate whose subkey is not the signing key: BAD_SIGNATURE', () => {
    const other = SigningKey.generate(rnd);
    expect(codeOf(() => verifyReceipt(receiptBy(cert(), other), { now: NOW + 500 }))).toBe('BAD_SIGNATURE');
  });

  test('a store delegate may not sign a notification, a message or a retraction: CERT_PURPOSE', () => {
    const n = makeNotification({ sender: alice.delegate, recipient: { address: bob.address }, store: STORE, id: ID, size: 1, time: NOW, expires: NOW + 60, random: rnd });
    expect(codeOf(() => verifyNotification(n, { now: NOW }))).toBe('CERT_PURPOSE');
    const { envelope } = sealEnvelope({
      author: alice.delegate,
      draft: { to: [bob.address], cc: [], subject: 's', date: NOW, parents: [], body: 'b', attachments: [] },
      recipients: [{ address: bob.address, encryptionKey: bob.enc.publicKey }],
      random: rnd,
    });
    expect(codeOf(() => openEnvelope(envelope, { key: bob.enc, now: NOW }))).toBe('CERT_PURPOSE');
    const rt = makeRetraction({ sender: alice.delegate, id: ID, recipient: bob.address, time: NOW });
    expect(codeOf(() => verifyRetraction(rt, { now: NOW }))).toBe('CERT_PURPOSE');
    // ...but may sign receipts and fetch requests.
    expect(verifyReceipt(makeReceipt({ recipient: alice.delegate, id: ID, time: NOW }), { now: NOW }).signedBy.purpose).toBe(PURPOSE.storeDelegate);
    const f = makeFetchRequest({ requester: alice.delegate, id: ID, store: STORE, time: NOW, random: rnd });
    expect(verifyFetchRequest(f, { now: NOW, store: STORE }).signedBy.purpose).toBe(PURPOSE.storeDelegate);
  });

  test('an encryption-purpose certificate never authorises a signature', () => {
    // The Ed25519 public key bytes are also a valid X25519 key, so this certificate can be made.
    const encCert = cert({ purpose: PURPOSE.encryption, subkey: devKey.publicKey });
    expect(codeOf(() => verifyReceipt(receiptBy(encCert), { now: NOW + 500 }))).toBe('CERT_PURPOSE');
  });

  test('a certificate that itself carries a certificate is refused', () => {
    const body = encode(SubkeyCertBody, { identity: alice.identity.typedKey, purpose: PURPOSE.device, subkey: devKey.publicKey, notBefore: NOW, notAfter: NOW + 1000 });
    // A real device-signed certificate (with the device's certificate inside) does not even fit the format.
    expect(codeOf(() => signBytes(SubkeyCert, LABELS.subkey, body, alice.device))).toBe('WIRE_TOO_LARGE');
    // With a short cert field it fits; whether used as a signer's certificate or checked on its own,
    // a certificate signed by anything but the identity key is CERT_PURPOSE.
    const real = decode(SubkeyCert, cert());
    const chained = encode(SubkeyCert, { ...real, cert: Uint8Array.of(1) });
    expect(codeOf(() => verifyReceipt(receiptBy(chained), { now: NOW + 500 }))).toBe('CERT_PURPOSE');
    expect(codeOf(() => verifySubkeyCert(chained, { now: NOW }))).toBe('CERT_PURPOSE');
  });

  test('a certificate signed by another key, or over another label: BAD_SIGNATURE', () => {
    const body = encode(SubkeyCertBody, { identity: alice.identity.typedKey, purpose: PURPOSE.device, subkey: devKey.publicKey, notBefore: NOW, notAfter: NOW + 1000 });
    const byBob = signBytes(SubkeyCert, LABELS.subkey, body, identitySigner(bob.identity));
    expect(codeOf(() => verifyReceipt(receiptBy(byBob), { now: NOW + 500 }))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifySubkeyCert(byBob, { now: NOW }))).toBe('BAD_SIGNATURE');
    const wrongLabel = signBytes(SubkeyCert, LABELS.assertion, body, identitySigner(alice.identity));
    expect(codeOf(() => verifySubkeyCert(wrongLabel, { now: NOW }))).toBe('BAD_SIGNATURE');
    const c = decode(SubkeyCert, cert());
    c.sig = c.sig.slice();
    c.sig[10]! ^= 0x20;
    expect(codeOf(() => verifySubkeyCert(encode(SubkeyCert, c), { now: NOW }))).toBe('BAD_SIGNATURE');
  });

  test('a revoked subkey or identity (isRevoked) is KEY_REVOKED; both keys are asked about', () => {
    const c = cert();
    const isRevoked = vi.fn((k: Uint8Array) => equal(k, devKey.publicKey));
    expect(codeOf(() => verifyReceipt(receiptBy(c), { now: NOW + 500, isRevoked }))).toBe('KEY_REVOKED');
    expect(isRevoked.mock.calls.map((a) => toHex(a[0]))).toEqual([toHex(alice.identity.publicKey), toHex(devKey.publicKey)]);
    // Another subkey's revocation does not affect this one.
    expect(codeOf(() => verifyReceipt(receiptBy(c), { now: NOW + 500, isRevoked: () => false }))).toBe('ok');
    // A revoked identity key signs nothing any more, itself or through its subkeys.
    const idRevoked = (k: Uint8Array) => equal(k, alice.identity.publicKey);
    expect(codeOf(() => verifyReceipt(makeReceipt({ recipient: alice.signer, id: ID, time: NOW }), { now: NOW, isRevoked: idRevoked }))).toBe('KEY_REVOKED');
    expect(codeOf(() => verifyReceipt(receiptBy(c), { now: NOW + 500, isRevoked: idRevoked }))).toBe('KEY_REVOKED');
    // Revoked device: its messages no longer open.
    const { envelope } = sealEnvelope({
      author: alice.device,
      draft: { to: [bob.address], cc: [], subject: 's', date: NOW, parents: [], body: 'b', attachments: [] },
      recipients: [{ address: bob.address, encryptionKey: bob.enc.publicKey }],
      random: rnd,
    });
    expect(codeOf(() => openEnvelope(envelope, { key: bob.enc, now: NOW, isRevoked: () => true }))).toBe('KEY_REVOKED');
  });
});

describe('revocations', () => {
  test('a revocation signed by the identity verifies, with no expiry', () => {
    const r = revokeKey({ identity: alice.identity, revoked: devKey.publicKey, time: NOW, reason: REVOCATION_REASON.compromised });
    const b = verifyRevocation(r);
    expect(toHex(b.revoked)).toBe(toHex(devKey.publicKey));
    expect(toHex(b.identity)).toBe(toHex(alice.identity.typedKey));
    expect(b.time).toBe(NOW);
    expect(b.reason).toBe(1);
    // The identity may revoke itself.
    expect(verifyRevocation(revokeKey({ identity: alice.identity, revoked: alice.identity.publicKey, time: 0, reason: 3 })).time).toBe(0);
  });

  test('a revocation signed by a device (certificate present) is refused', () => {
    const body = encode(RevocationBody, { identity: alice.identity.typedKey, revoked: devKey.publicKey, time: NOW, reason: 1 });
    // A device signature plus its certificate exceeds the Revocation size limit: not encodable...
    expect(codeOf(() => signBytes(Revocation, LABELS.revocation, body, alice.device))).toBe('WIRE_TOO_LARGE');
    // ...and not decodable when built by other means.
    const Big = struct('BigRevocation', 1024, { body: [1, bytes(1, 128)], sig: [2, bytes(64)], cert: [3, bytes(1, 256), 'optional'] });
    const sig = alice.device.key.sign(labelled(LABELS.revocation, body));
    const big = encode(Big, { body, sig, cert: alice.device.cert! });
    expect(codeOf(() => verifyRevocation(big))).toBe('WIRE_TOO_LARGE');
    // A cert field that fits is refused because only the identity key may revoke.
    const small = encode(Revocation, { body, sig, cert: alice.device.cert!.subarray(0, 100) });
    expect(codeOf(() => verifyRevocation(small))).toBe('CERT_PURPOSE');
  });

  test('a revocation signed by another identity, or tampered, is BAD_SIGNATURE', () => {
    const body = encode(RevocationBody, { identity: alice.identity.typedKey, revoked: devKey.publicKey, time: NOW, reason: 1 });
    expect(codeOf(() => verifyRevocation(signBytes(Revocation, LABELS.revocation, body, identitySigner(bob.identity))))).toBe('BAD_SIGNATURE');
    // A device key signing with no certificate attached is just a wrong key.
    expect(codeOf(() => verifyRevocation(signBytes(Revocation, LABELS.revocation, body, identitySigner(devKey))))).toBe('BAD_SIGNATURE');
    const r = decode(Revocation, revokeKey({ identity: alice.identity, revoked: devKey.publicKey, time: NOW, reason: 1 }));
    const b = decode(RevocationBody, r.body);
    r.body = encode(RevocationBody, { ...b, revoked: SigningKey.generate(rnd).publicKey });
    expect(codeOf(() => verifyRevocation(encode(Revocation, r)))).toBe('BAD_SIGNATURE');
  });

  test('unknown reasons and wrong lengths', () => {
    const body = encode(RevocationBody, { identity: alice.identity.typedKey, revoked: devKey.publicKey, time: NOW, reason: 4 });
    expect(codeOf(() => verifyRevocation(signBytes(Revocation, LABELS.revocation, body, alice.signer)))).toBe('WIRE_BAD_TYPE');
    expect(codeOf(() => revokeKey({ identity: alice.identity, revoked: new Uint8Array(33), time: NOW, reason: 0 }))).toBe('INVALID_ARGUMENT');
  });
});
