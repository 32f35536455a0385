/**
 * What a store remembers across a restart besides its data: the nonces of state-changing
 * requests (a captured request is not accepted again once the store restarted within its
 * window) and the rollback marks of the assertions it resolved (an older assertion is not
 * taken again). Real stores on loopback, restarted on the same data folder and port.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { systemRandom } from '../src/crypto/index.js';
import { wellKnownResponse } from '../src/discovery/index.js';
import { addressToText } from '../src/identity/index.js';
import { addressPath, makeAssertion, makeNotification, makeRequestAuth } from '../src/protocol/index.js';
import { makeUser } from './helpers.js';
import { joinStore, Net, now, post as postOnce, type RawReply } from './store-fixtures.js';

const net = new Net();
afterAll(() => net.close());

// After a restart, the first request may go out on a kept-alive connection the old process
// closed; it never reached a store, so sending it once more is what any client does.
async function onceMore<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if ((e as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw e;
    return f();
  }
}

async function replay(url: string, method: string, path: string, auth: string, body?: string): Promise<RawReply> {
  const res = await onceMore(() => fetch(url + path, { method, headers: { authorization: auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body } : {}) }));
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(), json: await res.json() };
}

const post = (url: string, path: string, body: Uint8Array) => onceMore(() => postOnce(url, path, body));

describe('request nonces', () => {
  test('a state-changing request is refused as REPLAY after a restart; a read is not remembered', async () => {
    let A = await net.start('nonces');
    const port = Number(new URL(A.url).port);
    const ann = await joinStore(A, 'restart-ann');
    const other = makeUser('restart-contact');
    const body = JSON.stringify({ address: addressToText(other.address) });
    const write = makeRequestAuth(ann.u.device, { method: 'POST', path: '/v1/contacts', body: new TextEncoder().encode(body), store: A.url }, now(), systemRandom);
    const read = makeRequestAuth(ann.u.device, { method: 'GET', path: '/v1/inbox', body: new Uint8Array(0), store: A.url }, now(), systemRandom);
    expect((await replay(A.url, 'POST', '/v1/contacts', write, body)).status).toBe(200);
    expect((await replay(A.url, 'GET', '/v1/inbox', read)).status).toBe(200);
    expect((await replay(A.url, 'POST', '/v1/contacts', write, body)).json.error).toBe('REPLAY');

    await A.close();
    A = await net.start('nonces', { port });
    const again = await replay(A.url, 'POST', '/v1/contacts', write, body);
    expect([again.status, again.json.error]).toEqual([409, 'REPLAY']);
    // Reads are remembered in memory only: replaying one changes nothing.
    expect((await replay(A.url, 'GET', '/v1/inbox', read)).status).toBe(200);
  });
});

describe('rollback marks', () => {
  let origin: Server;
  let url = '';
  let bundle: Uint8Array[] = [];
  beforeAll(async () => {
    origin = createServer((req, res) => {
      const r = wellKnownResponse(bundle, now());
      if (req.url !== path) return void res.writeHead(404).end();
      res.writeHead(200, r.headers).end(Buffer.from(r.body));
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(origin.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => origin.close(() => r())));

  const sam = makeUser('restart-sam');
  const path = addressPath(sam.address);
  const storesAssertion = (seq: number) =>
    makeAssertion({ identity: sam.identity, seq, notBefore: now() - 60, notAfter: now() + 86400, content: { type: 'stores', stores: [{ priority: 10, url }] } });
  const note = (to: Uint8Array) => makeNotification({ sender: sam.device, recipient: { address: to }, store: url, id: systemRandom(32), size: 100, time: now(), expires: now() + 86400, random: systemRandom });

  test('an assertion older than one resolved before the restart is refused after it', async () => {
    let B = await net.start('marks');
    const port = Number(new URL(B.url).port);
    const bea = await joinStore(B, 'restart-bea', { prefetch: false });
    bundle = [storesAssertion(5)];
    expect((await post(B.url, '/v1/notifications', note(bea.u.address))).status).toBe(202);
    expect(B.storage.getSeenSeq(sam.address, 'stores')).toBe(5);

    await B.close();
    B = await net.start('marks', { port });
    expect(B.storage.getSeenSeq(sam.address, 'stores')).toBe(5);
    // The origin now serves seq 4 (validly signed, but older): nothing valid is left to trust.
    bundle = [storesAssertion(4)];
    const r = await post(B.url, '/v1/notifications', note(bea.u.address));
    expect([r.status, r.json.error]).toEqual([502, 'DISCOVERY_FAILED']);
    bundle = [storesAssertion(6)];
    expect((await post(B.url, '/v1/notifications', note(bea.u.address))).status).toBe(202);
    expect(B.storage.getSeenSeq(sam.address, 'stores')).toBe(6);
  });
});
