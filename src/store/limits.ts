/**
 * Token buckets in memory, one per key. Rate limits protect this process, so they need
 * not survive a restart; entries that refilled completely are forgotten.
 */
import { KeypostError } from '../errors.js';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  #buckets = new Map<string, Bucket>();
  /** `capacity` events per `period` seconds, refilled continuously. */
  constructor(
    readonly capacity: number,
    readonly period: number,
  ) {}

  /** Take `n` tokens or throw RATE_LIMITED with the seconds until they would be there. */
  take(key: string, now: number, n = 1, what = 'requests'): void {
    const rate = this.capacity / this.period;
    const b = this.#buckets.get(key) ?? { tokens: this.capacity, at: now };
    b.tokens = Math.min(this.capacity, b.tokens + (now - b.at) * rate);
    b.at = now;
    if (b.tokens < n) {
      this.#buckets.set(key, b);
      const wait = Math.ceil((n - b.tokens) / rate);
      throw Object.assign(new KeypostError('RATE_LIMITED', `too many ${what}; retry in ${wait} s`), { retryAfter: wait });
    }
    b.tokens -= n;
    this.#buckets.set(key, b);
    if (this.#buckets.size > 100_000) this.#sweep(now, rate);
  }

  /** Give back `n` tokens taken for something that then did not happen. */
  refund(key: string, n: number): void {
    const b = this.#buckets.get(key);
    if (b) b.tokens = Math.min(this.capacity, b.tokens + n);
  }

  #sweep(now: number, rate: number) {
    for (const [k, b] of this.#buckets) if (b.tokens + (now - b.at) * rate >= this.capacity) this.#buckets.delete(k);
  }
}

/** Distinct values per key in a sliding day, e.g. distinct recipients per user. */
export class DistinctCounter {
  #seen = new Map<string, Map<string, number>>();
  constructor(
    readonly limit: number,
    readonly period: number,
  ) {}

  /**
   * Count the new values among `values`; throw RATE_LIMITED if they would pass the limit.
   * Returns an undo that forgets the values this call added (for an upload then refused).
   */
  add(key: string, values: string[], now: number): () => void {
    let m = this.#seen.get(key);
    if (!m) this.#seen.set(key, (m = new Map()));
    for (const [v, t] of m) if (t <= now - this.period) m.delete(v);
    const fresh = values.filter((v) => !m!.has(v));
    if (m.size + new Set(fresh).size > this.limit) {
      throw new KeypostError('RATE_LIMITED', `more than ${this.limit} distinct recipients in ${this.period} s`);
    }
    for (const v of values) m.set(v, now);
    return () => {
      for (const v of fresh) m!.delete(v);
    };
  }
}
