/**
 * Child process of the store benchmarks: the load generator for benchmark 1, pinned to the
 * other core than the store. It plays the sending stores: tiny static HTTP servers on
 * loopback (one per sending-store origin) serve the senders' well-known bundles, which the
 * recipient store fetches and verifies the first time it sees a sender; then it posts
 * pre-made notifications, one per request or in batches, over keep-alive connections, and
 * counts what the store accepted. A notification is sent once: every one is distinct.
 */
import * as http from 'node:http';
import { readFileSync } from 'node:fs';
import { wellKnownResponse } from '../src/discovery/index.js';
import { addressPath } from '../src/protocol/index.js';
import { encode } from '../src/wire/index.js';
import { NotificationBatch } from '../src/wire/schema.js';
import { serve } from './store-ipc.js';

const bundles = new Map<string, Uint8Array[]>();
const servers: http.Server[] = [];
let pool: Uint8Array[] = [];
let cursor = 0;
let wellKnownServed = 0;
const agents = new Map<string, http.Agent>();

function readRecords(file: string): Uint8Array[] {
  const b = readFileSync(file);
  const out: Uint8Array[] = [];
  for (let o = 0; o < b.length; ) {
    const n = b.readUInt16BE(o);
    out.push(new Uint8Array(b.buffer, b.byteOffset + o + 2, n));
    o += 2 + n;
  }
  return out;
}

function post(agent: http.Agent, url: URL, path: string, body: Uint8Array): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path, method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Tally {
  accepted: number;
  duplicate: number;
  errors: Record<string, number>;
}

serve({
  /** Start `n` sending-store origins on 127.0.0.1 that serve well-known bundles. */
  async listen(a: { n: number }) {
    const origins: string[] = [];
    for (let i = 0; i < a.n; i++) {
      const srv = http.createServer((req, res) => {
        const list = req.method === 'GET' ? bundles.get(req.url ?? '') : undefined;
        if (!list) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"NOT_FOUND"}');
          return;
        }
        wellKnownServed++;
        const r = wellKnownResponse(list, Math.floor(Date.now() / 1000));
        res.writeHead(200, r.headers).end(Buffer.from(r.body));
      });
      srv.keepAliveTimeout = 60_000;
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      servers.push(srv);
      origins.push(`http://127.0.0.1:${(srv.address() as { port: number }).port}`);
    }
    return origins;
  },

  publish(a: { published: { address: Uint8Array; assertions: Uint8Array[] }[] }) {
    for (const p of a.published) bundles.set(addressPath(p.address), p.assertions);
    return bundles.size;
  },

  /** Load the makers' files, interleaved, as the pool of notifications to send. */
  load(a: { files: string[] }) {
    const lists = a.files.map(readRecords);
    const longest = Math.max(...lists.map((l) => l.length));
    pool = [];
    cursor = 0;
    for (let i = 0; i < longest; i++) for (const l of lists) if (i < l.length) pool.push(l[i]!);
    return pool.length;
  },

  /** Keep this core busy for `ms` (for the store's raw-verify baseline with the other core busy). */
  spin(a: { ms: number }) {
    const end = performance.now() + a.ms;
    let x = 0;
    while (performance.now() < end) for (let i = 0; i < 10_000; i++) x = (x * 31 + i) | 0;
    return x;
  },

  remaining() {
    return pool.length - cursor;
  },

  /** Send the next `count` notifications: one per request, or `batch` per request. */
  async send(a: { url: string; mode: 'single' | 'batch'; count: number; batch: number; concurrency: number }) {
    if (cursor + a.count > pool.length) throw new Error(`pool exhausted: ${pool.length - cursor} left, ${a.count} asked`);
    const items = pool.slice(cursor, cursor + a.count);
    cursor += a.count;
    const url = new URL(a.url);
    const key = `${a.url}|${a.concurrency}`;
    let agent = agents.get(key);
    if (!agent) agents.set(key, (agent = new http.Agent({ keepAlive: true, maxSockets: a.concurrency })));
    const bodies: { path: string; body: Uint8Array; n: number }[] = [];
    if (a.mode === 'single') for (const b of items) bodies.push({ path: '/v1/notifications', body: b, n: 1 });
    else
      for (let i = 0; i < items.length; i += a.batch) {
        const chunk = items.slice(i, i + a.batch);
        bodies.push({ path: '/v1/notifications/batch', body: encode(NotificationBatch, { notifications: chunk }), n: chunk.length });
      }
    const tally: Tally = { accepted: 0, duplicate: 0, errors: {} };
    const err = (code: string, n = 1) => (tally.errors[code] = (tally.errors[code] ?? 0) + n);
    let next = 0;
    const latencies: number[] = [];
    const worker = async () => {
      while (next < bodies.length) {
        const x = bodies[next++]!;
        const s = performance.now();
        let r: { status: number; body: string };
        try {
          r = await post(agent, url, x.path, x.body);
        } catch (e) {
          err(`transport: ${(e as Error).message}`, x.n);
          continue;
        }
        latencies.push(performance.now() - s);
        if (a.mode === 'single') {
          if (r.status === 202) tally.accepted++;
          else if (r.status === 200) tally.duplicate++;
          else err(safeCode(r.body, r.status));
        } else if (r.status !== 200) err(safeCode(r.body, r.status), x.n);
        else {
          for (const res of (JSON.parse(r.body) as { results: ({ status: string } | { error: string })[] }).results) {
            if ('error' in res) err(res.error);
            else if (res.status === 'accepted') tally.accepted++;
            else tally.duplicate++;
          }
        }
      }
    };
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(a.concurrency, bodies.length) }, worker));
    const wallMs = performance.now() - t0;
    const cu = process.cpuUsage(c0);
    latencies.sort((x, y) => x - y);
    return {
      ...tally,
      sent: items.length,
      requests: bodies.length,
      wallMs,
      cpuMs: (cu.user + cu.system) / 1000,
      p50Ms: latencies[Math.floor(latencies.length * 0.5)] ?? NaN,
      p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
      wellKnownServed,
    };
  },
});

function safeCode(body: string, status: number): string {
  try {
    return String((JSON.parse(body) as { error?: string }).error ?? `HTTP ${status}`);
  } catch {
    return `HTTP ${status}`;
  }
}
