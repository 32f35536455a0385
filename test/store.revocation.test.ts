/**
 * Removing a lost device: an identity-signed Revocation posted by any of the user's devices.
 * Real stores on loopback; the second store checks that the removal survives a restart.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { StoreClient } from '../src/client/store-client.js';
import { seededRandom, systemRandom } from '../src/crypto/index.js';
import { SigningKey } from '../src/identity/index.js';
import { certifySubkey, makeNotification, PURPOSE, REVOCATION_REASON, revokeKey, subkeySigner, type Signer } from '../src/protocol/index.js';
import type { RunningStore } from '../src/server/server.js';
import { makeUser } from './helpers.js';
import { joinStore, Net, now, post, sleep, type Member } from './store-fixtures.js';

const net = new Net();
let A: RunningStore;
let ann: Member;
let bo: Member;
let phone: { key: SigningKey; signer: Signer; cert: Uint8Array; client: StoreClient };

beforeAll(async () => {
  A = await net.start('revocation');
  ann = await joinStore(A, 'rev-ann');
  bo = await joinStore(A, 'rev-bo', { prefetch: false });
  const key = SigningKey.generate(seededRandom('rev-phone'));
  const t = now();
  const cert = certifySubkey({ identity: ann.u.identity, purpose: PURPOSE.device, subkey: key.publicKey, notBefore: t - 60, notAfter: t + 86400 });
  const signer = subkeySigner(ann.u.identity.typedKey, key, cert);
  phone = { key, signer, cert, client: new StoreClient({ url: A.url, signer }) };
  await ann.c.addDevice(cert);
});
afterAll(() => net.close());

const revocation = (identity: SigningKey, revoked: Uint8Array) => revokeKey({ identity, revoked, time: now(), reason: REVOCATION_REASON.compromised });

describe('POST /v1/me/revocations', () => {
  test('refuses a revocation by another identity, of a key that is not the user\'s device, or of the only device', async () => {
    const eve = makeUser('rev-eve');
    await expect(ann.c.revokeDevice(revocation(eve.identity, phone.key.publicKey))).rejects.toMatchObject({ code: 'SUBJECT_MISMATCH' });
    await expect(ann.c.revokeDevice(revocation(ann.u.identity, bo.u.device.key.publicKey))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(bo.c.revokeDevice(revocation(bo.u.identity, bo.u.device.key.publicKey))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await bo.c.inbox()).items).toEqual([]); // bo still has its device
    // A device cannot revoke on its own word: the body must be signed by the identity key.
    const forged = revocation(ann.u.identity, phone.key.publicKey);
    forged[forged.length - 1]! ^= 1;
    await expect(ann.c.revokeDevice(forged)).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    expect((await phone.client.inbox()).items).toEqual([]);
  });

  test('the revoked device stops at once, cannot come back, and what it signs is refused; the user goes on', async () => {
    // A notification the phone signed before it was lost, to bo on this store.
    const stale = makeNotification({ sender: phone.signer, recipient: { address: bo.u.address }, store: A.url, id: systemRandom(32), size: 10, time: now(), expires: now() + 3600, random: systemRandom });
    expect((await ann.c.revokeDevice(revocation(ann.u.identity, phone.key.publicKey))).revoked).toBe(Buffer.from(phone.key.publicKey).toString('hex'));
    await expect(phone.client.inbox()).rejects.toMatchObject({ code: 'NOT_REGISTERED' });
    await expect(ann.c.addDevice(phone.cert)).rejects.toMatchObject({ code: 'KEY_REVOKED' });
    const r = await post(A.url, '/v1/notifications', stale);
    expect([r.status, r.json.error]).toEqual([403, 'KEY_REVOKED']);
    expect((await ann.c.inbox()).items).toEqual([]);

    // After a restart, all of it still holds.
    const port = Number(new URL(A.url).port);
    await A.close();
    A = await net.start('revocation', { port });
    await sleep(100); // let the client's pool see that the old process closed its connections
    const client = new StoreClient({ url: A.url, signer: phone.signer });
    await expect(client.inbox()).rejects.toMatchObject({ code: 'NOT_REGISTERED' });
    await expect(new StoreClient({ url: A.url, signer: ann.u.device }).addDevice(phone.cert)).rejects.toMatchObject({ code: 'KEY_REVOKED' });
  });
});
