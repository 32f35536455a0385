/**
 * The discovery resolver (DESIGN part 2, spec §7.3 and §8): gathers assertions about an
 * address (or behind a legacy name) over HTTPS and DNS, verifies each on its own, keeps
 * per type the valid one with the highest sequence number, refuses rollback across
 * calls, and caches the result until the earliest expiry it relies on.
 *
 * Neither transport is trusted. A source only decides whether bytes arrive; a source that
 * fails, lies or answers garbage costs at most that source, and one working source is
 * enough. Everything returned has passed verifyAssertion for the address asked about.
 */
import { KeypostError } from '../errors.js';
import { equal, toHex } from '../bytes/index.js';
import { addressToText } from '../identity/index.js';
import {
  addressOwnerName,
  addressPath,
  checkStoreUrl,
  DEFAULT_SKEW,
  nameOwnerName,
  namePath,
  parseLegacyName,
  PURPOSE,
  verifyAssertion,
  type AssertionContent,
  type AssertionTypeName,
  type VerifiedAssertion,
} from '../protocol/index.js';
import { LIMITS } from '../wire/index.js';
import { peekAssertion } from './publish.js';
import { checkDnsServers, fetchBundle, lookupTxt, type SourceResult } from './transport.js';

/** A verified assertion whose content is known to be of type T. */
export type VerifiedOf<T extends AssertionTypeName> = VerifiedAssertion & { content: Extract<AssertionContent, { type: T }> };

export interface Resolved {
  address: Uint8Array;
  stores?: VerifiedOf<'stores'>;
  keys?: VerifiedOf<'keys'>;
  name?: VerifiedOf<'name'>;
  policy?: VerifiedOf<'policy'>;
  /** Unix seconds: the earliest notAfter among the kept assertions, capped at now + maxTtl. */
  expires: number;
  /** What was ignored on the way (failed sources, invalid assertions), for diagnostics only. */
  problems: string[];
}

/** A Resolved that came from a legacy name: it always carries the name assertion. */
export type NameResolved = Resolved & { name: VerifiedOf<'name'> };

type MaybePromise<T> = T | Promise<T>;

/**
 * Highest sequence number seen per (address, type), from fully verified assertions only
 * (spec §7.3 step 9). The default keeps it in memory; a store can persist it.
 */
export interface SeqStore {
  get(addrHex: string, type: AssertionTypeName): MaybePromise<number | undefined>;
  set(addrHex: string, type: AssertionTypeName, seq: number): MaybePromise<void>;
}

export class MemorySeqStore implements SeqStore {
  readonly #seen = new Map<string, number>();
  get(addrHex: string, type: AssertionTypeName): number | undefined {
    return this.#seen.get(`${addrHex}/${type}`);
  }
  set(addrHex: string, type: AssertionTypeName, seq: number): void {
    this.#seen.set(`${addrHex}/${type}`, seq);
  }
}

export interface ResolverOptions {
  /** DNS servers as 'ip', 'ip:port' or '[ipv6]:port'; the system's resolvers when absent. */
  dnsServers?: string[];
  /** HTTP client; the global fetch when absent. */
  fetch?: typeof fetch;
  /** Unix time in seconds. */
  now: () => number;
  /** Clock-skew allowance in seconds (default DEFAULT_SKEW). */
  skew?: number;
  /** Deadline for each source (one HTTP request, one DNS lookup), in ms. Default 5000. */
  timeoutMs?: number;
  /** Largest HTTP body read; a larger one fails that source. Default: the largest bundle. */
  maxBytes?: number;
  /** Longest time a result is cached, in seconds. Default 3600. */
  maxTtl?: number;
  /** Cached results kept at most. Default 10 000. */
  maxEntries?: number;
  seqStore?: SeqStore;
  /** Revoked identity keys (spec §6.4): their assertions are refused. */
  isRevoked?: (key: Uint8Array) => boolean;
}

export interface AddressWhere {
  /** A store origin (https, or http on loopback) serving `/.well-known/keypost/<address>`. */
  store?: string;
  /** A DNS zone holding `<address>._keypost.<zone>`. */
  zone?: string;
}

export interface NameWhere {
  /**
   * Origin serving `/.well-known/keypost/name/<hash>`: by default `https://<domain>` of the
   * name; another origin for tests or local use; null for DNS only.
   */
  base?: string | null;
  /** Look up `<hash>._keypost.<domain>` in DNS (default true). */
  dns?: boolean;
}

/** The largest AssertionBundle (schema.AssertionBundle's limit). */
export const MAX_BUNDLE_BYTES = 8 * (LIMITS.ASSERTION + 3) + 8;
export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_TTL = 3600;

const TYPES: AssertionTypeName[] = ['stores', 'keys', 'name', 'policy'];
const ZONE = /^(?=.{1,180}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?$/;
const MAX_REPORTED = 8;

interface Entry {
  value: Resolved;
  addrHex: string;
}

type Kept = Map<AssertionTypeName, VerifiedAssertion>;

function summary(problems: string[]): string {
  if (problems.length === 0) return 'no source answered';
  const shown = problems.slice(0, MAX_REPORTED).join('; ');
  return problems.length > MAX_REPORTED ? `${shown}; and ${problems.length - MAX_REPORTED} more` : shown;
}

const bytesKey = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

export class Resolver {
  readonly #dnsServers: string[] | undefined;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #skew: number;
  readonly #timeoutMs: number;
  readonly #maxBytes: number;
  readonly #maxTtl: number;
  readonly #maxEntries: number;
  readonly #seq: SeqStore;
  readonly #isRevoked: ((key: Uint8Array) => boolean) | undefined;
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Resolved>>();

  constructor(o: ResolverOptions) {
    if (typeof o.now !== 'function') throw new KeypostError('INVALID_ARGUMENT', 'now() is required');
    const positive = (v: number | undefined, what: string, dflt: number) => {
      const x = v ?? dflt;
      if (!Number.isSafeInteger(x) || x < 0) throw new KeypostError('INVALID_ARGUMENT', `${what} must be a non-negative integer`);
      return x;
    };
    if (o.dnsServers) checkDnsServers(o.dnsServers);
    this.#dnsServers = o.dnsServers ? [...o.dnsServers] : undefined;
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init));
    this.#now = o.now;
    this.#skew = positive(o.skew, 'skew', DEFAULT_SKEW);
    this.#timeoutMs = Math.max(1, positive(o.timeoutMs, 'timeoutMs', DEFAULT_TIMEOUT_MS));
    this.#maxBytes = positive(o.maxBytes, 'maxBytes', MAX_BUNDLE_BYTES);
    this.#maxTtl = positive(o.maxTtl, 'maxTtl', DEFAULT_MAX_TTL);
    this.#maxEntries = Math.max(1, positive(o.maxEntries, 'maxEntries', 10_000));
    this.#seq = o.seqStore ?? new MemorySeqStore();
    this.#isRevoked = o.isRevoked;
  }

  /** The verified assertions about `address`, from its store's well-known path and/or DNS. */
  async resolve(address: Uint8Array, where: AddressWhere): Promise<Resolved> {
    // The key is built from the raw arguments, so a hit (a store's every notification asks)
    // costs one Map lookup; an entry exists only under arguments that passed the checks below.
    const key = address instanceof Uint8Array ? `a|${toHex(address)}|${where.store ?? ''}|${where.zone ?? ''}` : '';
    return this.#cached(key, async () => {
      const addrText = addressToText(address); // INVALID_ARGUMENT unless 32 bytes
      if (!where.store && !where.zone) throw new KeypostError('INVALID_ARGUMENT', 'resolve needs a store origin, a DNS zone or both');
      if (where.store) {
        try {
          checkStoreUrl(where.store);
        } catch (e) {
          throw new KeypostError('INVALID_ARGUMENT', (e as Error).message, { cause: e });
        }
      }
      const zone = where.zone?.replace(/\.$/, '').toLowerCase();
      if (zone !== undefined && !ZONE.test(zone)) throw new KeypostError('INVALID_ARGUMENT', `not a DNS zone: ${JSON.stringify(where.zone?.slice(0, 80))}`);
      const jobs: Promise<SourceResult>[] = [];
      if (where.store) jobs.push(this.#http(where.store + addressPath(address)));
      if (zone) jobs.push(this.#dns(addressOwnerName(address, zone)));
      const { kept, problems, now } = await this.#gather(jobs, address);
      const mine = kept.get(toHex(address));
      if (!mine) throw new KeypostError('DISCOVERY_FAILED', `no valid assertion about ${addrText}: ${summary(problems)}`);
      return this.#finish(address, mine, problems, now);
    });
  }

  /**
   * The address behind a legacy name `local@domain`, from the domain's DNS
   * (`<hash>._keypost.<domain>`) and/or its well-known name path, with the two-way check
   * of spec §8.3: the result is the one address whose own verified (highest-seq) *name*
   * assertion claims exactly `name`; the domain vouched for it by publishing it there.
   */
  async resolveName(name: string, where: NameWhere = {}): Promise<NameResolved> {
    const { domain } = parseLegacyName(name);
    const base = where.base === undefined ? `https://${domain}` : where.base;
    if (base !== null) {
      try {
        checkStoreUrl(base);
      } catch (e) {
        throw new KeypostError('INVALID_ARGUMENT', `name base: ${(e as Error).message}`, { cause: e });
      }
    }
    const dns = where.dns ?? true;
    if (base === null && !dns) throw new KeypostError('INVALID_ARGUMENT', 'resolveName needs DNS, HTTP or both');
    const key = `n|${name}|${base ?? ''}|${dns}`;
    return this.#cached(key, async () => {
      const jobs: Promise<SourceResult>[] = [];
      if (base !== null) jobs.push(this.#http(base + namePath(name)));
      if (dns) jobs.push(this.#dns(nameOwnerName(name)));
      const { kept, problems, now } = await this.#gather(jobs);
      const claimants = [...kept.values()].filter((k) => {
        const n = k.get('name');
        return n?.content.type === 'name' && n.content.name === name;
      });
      if (claimants.length === 0) {
        const others = kept.size ? `${kept.size} valid key(s) published there claim other names or none; ` : '';
        throw new KeypostError('DISCOVERY_FAILED', `no key claims ${name}: ${others}${summary(problems)}`);
      }
      if (claimants.length > 1) throw new KeypostError('DISCOVERY_FAILED', `${claimants.length} different keys claim ${name}`);
      const mine = claimants[0]!;
      return this.#finish(mine.get('name')!.address, mine, problems, now);
    }) as Promise<NameResolved>;
  }

  /**
   * The other direction of §8.3: the name an address resolved by address may be shown
   * with, or undefined. It is the name its *name* assertion claims, only if looking that
   * name up in its domain leads back to the same address.
   */
  async verifiedName(resolved: Resolved, where: NameWhere = {}): Promise<string | undefined> {
    const claimed = resolved.name?.content.type === 'name' ? resolved.name.content.name : undefined;
    if (claimed === undefined) return undefined;
    try {
      const back = await this.resolveName(claimed, where);
      return equal(back.address, resolved.address) ? claimed : undefined;
    } catch (e) {
      if (e instanceof KeypostError && e.code === 'DISCOVERY_FAILED') return undefined;
      throw e;
    }
  }

  /** Forget cached results for `address` (after a delivery failure, say). Seqs are kept. */
  invalidate(address: Uint8Array): void {
    const hex = toHex(address);
    for (const [k, e] of this.#cache) if (e.addrHex === hex) this.#cache.delete(k);
  }

  /** Forget every cached result. Seqs are kept. */
  clear(): void {
    this.#cache.clear();
  }

  #http(url: string): Promise<SourceResult> {
    return fetchBundle(url, { fetch: this.#fetch, timeoutMs: this.#timeoutMs, maxBytes: this.#maxBytes });
  }

  #dns(owner: string): Promise<SourceResult> {
    return lookupTxt(owner, { servers: this.#dnsServers, timeoutMs: this.#timeoutMs });
  }

  #cached(key: string, work: () => Promise<Resolved>): Promise<Resolved> {
    const hit = this.#cache.get(key);
    if (hit) {
      if (this.#now() < hit.value.expires) return Promise.resolve(hit.value);
      this.#cache.delete(key);
    }
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = work()
      .then((value) => {
        if (this.#now() < value.expires) {
          while (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
          this.#cache.set(key, { value, addrHex: toHex(value.address) });
        }
        return value;
      })
      .finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  /**
   * Run the sources, then verify every distinct assertion they returned. `expected` pins
   * the subject; without it (name lookups) each assertion is verified about its own
   * subject and the caller decides which subject it wants.
   */
  async #gather(jobs: Promise<SourceResult>[], expected?: Uint8Array): Promise<{ kept: Map<string, Kept>; problems: string[]; now: number }> {
    const results = await Promise.all(jobs);
    const now = this.#now();
    const problems: string[] = [];
    const seen = new Set<string>();
    const candidates: { bytes: Uint8Array; from: string }[] = [];
    for (const r of results) {
      if (r.problem) problems.push(`${r.source}: ${r.problem}`);
      if (r.recordProblems) problems.push(...r.recordProblems);
      for (const bytes of r.assertions) {
        const k = bytesKey(bytes);
        if (seen.has(k)) continue;
        seen.add(k);
        candidates.push({ bytes, from: r.source });
      }
    }
    const kept = new Map<string, Kept>();
    for (const { bytes, from } of candidates) {
      let v: VerifiedAssertion;
      try {
        const h = peekAssertion(bytes);
        const address = expected ?? h.address;
        const highestSeq = h.type && equal(h.address, address) ? await this.#seq.get(toHex(address), h.type) : undefined;
        v = verifyAssertion(bytes, { now, skew: this.#skew, address, highestSeq, isRevoked: this.#isRevoked });
      } catch (e) {
        problems.push(`${from}: ${e instanceof KeypostError ? e.message : `INTERNAL: ${String(e)}`}`);
        continue;
      }
      const hex = toHex(v.address);
      let mine = kept.get(hex);
      if (!mine) kept.set(hex, (mine = new Map()));
      const prev = mine.get(v.content.type);
      if (!prev || v.seq > prev.seq || (v.seq === prev.seq && v.notAfter > prev.notAfter)) mine.set(v.content.type, v);
    }
    return { kept, problems, now };
  }

  /** Record the kept seqs (only now that they passed every check) and build the result. */
  async #finish(address: Uint8Array, mine: Kept, problems: string[], now: number): Promise<Resolved> {
    const hex = toHex(address);
    const out: Resolved = { address, expires: now + this.#maxTtl, problems };
    for (const type of TYPES) {
      const v = mine.get(type);
      if (!v) continue;
      const before = await this.#seq.get(hex, type);
      if (before === undefined || v.seq > before) await this.#seq.set(hex, type, v.seq);
      (out as unknown as Record<string, VerifiedAssertion>)[type] = v;
      out.expires = Math.min(out.expires, v.notAfter);
    }
    return out;
  }
}

/** The stores serving a resolved address, lowest priority value first (as MX). */
export function stores(resolved: Resolved): { priority: number; url: string }[] {
  const s = resolved.stores?.content;
  if (s?.type !== 'stores') return [];
  return s.stores.map((e, i) => ({ e, i })).sort((a, b) => a.e.priority - b.e.priority || a.i - b.i).map(({ e }) => ({ priority: e.priority, url: e.url }));
}

/**
 * The X25519 key to encrypt to: among the *keys* entries of purpose 2 that have not
 * expired at `now`, the one that lasts longest (the newest after a rotation).
 */
export function encryptionKey(resolved: Resolved, now: number): Uint8Array {
  const k = resolved.keys?.content;
  const usable = k?.type === 'keys' ? k.keys.filter((e) => e.purpose === PURPOSE.encryption && e.notAfter >= now) : [];
  if (usable.length === 0) throw new KeypostError('DISCOVERY_FAILED', `no current encryption key for ${addressToText(resolved.address)}`);
  return usable.reduce((best, e) => (e.notAfter > best.notAfter ? e : best)).key;
}

/** Device signing keys (purpose 1) of a resolved address that have not expired at `now`. */
export function deviceKeys(resolved: Resolved, now: number): Uint8Array[] {
  const k = resolved.keys?.content;
  return k?.type === 'keys' ? k.keys.filter((e) => e.purpose === PURPOSE.device && e.notAfter >= now).map((e) => e.key) : [];
}
