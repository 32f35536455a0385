import { describe, expect, test } from 'vitest';
import { seededRandom } from '../src/crypto/index.js';
import { utf8 } from '../src/bytes/index.js';
import { makeRequestAuth, verifyRequestAuth, type RequestToSign } from '../src/protocol/index.js';
import { codeOf, makeUser, NOW } from './helpers.js';

const alice = makeUser('alice');
const rnd = seededRandom('request');
const req: RequestToSign = { method: 'POST', path: '/v1/messages', body: utf8('payload'), store: 'https://a.example' };

describe('signed user requests', () => {
  test('a device-signed request verifies and names the user and device key', () => {
    const h = makeRequestAuth(alice.device, req, NOW, rnd);
    const v = verifyRequestAuth(h, req, { now: NOW });
    expect(Buffer.from(v.user).equals(Buffer.from(alice.address))).toBe(true);
    expect(Buffer.from(v.signingKey).equals(Buffer.from(alice.device.key.publicKey))).toBe(true);
    // Two requests differ by nonce, so their replay keys differ.
    const v2 = verifyRequestAuth(makeRequestAuth(alice.device, req, NOW, rnd), req, { now: NOW });
    expect(Buffer.from(v2.hash).equals(Buffer.from(v.hash))).toBe(false);
  });

  test('anything not as signed is refused with its code', () => {
    const h = makeRequestAuth(alice.device, req, NOW, rnd);
    expect(codeOf(() => verifyRequestAuth(undefined, req, { now: NOW }))).toBe('AUTH_REQUIRED');
    expect(codeOf(() => verifyRequestAuth('Bearer x', req, { now: NOW }))).toBe('AUTH_REQUIRED');
    expect(codeOf(() => verifyRequestAuth('KP1 !!!', req, { now: NOW }))).toBe('WIRE_MALFORMED');
    expect(codeOf(() => verifyRequestAuth(h, { ...req, path: '/v1/other' }, { now: NOW }))).toBe('SUBJECT_MISMATCH');
    expect(codeOf(() => verifyRequestAuth(h, { ...req, method: 'GET' }, { now: NOW }))).toBe('SUBJECT_MISMATCH');
    expect(codeOf(() => verifyRequestAuth(h, { ...req, store: 'https://b.example' }, { now: NOW }))).toBe('SUBJECT_MISMATCH');
    expect(codeOf(() => verifyRequestAuth(h, { ...req, body: utf8('payloaD') }, { now: NOW }))).toBe('CONTENT_HASH_MISMATCH');
    expect(codeOf(() => verifyRequestAuth(h, req, { now: NOW + 901 }))).toBe('EXPIRED');
    expect(codeOf(() => verifyRequestAuth(h, req, { now: NOW - 301 }))).toBe('NOT_YET_VALID');
    expect(codeOf(() => verifyRequestAuth(h, req, { now: NOW, isRevoked: () => true }))).toBe('KEY_REVOKED');
    // The store delegate may fetch and confirm, but never act as the user.
    expect(codeOf(() => verifyRequestAuth(makeRequestAuth(alice.delegate, req, NOW, rnd), req, { now: NOW }))).toBe('CERT_PURPOSE');
    // A flipped bit in the signed object.
    const raw = Buffer.from(h.slice(4), 'base64url');
    raw[raw.length - 5]! ^= 1;
    expect(codeOf(() => verifyRequestAuth(`KP1 ${raw.toString('base64url')}`, req, { now: NOW }))).toBe('BAD_SIGNATURE');
  });
});
