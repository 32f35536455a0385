/**
 * The resolver over HTTP, against a real HTTP server on 127.0.0.1 serving well-known
 * bundles. The transport is untrusted: whatever the server serves, only assertions that
 * verify for the address asked about are used, and a broken server costs only itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import { equal, toHex } from '../src/bytes/index.js';
import {
  BUNDLE_MEDIA_TYPE,
  encryptionKey,
  MemorySeqStore,
  Resolver,
  stores,
  wellKnownResponse,
  type ResolverOptions,
} from '../src/discovery/index.js';
import { addressPath, encodeBundle, namePath, verifyAssertion } from '../src/protocol/index.js';
import { assertion, keysOf, nameOf, policyOf, storesOf, tamper } from './dns/fixtures.js';
import { codeOf, makeUser, NOW } from './helpers.js';

const alice = makeUser('disc-alice');
const bob = makeUser('disc-bob');
const mallory = makeUser('disc-mallory');

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>();
const hits = new Map<string, number>();
let server: Server;
let origin: string;
let clock = NOW;

const hitsOf = (path: string) => hits.get(path) ?? 0;

/** Serve a bundle at `path`, with the headers a store sends (CORS, cache). */
function serve(path: string, assertions: Uint8Array[]): void {
  routes.set(path, (_req, res) => {
    const r = wellKnownResponse(assertions, clock);
    res.writeHead(200, { ...r.headers, 'content-length': String(r.body.length) });
    res.end(r.body);
  });
}

const serveAddress = (u: typeof alice, assertions: Uint8Array[]) => serve(addressPath(u.address), assertions);

function resolver(o: Partial<ResolverOptions> = {}): Resolver {
  return new Resolver({ now: () => clock, timeoutMs: 2000, ...o });
}

/** The error a promise rejects with: its code and message. */
async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code?: string }).code ?? 'untyped', message: (e as Error).message };
  }
  return { code: 'ok', message: '' };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    hits.set(path, hitsOf(path) + 1);
    const h = routes.get(path);
    if (h) return h(req, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  routes.clear();
  hits.clear();
  clock = NOW;
});

describe('resolving an address over HTTP', () => {
  test('valid assertions: every type is returned, verified; stores sorted; the current encryption key', async () => {
    const storesA = assertion(alice, storesOf([20, 'https://backup.example.test'], [10, origin], [20, 'https://b2.example.test:8443']));
    const keysA = assertion(alice, keysOf(alice, 2));
    serveAddress(alice, [storesA, keysA, assertion(alice, nameOf('alice@example.test')), assertion(alice, policyOf(12))]);
    const r = await resolver().resolve(alice.address, { store: origin });
    expect(equal(r.address, alice.address)).toBe(true);
    expect(r.problems).toEqual([]);
    expect(r.stores?.content).toMatchObject({ type: 'stores' });
    expect(stores(r).map((s) => s.url)).toEqual([origin, 'https://backup.example.test', 'https://b2.example.test:8443']);
    expect(r.name?.content).toEqual({ type: 'name', name: 'alice@example.test' });
    expect(r.policy?.content).toMatchObject({ type: 'policy', policy: { powBits: 12 } });
    expect(toHex(encryptionKey(r, clock))).toBe(toHex(alice.enc.publicKey));
    expect(r.expires).toBe(NOW + 3600); // capped by maxTtl (the assertions last a day)
  });

  test('the well-known answer carries CORS and cache headers', async () => {
    const a = assertion(alice, storesOf([10, origin]), { notAfter: NOW + 600 });
    serveAddress(alice, [a]);
    const res = await fetch(origin + addressPath(alice.address));
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('content-type')).toBe(BUNDLE_MEDIA_TYPE);
    expect(res.headers.get('cache-control')).toBe('public, max-age=600'); // the earliest notAfter
    expect(wellKnownResponse([a], NOW + 550).headers['cache-control']).toBe('public, max-age=50');
    expect(wellKnownResponse([a], NOW + 9999).headers['cache-control']).toBe('public, max-age=0');
    expect(wellKnownResponse([assertion(alice, storesOf([10, origin]))], NOW, { maxAge: 120 }).headers['cache-control']).toBe('public, max-age=120');
  });

  test('bad assertions served alongside a valid one are ignored: the valid one wins', async () => {
    const good = assertion(alice, storesOf([10, origin]), { seq: 2 });
    const goodKeys = assertion(alice, keysOf(alice), { seq: 2 });
    const badSig = tamper(assertion(alice, storesOf([1, 'https://evil.example.test']), { seq: 9 }));
    expect(codeOf(() => verifyAssertion(badSig, { now: NOW }))).toBe('BAD_SIGNATURE');
    const expired = assertion(alice, storesOf([1, 'https://old.example.test']), { seq: 9, notBefore: NOW - 9000, notAfter: NOW - 3600 });
    const notYet = assertion(alice, keysOf(mallory), { seq: 9, notBefore: NOW + 3600, notAfter: NOW + 7200 });
    const otherAddress = assertion(mallory, storesOf([1, 'https://evil.example.test']), { seq: 9 });
    serveAddress(alice, [badSig, expired, otherAddress, good, notYet, goodKeys]);
    const seqs = new MemorySeqStore();
    const r = await resolver({ seqStore: seqs }).resolve(alice.address, { store: origin });
    expect(r.stores?.seq).toBe(2);
    expect(stores(r)).toEqual([{ priority: 10, url: origin }]);
    expect(toHex(encryptionKey(r, clock))).toBe(toHex(alice.enc.publicKey));
    const reasons = r.problems.join('\n');
    for (const code of ['BAD_SIGNATURE', 'EXPIRED', 'SUBJECT_MISMATCH', 'NOT_YET_VALID']) expect(reasons).toContain(code);
    // Only fully verified assertions move the rollback mark: the forged seq 9 did not.
    expect(seqs.get(toHex(alice.address), 'stores')).toBe(2);
    expect(seqs.get(toHex(alice.address), 'keys')).toBe(2);
    expect(seqs.get(toHex(mallory.address), 'stores')).toBeUndefined();
  });

  test('per type the valid assertion with the highest seq is kept', async () => {
    serveAddress(alice, [
      assertion(alice, storesOf([10, 'https://one.example.test']), { seq: 3 }),
      assertion(alice, storesOf([10, 'https://three.example.test']), { seq: 7 }),
      assertion(alice, storesOf([10, 'https://two.example.test']), { seq: 5 }),
    ]);
    const r = await resolver().resolve(alice.address, { store: origin });
    expect(r.stores?.seq).toBe(7);
    expect(stores(r)[0]!.url).toBe('https://three.example.test');
  });

  test('only bad assertions: DISCOVERY_FAILED, with the reasons', async () => {
    serveAddress(alice, [
      tamper(assertion(alice, storesOf([10, origin]))),
      assertion(alice, storesOf([10, origin]), { notBefore: NOW - 9000, notAfter: NOW - 3600 }),
      assertion(bob, storesOf([10, origin])),
    ]);
    const f = await failure(resolver().resolve(alice.address, { store: origin }));
    expect(f.code).toBe('DISCOVERY_FAILED');
    expect(f.message).toContain('BAD_SIGNATURE');
    expect(f.message).toContain('EXPIRED');
    expect(f.message).toContain('SUBJECT_MISMATCH');
  });

  test('nothing published (404) and an empty bundle: DISCOVERY_FAILED', async () => {
    expect(await failure(resolver().resolve(alice.address, { store: origin }))).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('HTTP 404') });
    routes.set(addressPath(alice.address), (_q, res) => res.writeHead(200).end(encodeBundle([])));
    expect((await failure(resolver().resolve(alice.address, { store: origin }))).code).toBe('DISCOVERY_FAILED');
  });

  test('rollback: seq 5, then seq 3 is refused (ROLLBACK), seq 5 again is fine', async () => {
    const r = resolver({ maxTtl: 0 }); // no caching: every call goes to the server
    serveAddress(alice, [assertion(alice, storesOf([10, 'https://new.example.test']), { seq: 5 })]);
    expect((await r.resolve(alice.address, { store: origin })).stores?.seq).toBe(5);
    serveAddress(alice, [assertion(alice, storesOf([10, 'https://old.example.test']), { seq: 3 })]);
    const f = await failure(r.resolve(alice.address, { store: origin }));
    expect(f).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('ROLLBACK') });
    serveAddress(alice, [assertion(alice, storesOf([10, 'https://new.example.test']), { seq: 5 })]);
    expect((await r.resolve(alice.address, { store: origin })).stores?.seq).toBe(5);
    // An older assertion served beside the newer one is ignored, not fatal.
    serveAddress(alice, [assertion(alice, storesOf([10, 'https://old.example.test']), { seq: 3 }), assertion(alice, storesOf([10, 'https://new.example.test']), { seq: 5 })]);
    const both = await r.resolve(alice.address, { store: origin });
    expect(stores(both)[0]!.url).toBe('https://new.example.test');
    expect(both.problems.join()).toContain('ROLLBACK');
    expect(hitsOf(addressPath(alice.address))).toBe(4);
  });

  test('rollback marks are per type, and survive in a shared seqStore (a new resolver refuses too)', async () => {
    const seqs = new MemorySeqStore();
    const r1 = resolver({ seqStore: seqs });
    serveAddress(alice, [assertion(alice, storesOf([10, origin]), { seq: 5 }), assertion(alice, keysOf(alice), { seq: 1 })]);
    await r1.resolve(alice.address, { store: origin });
    const r2 = resolver({ seqStore: seqs });
    serveAddress(alice, [assertion(alice, storesOf([10, origin]), { seq: 4 }), assertion(alice, keysOf(alice), { seq: 1 })]);
    const r = await r2.resolve(alice.address, { store: origin });
    expect(r.stores).toBeUndefined(); // stores seq 4 < 5: refused
    expect(r.keys?.seq).toBe(1); // keys has its own mark
    expect(r.problems.join()).toContain('ROLLBACK');
    // A seqStore may be asynchronous (a database).
    const asyncSeqs = {
      m: new Map<string, number>(),
      async get(a: string, t: string) {
        return this.m.get(a + t);
      },
      async set(a: string, t: string, s: number) {
        this.m.set(a + t, s);
      },
    };
    const r3 = resolver({ seqStore: asyncSeqs, maxTtl: 0 });
    serveAddress(alice, [assertion(alice, storesOf([10, origin]), { seq: 8 })]);
    await r3.resolve(alice.address, { store: origin });
    serveAddress(alice, [assertion(alice, storesOf([10, origin]), { seq: 6 })]);
    expect((await failure(r3.resolve(alice.address, { store: origin }))).message).toContain('ROLLBACK');
  });

  test('the cache honours the earliest expiry of the kept assertions, and maxTtl', async () => {
    const path = addressPath(alice.address);
    serveAddress(alice, [assertion(alice, storesOf([10, origin]), { notAfter: NOW + 600 }), assertion(alice, keysOf(alice), { notAfter: NOW + 900 })]);
    const r = resolver();
    const first = await r.resolve(alice.address, { store: origin });
    expect(first.expires).toBe(NOW + 600);
    await r.resolve(alice.address, { store: origin });
    clock = NOW + 599;
    expect(await r.resolve(alice.address, { store: origin })).toBe(first);
    expect(hitsOf(path)).toBe(1);
    clock = NOW + 600;
    serveAddress(alice, [assertion(alice, storesOf([10, origin]), { seq: 2, notAfter: NOW + 5000 })]);
    const second = await r.resolve(alice.address, { store: origin });
    expect(hitsOf(path)).toBe(2);
    expect(second.stores?.seq).toBe(2);
    expect(second.expires).toBe(NOW + 600 + 3600); // capped by maxTtl
    // invalidate() forgets it.
    r.invalidate(alice.address);
    await r.resolve(alice.address, { store: origin });
    expect(hitsOf(path)).toBe(3);
    // A short maxTtl.
    const short = resolver({ maxTtl: 100 });
    clock = NOW;
    await short.resolve(alice.address, { store: origin });
    clock = NOW + 99;
    await short.resolve(alice.address, { store: origin });
    expect(hitsOf(path)).toBe(4);
    clock = NOW + 100;
    await short.resolve(alice.address, { store: origin });
    expect(hitsOf(path)).toBe(5);
  });

  test('concurrent lookups of one address share one request; failures are not cached', async () => {
    const path = addressPath(alice.address);
    routes.set(path, (_q, res) => {
      setTimeout(() => {
        const w = wellKnownResponse([assertion(alice, storesOf([10, origin]))], clock);
        res.writeHead(200, w.headers).end(w.body);
      }, 50);
    });
    const r = resolver();
    const [a, b] = await Promise.all([r.resolve(alice.address, { store: origin }), r.resolve(alice.address, { store: origin })]);
    expect(a).toBe(b);
    expect(hitsOf(path)).toBe(1);
    routes.delete(addressPath(bob.address));
    await failure(r.resolve(bob.address, { store: origin }));
    await failure(r.resolve(bob.address, { store: origin }));
    expect(hitsOf(addressPath(bob.address))).toBe(2);
  });

  test('an oversize body is refused, by declared length or while streaming', async () => {
    const path = addressPath(alice.address);
    const big = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => assertion(alice, keysOf(alice, 30), { seq: i }));
    serveAddress(alice, big);
    const size = encodeBundle(big).length;
    expect(size).toBeGreaterThan(4000);
    const f = await failure(resolver({ maxBytes: 4000 }).resolve(alice.address, { store: origin }));
    expect(f).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('exceeds 4000') });
    // Chunked, no content-length, and never-ending: the reader stops past the cap.
    let written = 0;
    routes.set(path, (_q, res) => {
      res.writeHead(200, { 'content-type': BUNDLE_MEDIA_TYPE });
      const chunk = Buffer.alloc(1024, 0x41);
      const pump = () => {
        while (written < 50_000_000 && res.write(chunk)) written += chunk.length;
        if (written < 50_000_000 && !res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => (written = Infinity));
      pump();
    });
    const g = await failure(resolver({ timeoutMs: 10_000 }).resolve(alice.address, { store: origin }));
    expect(g).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('exceeds') }); // not 'timed out'
    await vi.waitFor(() => expect(written).toBe(Infinity)); // the resolver dropped the connection
  });

  test('a server that never answers: DISCOVERY_FAILED within the timeout', async () => {
    routes.set(addressPath(alice.address), () => {}); // accepts, never responds
    const t0 = Date.now();
    const f = await failure(resolver({ timeoutMs: 300 }).resolve(alice.address, { store: origin }));
    const took = Date.now() - t0;
    expect(f).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('timed out') });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3000); // margin for a loaded CI machine; the default timeout is 5 s
    // Headers sent, then the body stalls.
    routes.set(addressPath(alice.address), (_q, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write(Buffer.alloc(10));
    });
    const t1 = Date.now();
    expect((await failure(resolver({ timeoutMs: 300 }).resolve(alice.address, { store: origin }))).message).toContain('timed out');
    expect(Date.now() - t1).toBeLessThan(3000);
  });

  test('garbage, errors and redirects: DISCOVERY_FAILED, never a crash', async () => {
    const path = addressPath(alice.address);
    const answers: Handler[] = [
      (_q, res) => res.writeHead(200).end(Buffer.from('<html>hello</html>')),
      (_q, res) => res.writeHead(200).end(Buffer.alloc(0)),
      (_q, res) => res.writeHead(200).end(Buffer.concat([Buffer.from(encodeBundle([assertion(alice, storesOf([10, origin]))])), Buffer.from([0])])),
      (_q, res) => res.writeHead(200).end(Buffer.from([0x81, 0x01, 0x91, 0xc4, 0x05, 1, 2, 3, 4, 5])), // a bundle of one 5-byte "assertion"
      (_q, res) => res.writeHead(500).end('oops'),
      (_q, res) => res.writeHead(302, { location: 'http://127.0.0.1:1/' }).end(),
      (q) => q.socket.destroy(),
    ];
    for (const [i, h] of answers.entries()) {
      routes.set(path, h);
      const f = await failure(resolver().resolve(alice.address, { store: origin }));
      expect(f.code, `answer #${i}: ${f.message}`).toBe('DISCOVERY_FAILED');
    }
  });

  test('an unreachable store: DISCOVERY_FAILED', async () => {
    const f = await failure(resolver().resolve(alice.address, { store: 'http://127.0.0.1:1' }));
    expect(f.code).toBe('DISCOVERY_FAILED');
  });

  test('bad arguments are INVALID_ARGUMENT', async () => {
    const r = resolver();
    expect((await failure(r.resolve(alice.address, {}))).code).toBe('INVALID_ARGUMENT');
    expect((await failure(r.resolve(alice.address, { store: 'http://example.test' }))).code).toBe('INVALID_ARGUMENT'); // plain http off loopback
    expect((await failure(r.resolve(alice.address, { store: `${origin}/` }))).code).toBe('INVALID_ARGUMENT');
    expect((await failure(r.resolve(alice.address, { zone: 'bad zone!' }))).code).toBe('INVALID_ARGUMENT');
    expect((await failure(r.resolve(new Uint8Array(31), { store: origin }))).code).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => new Resolver({ now: () => NOW, dnsServers: ['not an address'] }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => new Resolver({ now: () => NOW, timeoutMs: -1 }))).toBe('INVALID_ARGUMENT');
  });

  test('encryptionKey: the longest-lived unexpired X25519 key; none is DISCOVERY_FAILED', async () => {
    const keys = keysOf(alice, 1, NOW + 1000);
    if (keys.type !== 'keys') throw new Error('unreachable');
    const newer = makeUser('disc-alice-rotated').enc.publicKey;
    keys.keys.push({ purpose: 2, key: newer, notAfter: NOW + 5000 });
    serveAddress(alice, [assertion(alice, keys), assertion(bob, keysOf(bob))]);
    const r = await resolver().resolve(alice.address, { store: origin });
    expect(toHex(encryptionKey(r, NOW))).toBe(toHex(newer));
    expect(codeOf(() => encryptionKey(r, NOW + 5001))).toBe('DISCOVERY_FAILED');
    serveAddress(bob, [assertion(bob, storesOf([10, origin]))]);
    const rb = await resolver().resolve(bob.address, { store: origin });
    expect(codeOf(() => encryptionKey(rb, NOW))).toBe('DISCOVERY_FAILED');
    expect(stores(await resolver().resolve(alice.address, { store: origin }))).toEqual([]);
  });
});

describe('resolving a legacy name over HTTP (two-way check)', () => {
  const name = 'alice@example.test';

  test("the domain's name path serves the key's own name assertion: resolved, with its other assertions", async () => {
    serve(namePath(name), [assertion(alice, nameOf(name)), assertion(alice, keysOf(alice)), assertion(alice, storesOf([10, origin]))]);
    const r = await resolver().resolveName(name, { base: origin, dns: false });
    expect(equal(r.address, alice.address)).toBe(true);
    expect(r.name.content).toEqual({ type: 'name', name });
    expect(toHex(encryptionKey(r, NOW))).toBe(toHex(alice.enc.publicKey));
    expect(stores(r)).toEqual([{ priority: 10, url: origin }]);
  });

  test('a key published there that claims another name, or no name: DISCOVERY_FAILED', async () => {
    serve(namePath(name), [assertion(mallory, nameOf('mallory@example.test')), assertion(mallory, keysOf(mallory))]);
    expect(await failure(resolver().resolveName(name, { base: origin, dns: false }))).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('no key claims') });
    serve(namePath(name), [assertion(alice, keysOf(alice))]);
    expect((await failure(resolver().resolveName(name, { base: origin, dns: false }))).code).toBe('DISCOVERY_FAILED');
    // The name is exact: another spelling is another name.
    serve(namePath(name), [assertion(alice, nameOf('alice@example.test.xn--p1ai'))]);
    expect((await failure(resolver().resolveName(name, { base: origin, dns: false }))).code).toBe('DISCOVERY_FAILED');
  });

  test("a key's newer name assertion supersedes an older one that claimed the name", async () => {
    serve(namePath(name), [assertion(alice, nameOf(name), { seq: 1 }), assertion(alice, nameOf('alice2@example.test'), { seq: 2 })]);
    expect((await failure(resolver().resolveName(name, { base: origin, dns: false }))).code).toBe('DISCOVERY_FAILED');
  });

  test('two keys claiming the name: DISCOVERY_FAILED (ambiguous); a forged claim is ignored', async () => {
    serve(namePath(name), [assertion(alice, nameOf(name)), assertion(mallory, nameOf(name))]);
    expect(await failure(resolver().resolveName(name, { base: origin, dns: false }))).toMatchObject({ code: 'DISCOVERY_FAILED', message: expect.stringContaining('2 different keys') });
    serve(namePath(name), [assertion(alice, nameOf(name)), tamper(assertion(mallory, nameOf(name)))]);
    const r = await resolver().resolveName(name, { base: origin, dns: false });
    expect(equal(r.address, alice.address)).toBe(true);
    expect(r.problems.join()).toContain('BAD_SIGNATURE');
  });

  test('verifiedName: the name an address claims is shown only if the domain leads back to it', async () => {
    const r = resolver();
    serveAddress(alice, [assertion(alice, nameOf(name)), assertion(alice, storesOf([10, origin]))]);
    serveAddress(mallory, [assertion(mallory, nameOf(name))]); // mallory claims alice's name
    serve(namePath(name), [assertion(alice, nameOf(name))]);
    const a = await r.resolve(alice.address, { store: origin });
    const m = await r.resolve(mallory.address, { store: origin });
    expect(await r.verifiedName(a, { base: origin, dns: false })).toBe(name);
    expect(await r.verifiedName(m, { base: origin, dns: false })).toBeUndefined();
    // The domain publishes nothing for bob's claimed name.
    serveAddress(bob, [assertion(bob, nameOf('bob@example.test'))]);
    expect(await r.verifiedName(await r.resolve(bob.address, { store: origin }), { base: origin, dns: false })).toBeUndefined();
  });

  test('bad names and bases are refused before any I/O', async () => {
    expect((await failure(resolver().resolveName('Alice@example.test', { base: origin }))).code).toBe('WIRE_BAD_TYPE');
    expect((await failure(resolver().resolveName(name, { base: 'http://example.test' }))).code).toBe('INVALID_ARGUMENT');
    expect((await failure(resolver().resolveName(name, { base: null, dns: false }))).code).toBe('INVALID_ARGUMENT');
    expect(hits.size).toBe(0);
  });
});
