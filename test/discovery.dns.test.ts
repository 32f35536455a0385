/**
 * The resolver over DNS, against a REAL authoritative server: Debian's Knot DNS (knotd)
 * on a free loopback port, serving a zone built from the records zoneRecords() and
 * nameZoneRecords() print. knotd must be installed (.ci/setup-dns.sh); without it this
 * file fails in beforeAll, it does not skip.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { equal, toHex } from '../src/bytes/index.js';
import { encryptionKey, nameZoneRecords, Resolver, stores, wellKnownResponse, zoneRecords, type ResolverOptions } from '../src/discovery/index.js';
import { addressOwnerName, addressPath, nameOwnerName } from '../src/protocol/index.js';
import { assertion, keysOf, nameOf, policyOf, storesOf, tamper } from './dns/fixtures.js';
import { startKnot, type Knot } from './dns/knot.js';
import { makeUser, NOW } from './helpers.js';

const ZONE = 'example.test';
const alice = makeUser('dns-alice'); // everything, with a long keys assertion
const bob = makeUser('dns-bob'); // published behind bob@example.test
const carol = makeUser('dns-carol'); // published behind carol@…, but her key claims another name
const dave = makeUser('dns-dave'); // a tampered assertion beside valid ones
const erin = makeUser('dns-erin'); // only tampered or foreign assertions
const frank = makeUser('dns-frank'); // DNS has seq 1, HTTP has seq 2

const STORE = 'https://store.example.test';
const aliceKeys = assertion(alice, keysOf(alice, 30));

let knot: Knot;
let http: Server;
let httpOrigin: string;
let silent: Socket;
let printed: string[];

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code?: string }).code ?? 'untyped', message: (e as Error).message };
  }
  return { code: 'ok', message: '' };
}

const resolver = (o: Partial<ResolverOptions> = {}) => new Resolver({ now: () => NOW, dnsServers: [knot.server], timeoutMs: 3000, ...o });

beforeAll(async () => {
  // What an operator pastes into the zone: the lines keypost prints.
  printed = [
    ...zoneRecords([assertion(alice, storesOf([20, 'https://backup.example.test'], [10, STORE])), aliceKeys, assertion(alice, nameOf('alice@example.test')), assertion(alice, policyOf(16))], alice.address, ZONE),
    ...nameZoneRecords([assertion(alice, nameOf('alice@example.test')), aliceKeys], 'alice@example.test'),
    ...nameZoneRecords([assertion(bob, nameOf('bob@example.test')), assertion(bob, keysOf(bob)), assertion(bob, storesOf([10, STORE]))], 'bob@example.test'),
    ...zoneRecords([assertion(dave, storesOf([10, STORE])), tamper(assertion(dave, keysOf(dave), { seq: 7 })), assertion(dave, keysOf(dave), { seq: 1 })], dave.address, ZONE),
    ...zoneRecords([tamper(assertion(erin, storesOf([10, STORE])))], erin.address, ZONE),
    ...zoneRecords([assertion(frank, storesOf([10, 'https://old.example.test']), { seq: 1 })], frank.address, ZONE),
  ];
  const extra = [
    // carol's key claims mallory@, yet the domain publishes it behind carol@.
    ...[assertion(carol, nameOf('mallory@example.test')), assertion(carol, keysOf(carol))].map(
      (a) => zoneRecords([a], carol.address, ZONE)[0]!.replace(/^\S+/, `${nameOwnerName('carol@example.test')}.`),
    ),
    // erin's owner name also holds someone else's valid assertion, a non-keypost TXT and a malformed kp1: record.
    zoneRecords([assertion(bob, storesOf([10, STORE]))], bob.address, ZONE)[0]!.replace(/^\S+/, `${addressOwnerName(erin.address, ZONE)}.`),
    `${addressOwnerName(erin.address, ZONE)}. 300 IN TXT "v=spf1 -all"`,
    `${addressOwnerName(erin.address, ZONE)}. 300 IN TXT "kp1:not*base64"`,
  ];
  knot = await startKnot([{ origin: ZONE, records: [...printed, ...extra] }]);

  http = createServer((req, res) => {
    if (req.url === addressPath(frank.address)) {
      const w = wellKnownResponse([assertion(frank, storesOf([10, 'https://new.example.test']), { seq: 2 })], NOW);
      res.writeHead(200, w.headers).end(w.body);
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpOrigin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  silent = createSocket('udp4'); // a "DNS server" that never answers
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
}, 60_000);

afterAll(async () => {
  await knot?.stop();
  http?.closeAllConnections();
  await new Promise((r) => (http ? http.close(r) : r(undefined)));
  silent?.close();
});

describe(`resolving through a real authoritative DNS server`, () => {
  test('the records keypost prints are valid master-file TXT lines, long ones split into ≤255-byte strings', () => {
    expect(knot.version).toMatch(/Knot DNS/);
    const keysLine = zoneRecords([aliceKeys], alice.address, ZONE)[0]!;
    expect(keysLine.startsWith(`${addressOwnerName(alice.address, ZONE)}. 3600 IN TXT "kp1:`)).toBe(true);
    const strings = [...keysLine.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
    expect(strings.length).toBeGreaterThan(3);
    expect(strings.every((s) => s.length <= 255)).toBe(true);
    for (const line of printed) expect(line).toMatch(/^[a-z0-9_.]+\. \d+ IN TXT( "[A-Za-z0-9+/=:]{1,255}")+$/);
  });

  test('an address with every type, a long keys record among them (an answer too large for UDP)', async () => {
    const r = await resolver().resolve(alice.address, { zone: ZONE });
    expect(r.problems).toEqual([]);
    expect(stores(r).map((s) => s.url)).toEqual([STORE, 'https://backup.example.test']);
    expect(toHex(encryptionKey(r, NOW))).toBe(toHex(alice.enc.publicKey));
    expect(r.keys?.content.type === 'keys' && r.keys.content.keys.length).toBe(31);
    expect(r.name?.content).toEqual({ type: 'name', name: 'alice@example.test' });
    expect(r.policy?.content).toMatchObject({ policy: { powBits: 16 } });
  });

  test('a tampered assertion in DNS is ignored; the valid ones are used', async () => {
    const r = await resolver().resolve(dave.address, { zone: ZONE });
    expect(r.keys?.seq).toBe(1); // the forged seq 7 did not win
    expect(stores(r)).toEqual([{ priority: 10, url: STORE }]);
    expect(r.problems.join()).toContain('BAD_SIGNATURE');
  });

  test('only tampered, foreign, non-keypost and malformed records: DISCOVERY_FAILED', async () => {
    const f = await failure(resolver().resolve(erin.address, { zone: ZONE }));
    expect(f.code).toBe('DISCOVERY_FAILED');
    expect(f.message).toContain('BAD_SIGNATURE');
    expect(f.message).toContain('SUBJECT_MISMATCH');
    expect(f.message).toContain('WIRE_MALFORMED');
  });

  test('an address with nothing published: DISCOVERY_FAILED', async () => {
    const f = await failure(resolver().resolve(makeUser('dns-nobody').address, { zone: ZONE }));
    expect(f).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('no TXT records') });
  });

  test('a name, two ways: the domain publishes the key, and the key claims the name', async () => {
    const r = await resolver().resolveName('bob@example.test', { base: null });
    expect(equal(r.address, bob.address)).toBe(true);
    expect(r.name.content).toEqual({ type: 'name', name: 'bob@example.test' });
    expect(stores(r)).toEqual([{ priority: 10, url: STORE }]);
    expect(toHex(encryptionKey(r, NOW))).toBe(toHex(bob.enc.publicKey));
  });

  test('the name record holds a key whose name assertion names another name: DISCOVERY_FAILED', async () => {
    const f = await failure(resolver().resolveName('carol@example.test', { base: null }));
    expect(f).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('no key claims carol@example.test') });
    expect((await failure(resolver().resolveName('nobody@example.test', { base: null }))).code).toBe('DISCOVERY_FAILED');
  });

  test('verifiedName: alice by address, then her name back through DNS', async () => {
    const r = resolver();
    const a = await r.resolve(alice.address, { zone: ZONE });
    expect(await r.verifiedName(a, { base: null })).toBe('alice@example.test');
  });

  test('DNS and HTTP together: the higher seq wins whichever transport carried it', async () => {
    const r = await resolver().resolve(frank.address, { zone: ZONE, store: httpOrigin });
    expect(r.stores?.seq).toBe(2);
    expect(stores(r)[0]!.url).toBe('https://new.example.test');
  });

  test('one working source is enough: a dead store beside DNS, a dead DNS server beside HTTP', async () => {
    const viaDns = await resolver().resolve(alice.address, { zone: ZONE, store: 'http://127.0.0.1:1' });
    expect(stores(viaDns)[0]!.url).toBe(STORE);
    expect(viaDns.problems.join()).toContain('http://127.0.0.1:1');
    const deadDns = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const viaHttp = await resolver({ dnsServers: [deadDns], timeoutMs: 400 }).resolve(frank.address, { zone: ZONE, store: httpOrigin });
    expect(viaHttp.stores?.seq).toBe(2);
    expect(viaHttp.problems.join()).toContain('timed out');
  });

  test('a DNS server that never answers: DISCOVERY_FAILED within the timeout', async () => {
    const deadDns = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const t0 = Date.now();
    const f = await failure(resolver({ dnsServers: [deadDns], timeoutMs: 400 }).resolve(alice.address, { zone: ZONE }));
    expect(f).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('timed out') });
    expect(Date.now() - t0).toBeLessThan(3000); // margin for a loaded CI machine; the default timeout is 5 s
  });
});
