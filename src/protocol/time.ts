/** Validity windows. `now` is always a parameter: protocol functions never read the clock. */
import { KeypostError } from '../errors.js';

/** Clocks disagree; five minutes is what Kerberos and most TLS stacks allow. */
export const DEFAULT_SKEW = 300;

export interface Clock {
  /** Unix time in seconds. */
  now: number;
  /** Allowed clock difference in seconds (default DEFAULT_SKEW). */
  skew?: number;
}

export function checkWindow(notBefore: number, notAfter: number, clock: Clock, what: string): void {
  if (!Number.isSafeInteger(clock.now)) throw new KeypostError('INVALID_ARGUMENT', 'now must be integer seconds');
  const skew = clock.skew ?? DEFAULT_SKEW;
  if (notAfter < notBefore) throw new KeypostError('WIRE_BAD_TYPE', `${what}: expiry precedes start`);
  if (clock.now + skew < notBefore) throw new KeypostError('NOT_YET_VALID', `${what} valid from ${notBefore}, now ${clock.now}`);
  if (clock.now - skew > notAfter) throw new KeypostError('EXPIRED', `${what} expired at ${notAfter}, now ${clock.now}`);
}
