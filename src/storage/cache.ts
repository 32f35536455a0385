import { mapKey } from '../bytes/index.js';

/**
 * Read caches in front of the database for what every arriving notification asks (is the
 * recipient a user here, do they block or know this sender). They can be exact because the
 * store's Storage is the only writer of its database: each write that changes an answer
 * drops the cached entry inside the same synchronous step, so no read sees a stale one.
 */

/** A bounded map: the oldest entry goes first when full (insertion order). */
export class Bounded<V> {
  readonly #m = new Map<string, V>();
  constructor(readonly max: number) {}
  get(k: string): V | undefined {
    return this.#m.get(k);
  }
  has(k: string): boolean {
    return this.#m.has(k);
  }
  set(k: string, v: V): V {
    if (this.#m.size >= this.max && !this.#m.has(k)) this.#m.delete(this.#m.keys().next().value!);
    this.#m.set(k, v);
    return v;
  }
  delete(k: string): void {
    this.#m.delete(k);
  }
}

/**
 * Per-user sets (block lists, contacts), loaded whole on first use. A user with more than
 * `maxPerUser` entries is not cached (`undefined`: ask the database), so memory stays bounded
 * at users × maxPerUser entries whatever a user stores.
 */
export class UserSets {
  readonly #sets: Bounded<Set<string> | 'large'>;
  constructor(
    users: number,
    readonly maxPerUser: number,
  ) {
    this.#sets = new Bounded(users);
  }

  /** The user's set, loading it with `load` (which returns up to `maxPerUser + 1` keys). */
  of(user: Uint8Array, load: (limit: number) => string[]): Set<string> | undefined {
    const k = mapKey(user);
    let s = this.#sets.get(k);
    if (s === undefined) {
      const keys = load(this.maxPerUser + 1);
      s = this.#sets.set(k, keys.length > this.maxPerUser ? 'large' : new Set(keys));
    }
    return s === 'large' ? undefined : s;
  }

  forget(user: Uint8Array): void {
    this.#sets.delete(mapKey(user));
  }
}
