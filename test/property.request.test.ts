/**
 * Property tests of verifyRequestAuth, the store's check of a user's signed request:
 * only KeypostError may escape, and a request verifies only when it is exactly the
 * genuine one for exactly the request received.
 */
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { seededRandom } from '../src/crypto/index.js';
import { makeRequestAuth, verifyRequestAuth, type RequestToSign } from '../src/protocol/index.js';
import { NOW } from './helpers.js';
import { attempt, bytesArb, check, mutate, mutationsArb, RUNS, same, USERS } from './property.lib.test.js';

const alice = USERS[0]!;
const REQ: RequestToSign = { method: 'POST', path: '/v1/messages', body: new TextEncoder().encode('body'), store: 'https://a.example' };
const GENUINE = makeRequestAuth(alice.device, REQ, NOW, seededRandom('property-request'));
const RAW = new Uint8Array(Buffer.from(GENUINE.slice(4), 'base64url'));

describe('verifyRequestAuth', () => {
  test('arbitrary header strings: refused with a KeypostError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 3000 }), (h) => {
        const r = attempt(() => `header ${JSON.stringify(h.slice(0, 80))}`, () => verifyRequestAuth(h, REQ, { now: NOW }));
        check(!r.ok, 'an arbitrary header verified');
      }),
      { numRuns: RUNS },
    );
  });

  test('arbitrary bytes after the scheme: refused with a KeypostError', () => {
    fc.assert(
      fc.property(bytesArb(0, 2000, 2000), (b) => {
        const r = attempt('random KP1 header', () => verifyRequestAuth(`KP1 ${Buffer.from(b).toString('base64url')}`, REQ, { now: NOW }));
        check(!r.ok, 'random bytes verified');
      }),
      { numRuns: RUNS },
    );
  });

  test('a mutated genuine header verifies only if the bytes came back unchanged', () => {
    fc.assert(
      fc.property(mutationsArb, (ms) => {
        const m = mutate(RAW, ms);
        const r = attempt('mutated header', () => verifyRequestAuth(`KP1 ${Buffer.from(m).toString('base64url')}`, REQ, { now: NOW }));
        check(r.ok === same(m, RAW), () => `mutation ${r.ok ? 'verified' : 'refused'}`);
      }),
      { numRuns: RUNS },
    );
  });

  test('the genuine header verifies only for the request it signed', () => {
    fc.assert(
      fc.property(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'), fc.constantFrom('/v1/messages', '/v1/inbox', '/v1/messages?x=1'), fc.boolean(), fc.boolean(), (method, path, sameBody, sameStore) => {
        const req: RequestToSign = {
          method,
          path,
          body: sameBody ? REQ.body : new TextEncoder().encode('other'),
          store: sameStore ? REQ.store : 'https://b.example',
        };
        const r = attempt('request variant', () => verifyRequestAuth(GENUINE, req, { now: NOW }));
        const isSame = method === REQ.method && path === REQ.path && sameBody && sameStore;
        check(r.ok === isSame, () => `variant ${method} ${path} ${sameBody} ${sameStore} ${r.ok ? 'verified' : 'refused'}`);
      }),
      { numRuns: RUNS },
    );
  });
});
