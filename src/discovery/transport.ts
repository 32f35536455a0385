/**
 * The two untrusted transports of discovery: HTTPS (the well-known paths, §8.2) and DNS
 * TXT (§8.1). Each lookup returns raw assertion bytes and never throws: a transport that
 * fails, times out, answers too much or answers garbage is one failed source, reported
 * as a problem string. What the bytes say is decided by verifyAssertion alone.
 */
import { Resolver as DnsResolver } from 'node:dns/promises';
import { KeypostError } from '../errors.js';
import { decodeBundle, txtToAssertion } from '../protocol/index.js';

/** What one source (one URL, one DNS owner name) yielded. */
export interface SourceResult {
  /** Human-readable source: the URL, or `dns:<owner name>`. */
  source: string;
  /** Assertion bytes as received, unverified. */
  assertions: Uint8Array[];
  /** Set when the source failed as a whole (transport error, timeout, size, garbage). */
  problem?: string;
  /** Per-record problems (a TXT record that is keypost's but not decodable). */
  recordProblems?: string[];
}

/** Media type of an AssertionBundle served at a well-known path. */
export const BUNDLE_MEDIA_TYPE = 'application/vnd.keypost.bundle';

/** Records from one DNS answer or one bundle that are looked at; the rest are dropped. */
export const MAX_RECORDS_PER_SOURCE = 16;

function describe(e: unknown): string {
  if (e instanceof KeypostError) return e.message;
  if (e && typeof e === 'object') {
    const o = e as { name?: string; code?: string; message?: string; cause?: unknown };
    if (o.name === 'TimeoutError' || o.name === 'AbortError') return 'timed out';
    const cause = o.cause && typeof o.cause === 'object' ? (o.cause as { code?: string; message?: string }) : undefined;
    const detail = cause?.code ?? cause?.message;
    return [o.code ?? o.message ?? String(e), detail].filter(Boolean).join(': ');
  }
  return String(e);
}

/**
 * Race `work` against a deadline. On timeout `onTimeout` runs (to abort the I/O) and the
 * result is a rejection with a TimeoutError, whatever the I/O does afterwards.
 */
async function withDeadline<T>(work: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error('timed out');
      err.name = 'TimeoutError';
      ctl.abort(err);
      reject(err);
    }, ms);
  });
  try {
    const p = work(ctl.signal);
    p.catch(() => {}); // a late rejection after the deadline is not unhandled
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Read a response body, giving up (null) as soon as it passes `max` bytes. */
async function readCapped(res: Response, max: number): Promise<Uint8Array | null> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    parts.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface HttpOptions {
  fetch: typeof fetch;
  timeoutMs: number;
  maxBytes: number;
}

/**
 * GET an AssertionBundle. Redirects are refused (a well-known path answers in place; a
 * redirect could downgrade to plain HTTP); anything but 200 is a failed source.
 */
export async function fetchBundle(url: string, o: HttpOptions): Promise<SourceResult> {
  const source = url;
  try {
    return await withDeadline(async (signal) => {
      const res = await o.fetch(url, { signal, redirect: 'error', headers: { accept: BUNDLE_MEDIA_TYPE } });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {});
        return { source, assertions: [], problem: `HTTP ${res.status}` };
      }
      const declared = res.headers.get('content-length');
      if (declared !== null && Number(declared) > o.maxBytes) {
        await res.body?.cancel().catch(() => {});
        return { source, assertions: [], problem: `body of ${declared} bytes exceeds ${o.maxBytes}` };
      }
      const body = await readCapped(res, o.maxBytes);
      if (body === null) return { source, assertions: [], problem: `body exceeds ${o.maxBytes} bytes` };
      let assertions: Uint8Array[];
      try {
        assertions = decodeBundle(body);
      } catch (e) {
        return { source, assertions: [], problem: `not an assertion bundle: ${describe(e)}` };
      }
      return { source, assertions: assertions.slice(0, MAX_RECORDS_PER_SOURCE) };
    }, o.timeoutMs);
  } catch (e) {
    return { source, assertions: [], problem: describe(e) };
  }
}

export interface DnsOptions {
  /** 'ip', 'ip:port' or '[ipv6]:port'; the system's resolvers when absent. */
  servers?: readonly string[];
  timeoutMs: number;
}

/** Check a server list once, up front: node:dns throws on a malformed entry. */
export function checkDnsServers(servers: readonly string[]): void {
  try {
    new DnsResolver().setServers([...servers]);
  } catch (e) {
    throw new KeypostError('INVALID_ARGUMENT', `dnsServers: ${describe(e)}`);
  }
}

const NO_RECORDS = new Set(['ENOTFOUND', 'ENODATA']);

/** TXT records at `owner`; keypost's are those starting `kp1:` (§8.1), others are skipped. */
export async function lookupTxt(owner: string, o: DnsOptions): Promise<SourceResult> {
  const source = `dns:${owner}`;
  // c-ares retries with a doubling timeout; the deadline below bounds the whole lookup.
  const r = new DnsResolver({ timeout: Math.max(1, Math.floor(o.timeoutMs / 3)), tries: 2 });
  if (o.servers) r.setServers([...o.servers]);
  let records: string[][];
  try {
    records = await withDeadline((signal) => {
      signal.addEventListener('abort', () => r.cancel(), { once: true });
      return r.resolveTxt(owner);
    }, o.timeoutMs);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code && NO_RECORDS.has(code)) return { source, assertions: [], problem: `no TXT records (${code})` };
    return { source, assertions: [], problem: describe(e) };
  }
  const assertions: Uint8Array[] = [];
  const recordProblems: string[] = [];
  for (const strings of records) {
    if (assertions.length >= MAX_RECORDS_PER_SOURCE) break;
    try {
      const a = txtToAssertion(strings);
      if (a) assertions.push(a);
    } catch (e) {
      recordProblems.push(`${source}: ${describe(e)}`);
    }
  }
  const out: SourceResult = { source, assertions };
  if (recordProblems.length) out.recordProblems = recordProblems;
  if (assertions.length === 0) out.problem = recordProblems.length ? 'no decodable keypost TXT record' : 'no keypost TXT record';
  return out;
}
